// Transfer actions on disk snapshots:
//   snap_create|snap_create_live|snap_delete|snap_revert host:<sysds>/<vmid>/disk.N SNAP VMID DSID
// Snapshot ids start at 0. They print nothing; the exit code is the result.
#include "onestor/registry.hpp"

namespace onestor::actions::tm_snapshot {
namespace {

const std::vector<ArgSpec> kSnap = {
    {"disk", ArgKind::HostPath, Confine::VmDisk}, {"snap", ArgKind::SnapId}, {"vmid", ArgKind::VmId}, {"dsid", ArgKind::DsId}};

void create(Call& c) { c.tm().snap_create(c.tm_context(), c.args.path("disk"), c.args.num("snap")); }
void create_live(Call& c) { c.tm().snap_create_live(c.tm_context(), c.args.path("disk"), c.args.num("snap")); }
void del(Call& c) { c.tm().snap_delete(c.tm_context(), c.args.path("disk"), c.args.num("snap")); }
void revert(Call& c) { c.tm().snap_revert(c.tm_context(), c.args.path("disk"), c.args.num("snap")); }

const Register r_create{{Kind::Tm, "snap_create", kSnap, "snapshot a disk of a stopped VM", create}};
const Register r_create_live{{Kind::Tm, "snap_create_live", kSnap, "snapshot a disk of a running VM", create_live}};
const Register r_delete{{Kind::Tm, "snap_delete", kSnap, "delete a disk snapshot", del}};
const Register r_revert{{Kind::Tm, "snap_revert", kSnap, "make a disk hold a snapshot's content again", revert}};

}  // namespace
}  // namespace onestor::actions::tm_snapshot
