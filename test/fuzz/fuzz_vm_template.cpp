// The VM template (`onevm show -x`) and datastore document (`onedatastore show -x`) readers:
// a cloud user writes most of a VM template's fields. Only DriverError may escape.
#include "onestor/error.hpp"
#include "onestor/xml.hpp"

#include <cstdint>
#include <string>

using namespace onestor;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string in(reinterpret_cast<const char*>(data), size);
    try {
        VmInfo vm = VmInfo::from_xml(in);
        for (const auto& d : vm.disks) {
            (void)vm.disk(d.disk_id);
            (void)d.get("SOURCE");
            try {
                (void)d.size_mb("SIZE");
            } catch (const DriverError&) {}
        }
        try {
            (void)vm.require_disk(0);
        } catch (const DriverError&) {}
    } catch (const DriverError&) {}
    try {
        (void)Datastore::from_xml(in).attr("TM_MAD");
    } catch (const DriverError&) {}
    return 0;
}
