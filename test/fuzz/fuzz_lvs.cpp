// `lvs` and `vgs` output as src/core/lvm.cpp reads it (run on a host: what a broken or
// different LVM prints must be an error, never a crash). Only DriverError may escape.
#include "onestor/error.hpp"
#include "onestor/lvm.hpp"

#include <cstdint>
#include <string>

using namespace onestor;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string in(reinterpret_cast<const char*>(data), size);
    try {
        (void)lvm::parse_lvs(in, "vg-one-0");
    } catch (const DriverError&) {}
    try {
        (void)lvm::parse_vgs(in, "vg-one-0");
    } catch (const DriverError&) {}
    (void)lvm::parse_disk_device(in);
    return 0;
}
