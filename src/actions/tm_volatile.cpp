// Transfer actions that make disks out of nothing:
//   context FILE[:'name']... host:<sysds>/<vmid>/disk.N VMID DSID   the context ISO (label CONTEXT)
//   mkimage SIZE_MB FORMAT host:<sysds>/<vmid>/disk.N VMID DSID     a volatile disk
//   mkswap  SIZE_MB host:<sysds>/<vmid>/disk.N VMID DSID            a swap disk
// They print nothing; the exit code is the result.
#include "onestor/registry.hpp"

namespace onestor::actions::tm_volatile {
namespace {

const std::vector<ArgSpec> kContext = {
    {"files", ArgKind::Files}, {"dst", ArgKind::HostPath, Confine::VmDiskSys}, {"vmid", ArgKind::VmId}, {"dsid", ArgKind::DsId}};
const std::vector<ArgSpec> kMkimage = {{"size", ArgKind::SizeMb},
                                       {"format", ArgKind::Format},
                                       {"dst", ArgKind::HostPath, Confine::VmDiskSys},
                                       {"vmid", ArgKind::VmId},
                                       {"dsid", ArgKind::DsId}};
const std::vector<ArgSpec> kMkswap = {
    {"size", ArgKind::SizeMb}, {"dst", ArgKind::HostPath, Confine::VmDiskSys}, {"vmid", ArgKind::VmId}, {"dsid", ArgKind::DsId}};

void context(Call& c) { c.op<sig::Context>()(c.tm_context(), c.args.files(), c.args.path("dst")); }
void mkimage(Call& c) { c.op<sig::Mkimage>()(c.tm_context(), c.args.num("size"), c.args.word("format"), c.args.path("dst")); }
void mkswap(Call& c) { c.op<sig::Mkswap>()(c.tm_context(), c.args.num("size"), c.args.path("dst")); }

const Register r_context{{Kind::Tm, "context", kContext, "build the context ISO from the files and place it as a disk", context}};
const Register r_mkimage{{Kind::Tm, "mkimage", kMkimage, "create a volatile disk (raw, qcow2, swap, or a filesystem)", mkimage}};
const Register r_mkswap{{Kind::Tm, "mkswap", kMkswap, "create a swap disk", mkswap}};

}  // namespace
}  // namespace onestor::actions::tm_volatile
