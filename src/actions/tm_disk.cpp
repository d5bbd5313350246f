// Transfer actions that place, move and remove VM disks. oned runs them on the front-end:
//   clone  fe:SOURCE host:<sysds>/<vmid>/disk.N VMID DSID   non-persistent image -> VM disk
//   ln     fe:SOURCE host:<sysds>/<vmid>/disk.N VMID DSID   persistent image -> VM disk
//   mvds   host:<sysds>/<vmid>/disk.N [fe:]SOURCE VMID DSID persistent disk back to its image
//   cpds   host:<sysds>/<vmid>/disk.N [fe:]SOURCE SNAP VMID DSID   save-as (SNAP -1: current)
//   mv     hostA:<path> hostB:<path> VMID DSID              a disk or the whole VM directory
//   delete host:<path> VMID DSID                            a disk or the whole VM directory
//   resize host:<sysds>/<vmid>/disk.N SIZE_MB VMID DSID     grow a disk (offline; 5.4+)
// They print nothing; the exit code is the result.
#include "onestor/registry.hpp"

namespace onestor::actions::tm_disk {
namespace {

// DSID is the image's datastore for disk actions, the (new) system datastore for the VM
// directory (see Confine).
const std::vector<ArgSpec> kToVm = {{"src", ArgKind::HostPath, Confine::Image},
                                    {"dst", ArgKind::HostPath, Confine::VmDisk},
                                    {"vmid", ArgKind::VmId},
                                    {"dsid", ArgKind::DsId}};
const std::vector<ArgSpec> kMv = {{"src", ArgKind::HostPath, Confine::VmDiskOrAnyDir},
                                  {"dst", ArgKind::HostPath, Confine::VmDiskOrDir},
                                  {"vmid", ArgKind::VmId},
                                  {"dsid", ArgKind::DsId}};
const std::vector<ArgSpec> kToImage = {{"src", ArgKind::HostPath, Confine::VmDisk},
                                       {"dst", ArgKind::Path, Confine::Image},
                                       {"vmid", ArgKind::VmId},
                                       {"dsid", ArgKind::DsId}};
const std::vector<ArgSpec> kCpds = {{"src", ArgKind::HostPath, Confine::VmDisk},
                                    {"dst", ArgKind::Path, Confine::Image},
                                    {"snap", ArgKind::SaveSnapId},
                                    {"vmid", ArgKind::VmId},
                                    {"dsid", ArgKind::DsId}};
const std::vector<ArgSpec> kOne = {
    {"dst", ArgKind::HostPath, Confine::VmDiskOrDir}, {"vmid", ArgKind::VmId}, {"dsid", ArgKind::DsId}};

const std::vector<ArgSpec> kResize = {
    {"disk", ArgKind::HostPath, Confine::VmDisk}, {"size", ArgKind::SizeMb}, {"vmid", ArgKind::VmId}, {"dsid", ArgKind::DsId}};

void clone(Call& c) { c.op<sig::Paths>()(c.tm_context(), c.args.path("src"), c.args.path("dst")); }
void ln(Call& c) { c.op<sig::Paths>()(c.tm_context(), c.args.path("src"), c.args.path("dst")); }
void mvds(Call& c) { c.op<sig::Paths>()(c.tm_context(), c.args.path("src"), c.args.path("dst")); }
void cpds(Call& c) { c.op<sig::Cpds>()(c.tm_context(), c.args.path("src"), c.args.path("dst"), c.args.num("snap")); }
void mv(Call& c) { c.op<sig::Paths>()(c.tm_context(), c.args.path("src"), c.args.path("dst")); }
void del(Call& c) { c.op<sig::One>()(c.tm_context(), c.args.path("dst")); }
void resize(Call& c) { c.op<sig::DiskNum>()(c.tm_context(), c.args.path("disk"), c.args.num("size")); }

const Register r_clone{{Kind::Tm, "clone", kToVm, "copy a non-persistent image to the VM's disk", clone}};
const Register r_ln{{Kind::Tm, "ln", kToVm, "give the VM its persistent image", ln}};
const Register r_mvds{{Kind::Tm, "mvds", kToImage, "return a persistent disk to its image", mvds}};
const Register r_cpds{{Kind::Tm, "cpds", kCpds, "copy a disk (or one of its snapshots) to a new image", cpds}};
const Register r_mv{{Kind::Tm, "mv", kMv, "move a disk or the VM directory between hosts", mv}};
const Register r_delete{{Kind::Tm, "delete", kOne, "remove a disk or the VM directory", del}};
const Register r_resize{{Kind::Tm, "resize", kResize, "grow a disk of a stopped VM to SIZE MiB", resize}};

}  // namespace
}  // namespace onestor::actions::tm_disk
