// The reader of oned's documents: `onevm show -x` and `onedatastore show -x` (the VM a TM action works for, read on
// demand and at most once per action, as upstream's drivers do). The XML model it fills,
// with the named LCM states, is core's (xml.hpp).
#include "onestor/backend.hpp"
#include "onestor/config.hpp"
#include "onestor/error.hpp"
#include "onestor/exec.hpp"

namespace onestor {

const VmInfo& TmContext::vm() const {
    if (!vm_) {
        if (vmid < 0) throw DriverError("internal error: no VM id for this action");
        Argv a = config().get_words("ONEVM");
        a.insert(a.end(), {"show", "-x", std::to_string(vmid)});
        Result r = run(a, {.timeout_s = 60, .what = "cannot read VM " + std::to_string(vmid), .asks = true});
        vm_ = VmInfo::from_xml(r.out);
    }
    return *vm_;
}

Datastore TmContext::datastore(long id) const {
    Argv a = config().get_words("ONEDATASTORE");
    a.insert(a.end(), {"show", "-x", std::to_string(id)});
    Result r = run(a, {.timeout_s = 60, .what = "cannot read datastore " + std::to_string(id), .asks = true});
    return Datastore::from_xml(r.out);
}

}  // namespace onestor
