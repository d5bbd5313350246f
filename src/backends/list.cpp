// The backends, listed once. Actions register themselves; backends do not, so this file
// is the whole list of drivers onestor offers.
#include "onestor/registry.hpp"

namespace onestor {
namespace backends {
DsBackend& fs_backend();
DsBackend& ceph_ds_backend();
TmBackend& ceph_tm_backend();
TmBackend& shared_backend();
TmBackend& ssh_backend();
TmBackend& qcow2_backend();
TmBackend& fs_lvm_backend();
}  // namespace backends

const std::vector<DsBackend*>& ds_backends() {
    static const std::vector<DsBackend*> all = {&backends::fs_backend(), &backends::ceph_ds_backend()};
    return all;
}

const std::vector<TmBackend*>& tm_backends() {
    static const std::vector<TmBackend*> all = {&backends::shared_backend(), &backends::ssh_backend(), &backends::qcow2_backend(),
                                                  &backends::fs_lvm_backend(), &backends::ceph_tm_backend()};
    return all;
}

}  // namespace onestor
