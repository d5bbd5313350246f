// Backends: one class of primitives per storage driver (as libvirt's storage backends and
// Proxmox's storage plugins). A backend never parses argv or XML and never prints; it
// receives typed values and does the driver's work in the right order with the safety
// steps (temp name, fsync, rename, clean-up). Each declares the actions it supports;
// anything else reaches unsupported(), the one place that says "not supported".
#pragma once
#include "onestor/paths.hpp"
#include "onestor/xml.hpp"

#include <optional>
#include <set>
#include <string>
#include <vector>

namespace onestor {

// `why`, when given, says what would make it supported ("it needs thin volumes").
[[noreturn]] void unsupported(const std::string& driver, const std::string& action, const std::string& why = "");

// ---- datastore (DS) drivers -----------------------------------------------------------

struct DsResult {
    std::string source;  // new SOURCE (cp, mkfs, clone)
    std::string format;  // detected format, printed by the 6.x protocol
};

struct MonitorResult {
    unsigned long long used_mb = 0, total_mb = 0, free_mb = 0;
    std::vector<std::string> vm_lines;  // per-VM disk usage (system datastores)
};

// Used/total/free MiB of the filesystem holding `path` (statvfs).
MonitorResult filesystem_usage(const std::string& path);

class DsBackend {
public:
    virtual ~DsBackend() = default;
    virtual std::string name() const = 0;
    virtual std::set<std::string> features() const = 0;

    virtual DsResult cp(const DsDump&, long image_id);
    virtual DsResult mkfs(const DsDump&, long image_id);
    virtual void rm(const DsDump&, long image_id);
    virtual unsigned long long stat_mb(const DsDump&);
    virtual DsResult clone(const DsDump&, long image_id);
    virtual MonitorResult monitor(const DsDump&);
    virtual void snap_delete(const DsDump&, long image_id);
    virtual void snap_flatten(const DsDump&, long image_id);
    virtual void snap_revert(const DsDump&, long image_id);
};

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

class TmBackend {
public:
    virtual ~TmBackend() = default;
    virtual std::string name() const = 0;
    virtual std::set<std::string> features() const = 0;
    // Suffixed variants with their own behaviour ("ln.ssh"); others fall back to the plain action.
    virtual std::set<std::string> variants() const { return {}; }
    // Images are RBD volumes: image arguments are host:POOL/IMAGE, not paths (Args::parse).
    virtual bool rbd_images() const { return false; }

    virtual void clone(const TmContext&, const HostPath& src, const HostPath& dst);
    virtual void ln(const TmContext&, const HostPath& src, const HostPath& dst);
    virtual void mvds(const TmContext&, const HostPath& src, const HostPath& dst);
    virtual void cpds(const TmContext&, const HostPath& src, const HostPath& dst, long snap_id);
    virtual void mv(const TmContext&, const HostPath& src, const HostPath& dst);
    virtual void premigrate(const TmContext&, const MigrateRequest&);
    virtual void postmigrate(const TmContext&, const MigrateRequest&);
    virtual void snap_create(const TmContext&, const HostPath& disk, long snap_id);
    virtual void snap_create_live(const TmContext&, const HostPath& disk, long snap_id);
    virtual void snap_delete(const TmContext&, const HostPath& disk, long snap_id);
    virtual void snap_revert(const TmContext&, const HostPath& disk, long snap_id);
    virtual void context(const TmContext&, const std::vector<ContextFile>& files, const HostPath& dst);
    virtual void del(const TmContext&, const HostPath& dst);
    virtual void mkimage(const TmContext&, long size_mb, const std::string& format, const HostPath& dst);
    virtual void mkswap(const TmContext&, long size_mb, const HostPath& dst);
    virtual void resize(const TmContext&, const HostPath& disk, long size_mb);
    virtual MonitorResult monitor(const DsDump&);
    // The host-side probe of a local system datastore (run on the host itself).
    virtual MonitorResult monitor_ds(const std::string& ds_dir);
};

}  // namespace onestor
