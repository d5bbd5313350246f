// monitor of a system datastore, called through the DS driver with a DS dump:
//   <remotes>/tm/<tm_mad>/monitor DUMP ID  (ID: the datastore id; 6.8+: ID with DUMP on stdin)
// Prints USED_MB=, TOTAL_MB=, FREE_MB= lines, then one VM=[...] line per VM when the dump
// asks for disk usage (MONITOR_VM_DISKS=1).
#include "onestor/registry.hpp"

namespace onestor::actions::tm_monitor {
namespace {

void monitor(Call& c) {
    MonitorResult m = c.tm().monitor(c.args.dump());
    c.out = "USED_MB=" + std::to_string(m.used_mb) + "\nTOTAL_MB=" + std::to_string(m.total_mb) +
            "\nFREE_MB=" + std::to_string(m.free_mb) + "\n";
    for (const auto& l : m.vm_lines) c.out += l + "\n";
}

const Register r_monitor{{Kind::Tm, "monitor", {{"dump", ArgKind::DsDump}}, "report a system datastore's usage", monitor}};

}  // namespace
}  // namespace onestor::actions::tm_monitor
