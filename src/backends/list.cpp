// The backends, listed once: the tables of the drivers onestor offers, in the order
// `onestor actions` shows them. Actions register themselves (src/actions/); this file hands
// the tables to the registry, so nothing in core names a backend.
#include "onestor/registry.hpp"

namespace onestor {
namespace backends {
const DsTable& fs_table();
const TmTable& shared_tm_table();  // (shared_qcow2.cpp: the shared and qcow2 drivers by release)
const TmTable& ssh_table();
const TmTable& qcow2_tm_table();
const TmTable& fs_lvm_table();
const DsTable& ceph_ds_table();
const TmTable& ceph_tm_table();
}  // namespace backends

namespace {
const RegisterBackends r_backends{{&backends::fs_table, &backends::ceph_ds_table},
                                  {&backends::shared_tm_table, &backends::ssh_table, &backends::qcow2_tm_table,
                                   &backends::fs_lvm_table, &backends::ceph_tm_table}};
}  // namespace

}  // namespace onestor
