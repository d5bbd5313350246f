// Datastore image-snapshot actions (persistent images keep their snapshots in
// SOURCE.snap/<id>). Arguments as every DS action: DUMP ID; IMAGE/TARGET_SNAPSHOT names the
// snapshot. They print nothing; the exit code is the result.
#include "onestor/registry.hpp"

namespace onestor::actions::ds_snapshot {
namespace {

const std::vector<ArgSpec> kDump = {{"dump", ArgKind::DsDump}};

void snap_delete(Call& c) { c.op<sig::ImageVoid>()(c.args.dump(), c.args.id()); }
void snap_flatten(Call& c) { c.op<sig::ImageVoid>()(c.args.dump(), c.args.id()); }
void snap_revert(Call& c) { c.op<sig::ImageVoid>()(c.args.dump(), c.args.id()); }

const Register r_delete{{Kind::Ds, "snap_delete", kDump, "delete snapshot TARGET_SNAPSHOT of the image", snap_delete}};
const Register r_flatten{
    {Kind::Ds, "snap_flatten", kDump, "make snapshot TARGET_SNAPSHOT the image, dropping all snapshots", snap_flatten}};
const Register r_revert{
    {Kind::Ds, "snap_revert", kDump, "replace the image's content with snapshot TARGET_SNAPSHOT", snap_revert}};

}  // namespace
}  // namespace onestor::actions::ds_snapshot
