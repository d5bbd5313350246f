// Backends as tables of primitives (libvirt's virStorageBackend, Proxmox's plugin methods):
// each driver is one table naming, for every action it supports, the function that does
// it; a `.ssh` variant ("ln.ssh") is one more entry of the same table. An action the table
// has no entry for is "not supported", said by Call (registry.cpp) in one place; the
// matrix `onestor actions` prints and the links `install-remotes` makes are read from the
// tables too. A primitive never parses argv or XML and never prints; it receives typed
// values and does the driver's work in the right order with the safety steps (temp name,
// fsync, rename, clean-up). Adding an action: its Register line (src/actions/) and one
// entry in each table that supports it.
#pragma once
#include "onestor/error.hpp"
#include "onestor/paths.hpp"
#include "onestor/protocol.hpp"
#include "onestor/xml.hpp"

#include <any>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace onestor {

// The one "not supported" answer. `why`, when given, says what would make it supported
// ("it needs thin volumes").
[[noreturn]] void unsupported(const std::string& driver, const std::string& action, const std::string& why = "");

// ---- datastore (DS) drivers -----------------------------------------------------------

struct ExportInfo {
    std::string source, md5, format;
    long size_mb = 0;
};

struct DsResult {
    std::string source;  // new SOURCE (cp, mkfs, clone)
    std::string format;  // detected format, printed when the protocol profile says so
};

// Usage and per-VM disk usage; protocol:: turns it into the lines oned reads.
using protocol::MonitorResult;
using protocol::VmDiskUsage;

// Used/total/free MiB of the filesystem holding `path` (statvfs).
MonitorResult filesystem_usage(const std::string& path);

// ---- transfer manager (TM) drivers ----------------------------------------------------

// What a TM call knows beyond its path arguments: ids, the action (and .suffix) it runs
// as, and the VM / datastore documents fetched on demand as upstream does
// (`onevm show -x`, `onedatastore show -x`), at most once per action.
class TmContext {
public:
    TmContext(std::string driver_, std::string action_, std::string suffix_, long vmid_, long dsid_)
        : driver(std::move(driver_)), action(std::move(action_)), suffix(std::move(suffix_)), vmid(vmid_), dsid(dsid_) {}
    std::string driver, action, suffix;
    long vmid, dsid;
    const VmInfo& vm() const;
    Datastore datastore(long id) const;

private:
    mutable std::optional<VmInfo> vm_;
};

struct MigrateRequest {
    std::string src_host, dst_host, vm_dir;
    std::string template_b64;  // the VM, from argv (<=5.8) or stdin (5.10+)
    std::string caller_tm;     // set when another TM's migrate_other calls us
};

// ---- tables ---------------------------------------------------------------------------

// The shapes of primitives, one per argument layout of the actions (src/actions/).
namespace sig {
using Image = DsResult(const DsDump&, long image_id);                            // cp, mkfs, clone
using ImageVoid = void(const DsDump&, long image_id);                            // rm, snap_*
using Stat = unsigned long long(const DsDump&);                                  // stat
using Monitor = MonitorResult(const DsDump&);                                    // DS and TM monitor
using Paths = void(const TmContext&, const HostPath& src, const HostPath& dst);  // clone ln mvds mv
using Cpds = void(const TmContext&, const HostPath& src, const HostPath& dst, long snap_id);
using DiskNum = void(const TmContext&, const HostPath& disk, long n);  // snap_*, resize
using Context = void(const TmContext&, const std::vector<ContextFile>& files, const HostPath& dst);
using One = void(const TmContext&, const HostPath& dst);  // delete
using Mkimage = void(const TmContext&, long size_mb, const std::string& format, const HostPath& dst);
using Mkswap = void(const TmContext&, long size_mb, const HostPath& dst);
using Migrate = void(const TmContext&, const MigrateRequest&);  // pre/postmigrate
using MonitorDs = MonitorResult(const std::string& ds_dir);     // the host-side probe
using Export = ExportInfo(const DsDump&);                       // DS export
using Host = void();                                            // run on the host itself (activate)
}  // namespace sig

// One entry of a table: a function of one of the shapes above.
class Primitive {
public:
    template <class R, class... A>
    Primitive(std::function<R(A...)> f) : fn_(std::move(f)) {}  // NOLINT: entries convert
    template <class Sig>
    const std::function<Sig>& as(const std::string& driver, const std::string& action) const;
    const std::type_info& shape() const { return fn_.type(); }

private:
    std::any fn_;
};

// An entry made of a member function of a backend object that lives as long as the table.
template <class Obj, class B, class R, class... A>
Primitive op(Obj& o, R (B::*m)(A...)) {
    return std::function<R(A...)>([&o, m](A... a) -> R { return (o.*m)(std::forward<A>(a)...); });
}
template <class Obj, class B, class R, class... A>
Primitive op(Obj& o, R (B::*m)(A...) const) {
    return std::function<R(A...)>([&o, m](A... a) -> R { return (o.*m)(std::forward<A>(a)...); });
}
// An entry made of any callable, of shape Sig.
template <class Sig, class F>
Primitive op(F f) {
    return std::function<Sig>(std::move(f));
}

struct Table {
    std::string name;
    std::map<std::string, Primitive> ops;  // action, or action.suffix for a variant
    // Images are RBD volumes: image arguments are host:POOL/IMAGE, not paths (Args::parse).
    bool rbd_images = false;

    bool supports(const std::string& action) const { return ops.count(action) != 0; }
    // The plain actions of the table ("ln"), and the variants of one ("ln.ssh" -> "ssh").
    std::set<std::string> features() const;
    std::set<std::string> variants(const std::string& action) const;
    // The entry for action.suffix if the table has that variant, else for the action;
    // unsupported() when it has neither.
    const Primitive& entry(const std::string& action, const std::string& suffix = "") const;
};
using DsTable = Table;
using TmTable = Table;

template <class Sig>
const std::function<Sig>& Primitive::as(const std::string& driver, const std::string& action) const {
    if (auto* f = std::any_cast<std::function<Sig>>(&fn_)) return *f;
    throw DriverError("internal error: " + driver + " " + action + " is a primitive of another shape");
}

}  // namespace onestor
