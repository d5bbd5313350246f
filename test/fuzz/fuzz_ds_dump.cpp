// The DS action data: base64 text (argv or stdin) -> XML -> the typed DsDump. The input is
// taken three ways: as the dump's XML, as that XML's base64 (the form oned sends), and as
// base64 text itself (garbage, padding, whitespace). Anything but a DriverError escaping
// is a finding; so is a base64 round trip that changes the bytes.
#include "onestor/error.hpp"
#include "onestor/xml.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>

using namespace onestor;

static void use(const DsDump& d) {
    (void)d.extra("DATASTORE_LOCATION");
    (void)d.datastore.attr("BRIDGE_LIST");
    if (d.image) (void)d.img().source.size();
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string in(reinterpret_cast<const char*>(data), size);
    try {
        use(DsDump::from_xml(in));
    } catch (const DriverError&) {}
    const std::string b64 = base64_encode(in);
    try {
        if (base64_decode(b64) != in) std::abort();
    } catch (const DriverError&) {
        if (!in.empty()) std::abort();  // only empty data is refused (an empty dump)
    }
    try {
        use(DsDump::from_base64(b64));
    } catch (const DriverError&) {}
    try {
        use(DsDump::from_base64(in));
    } catch (const DriverError&) {}
    return 0;
}
