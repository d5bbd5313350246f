// monitor_ds DS_DIR: run by the host's monitoring probe on the host itself, for a local
// (ssh) system datastore; prints the same usage lines and one VM = [ ID, MONITOR ] line
// per VM (MONITOR: base64 of DISK_SIZE=[...] SNAPSHOT_SIZE=[...]).
//
// monitor of a system datastore, called through the DS driver with a DS dump:
//   <remotes>/tm/<tm_mad>/monitor DUMP ID  (ID: the datastore id; 6.8+: ID with DUMP on stdin)
// Prints USED_MB=, TOTAL_MB=, FREE_MB= lines, then one VM=[...] line per VM when the dump
// asks for disk usage (MONITOR_VM_DISKS=1).
#include "onestor/protocol.hpp"
#include "onestor/registry.hpp"

namespace onestor::actions::tm_monitor {
namespace {

void monitor_ds(Call& c) {
    c.out = protocol::monitor_lines(c.op<sig::MonitorDs>()(c.args.path("dir").path), protocol::profile().probe_vms);
}

void monitor(Call& c) { c.out = protocol::monitor_lines(c.op<sig::Monitor>()(c.args.dump()), protocol::profile().monitor_vms); }

const Register r_monitor_ds{{Kind::Tm,
                             "monitor_ds",
                             {{"dir", ArgKind::Path, Confine::Datastore}},
                             "report a local system datastore's usage (on the host)",
                             monitor_ds}};
const Register r_monitor{{Kind::Tm, "monitor", {{"dump", ArgKind::DsDump}}, "report a system datastore's usage", monitor}};

}  // namespace
}  // namespace onestor::actions::tm_monitor
