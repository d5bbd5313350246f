// Datastore image actions. oned runs them on the front-end as
//   <remotes>/datastore/<ds_mad>/<action> DUMP ID     (5.x ... 6.6)
//   <remotes>/datastore/<ds_mad>/<action> ID < DUMP   (6.8+)
// DUMP: base64 <DS_DRIVER_ACTION_DATA> (IMAGE + DATASTORE). ID: the image id (a request
// id for stat, the datastore id for monitor). What each prints on stdout is below.
#include "onestor/protocol.hpp"
#include "onestor/registry.hpp"

#include <string>

namespace onestor::actions::ds_image {
namespace {

const std::vector<ArgSpec> kDump = {{"dump", ArgKind::DsDump}};

std::string source_line(const DsResult& r) { return protocol::source_line(r.source, r.format, protocol::profile()); }

void cp(Call& c) { c.out = source_line(c.op<sig::Image>()(c.args.dump(), c.args.id())); }
void mkfs(Call& c) {
    c.out = protocol::source_line(c.op<sig::Image>()(c.args.dump(), c.args.id()).source, "", protocol::profile());
}
void rm(Call& c) { c.op<sig::ImageVoid>()(c.args.dump(), c.args.id()); }
void stat(Call& c) { c.out = protocol::number_line(c.op<sig::Stat>()(c.args.dump())); }
void clone(Call& c) { c.out = source_line(c.op<sig::Image>()(c.args.dump(), c.args.id())); }

void monitor(Call& c) { c.out = protocol::monitor_lines(c.op<sig::Monitor>()(c.args.dump()), protocol::profile().monitor_vms); }

const Register r_cp{{Kind::Ds, "cp", kDump, "copy IMAGE/PATH into the datastore; prints SOURCE", cp}};
const Register r_mkfs{{Kind::Ds, "mkfs", kDump, "create an empty image (raw, qcow2, swap or a filesystem); prints SOURCE", mkfs}};
const Register r_rm{{Kind::Ds, "rm", kDump, "remove IMAGE/SOURCE (and its snapshots) from the datastore", rm}};
const Register r_stat{{Kind::Ds, "stat", kDump, "print the size of IMAGE/PATH in MiB, rounded up", stat}};
const Register r_clone{{Kind::Ds, "clone", kDump, "copy the image at IMAGE/PATH to a new SOURCE; prints SOURCE", clone}};
void export_image(Call& c) {
    ExportInfo e = c.op<sig::Export>()(c.args.dump());
    c.out = protocol::import_info(e.source, e.md5, e.size_mb, e.format);
}

const Register r_export{
    {Kind::Ds, "export", kDump, "print IMPORT_INFO (source, MD5, size, format) for a marketplace", export_image}};
const Register r_monitor{{Kind::Ds, "monitor", kDump, "print USED_MB, TOTAL_MB and FREE_MB of the datastore", monitor}};

}  // namespace
}  // namespace onestor::actions::ds_image
