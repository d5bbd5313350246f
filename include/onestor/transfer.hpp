// Moving a file or a directory tree from one host to another (either may be the front-end)
// without ever leaving a partial copy under the final name: `onestor send` on the source
// piped into `onestor receive` on the destination (sparse, checksummed, temp + fsync +
// rename; see stream.hpp), or -- where a host lacks onestor -- `tar -S` into a temporary
// directory beside the target, renamed when complete. Host to host, the source host streams
// straight to the destination with its own ssh (HOST_TO_HOST=direct, the hosts need each
// other's keys as OpenNebula's KVM set-up gives them; never agent forwarding), or through
// the front-end (HOST_TO_HOST=relay).
#pragma once
#include "onestor/host.hpp"

#include <string>
#include <vector>

namespace onestor::transfer {

// Hidden temporary copies of dst (".<name>.onestor-tmp.*" beside it) that attempts killed
// midway left. Only a caller whose lock keeps every other copy to dst from running may ask
// for their removal: Leftovers::remove (done by the receiver itself, with no connection of
// the front-end to the destination), or remove_leftovers() on that host.
enum class Leftovers { keep, remove };
void remove_leftovers(Host& h, const std::string& dst);

// Copies `src` on `from` to `dst` on `to` (replacing dst only when the copy is complete).
// The source is left as it is (see move()).
// A local-monitoring marker to write on the destination (upstream's <ds>/.monitor): `path`
// empty for none. The receiving session on `to` writes it first (see with_monitor_mark), so
// a host-to-host move needs no connection of the front-end to the destination for it.
struct MonitorMark {
    std::string path, value;
};
void copy(Host& from, const std::string& src, Host& to, const std::string& dst, Leftovers leftovers = Leftovers::keep,
          const MonitorMark& mark = {});
// copy(), then (only then) the source renamed aside in one step and removed: its path never
// names a partly removed tree. The move stands should the removal itself fail (logged).
void move(Host& from, const std::string& src, Host& to, const std::string& dst, Leftovers leftovers = Leftovers::keep,
          const MonitorMark& mark = {});
// move()'s last step, for a caller that batches the removal of several sources whose copies
// are complete: prints what could not be removed (log it), fails only when nothing moved.
Step retire_step(Host& from, const std::string& src);
// `then` preceded by writing `value` into the marker file `mark` (upstream's .monitor, read by
// the host probes) when it does not hold it already: temp name, synced, renamed. A marker that
// cannot be written is logged, not fatal: `then` runs either way.
Argv with_monitor_mark(const std::string& mark, const std::string& value, const Argv& then);

// The host side of a transfer, run as `onestor send|receive|sweep ...` on the hosts (words
// `w` after "onestor"): its exit code, or -1 when w[0] is none of these.
int host_side(const std::vector<std::string>& w, std::string& out);

}  // namespace onestor::transfer
