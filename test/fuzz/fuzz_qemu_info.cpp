// `qemu-img info --output=json` (one image, or --backing-chain's list): qemu echoes names a
// guest wrote into its image header. Only DriverError may escape.
#include "onestor/error.hpp"
#include "onestor/qemu.hpp"

#include <cstdint>
#include <string>

using namespace onestor;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string in(reinterpret_cast<const char*>(data), size);
    try {
        (void)qemu::parse_info(in);
    } catch (const DriverError&) {}
    try {
        (void)qemu::parse_chain(in);
    } catch (const DriverError&) {}
    return 0;
}
