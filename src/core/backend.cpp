#include "onestor/backend.hpp"

#include "onestor/config.hpp"
#include "onestor/error.hpp"
#include "onestor/exec.hpp"

#include <sys/statvfs.h>

namespace onestor {

MonitorResult filesystem_usage(const std::string& path) {
    struct statvfs v {};
    if (::statvfs(path.c_str(), &v) != 0) throw_errno("cannot read usage of", path);
    MonitorResult m;
    unsigned long long f = v.f_frsize;
    m.total_mb = (v.f_blocks * f) >> 20;
    m.free_mb = (v.f_bavail * f) >> 20;
    m.used_mb = ((v.f_blocks - v.f_bfree) * f) >> 20;
    return m;
}

void unsupported(const std::string& driver, const std::string& action, const std::string& why) {
    throw DriverError(driver + ": " + action + " is not supported" + (why.empty() ? "" : ": " + why));
}

// Defaults: every primitive a backend does not override is "not supported", from here.
DsResult DsBackend::cp(const DsDump&, long) { unsupported(name(), "cp"); }
DsResult DsBackend::mkfs(const DsDump&, long) { unsupported(name(), "mkfs"); }
void DsBackend::rm(const DsDump&, long) { unsupported(name(), "rm"); }
unsigned long long DsBackend::stat_mb(const DsDump&) { unsupported(name(), "stat"); }
DsResult DsBackend::clone(const DsDump&, long) { unsupported(name(), "clone"); }
MonitorResult DsBackend::monitor(const DsDump&) { unsupported(name(), "monitor"); }
void DsBackend::snap_delete(const DsDump&, long) { unsupported(name(), "snap_delete"); }
void DsBackend::snap_flatten(const DsDump&, long) { unsupported(name(), "snap_flatten"); }
void DsBackend::snap_revert(const DsDump&, long) { unsupported(name(), "snap_revert"); }
ExportInfo DsBackend::export_image(const DsDump&) { unsupported(name(), "export"); }

void TmBackend::clone(const TmContext&, const HostPath&, const HostPath&) { unsupported(name(), "clone"); }
void TmBackend::ln(const TmContext&, const HostPath&, const HostPath&) { unsupported(name(), "ln"); }
void TmBackend::mvds(const TmContext&, const HostPath&, const HostPath&) { unsupported(name(), "mvds"); }
void TmBackend::cpds(const TmContext&, const HostPath&, const HostPath&, long) { unsupported(name(), "cpds"); }
void TmBackend::mv(const TmContext&, const HostPath&, const HostPath&) { unsupported(name(), "mv"); }
void TmBackend::premigrate(const TmContext&, const MigrateRequest&) { unsupported(name(), "premigrate"); }
void TmBackend::activate_host() { unsupported(name(), "activate"); }
void TmBackend::failmigrate(const TmContext&, const MigrateRequest&) { unsupported(name(), "failmigrate"); }
void TmBackend::postmigrate(const TmContext&, const MigrateRequest&) { unsupported(name(), "postmigrate"); }
void TmBackend::snap_create(const TmContext&, const HostPath&, long) { unsupported(name(), "snap_create"); }
void TmBackend::snap_create_live(const TmContext&, const HostPath&, long) { unsupported(name(), "snap_create_live"); }
void TmBackend::snap_delete(const TmContext&, const HostPath&, long) { unsupported(name(), "snap_delete"); }
void TmBackend::snap_revert(const TmContext&, const HostPath&, long) { unsupported(name(), "snap_revert"); }
void TmBackend::context(const TmContext&, const std::vector<ContextFile>&, const HostPath&) { unsupported(name(), "context"); }
void TmBackend::del(const TmContext&, const HostPath&) { unsupported(name(), "delete"); }
void TmBackend::mkimage(const TmContext&, long, const std::string&, const HostPath&) { unsupported(name(), "mkimage"); }
void TmBackend::mkswap(const TmContext&, long, const HostPath&) { unsupported(name(), "mkswap"); }
void TmBackend::resize(const TmContext&, const HostPath&, long) { unsupported(name(), "resize"); }
MonitorResult TmBackend::monitor(const DsDump&) { unsupported(name(), "monitor"); }
MonitorResult TmBackend::monitor_ds(const std::string&) { unsupported(name(), "monitor_ds"); }

const VmInfo& TmContext::vm() const {
    if (!vm_) {
        if (vmid < 0) throw DriverError("internal error: no VM id for this action");
        Argv a = config().get_words("ONEVM");
        a.insert(a.end(), {"show", "-x", std::to_string(vmid)});
        Result r = run(a, {.timeout_s = 60, .what = "cannot read VM " + std::to_string(vmid)});
        vm_ = VmInfo::from_xml(r.out);
    }
    return *vm_;
}

Datastore TmContext::datastore(long id) const {
    Argv a = config().get_words("ONEDATASTORE");
    a.insert(a.end(), {"show", "-x", std::to_string(id)});
    Result r = run(a, {.timeout_s = 60, .what = "cannot read datastore " + std::to_string(id)});
    return Datastore::from_xml(r.out);
}

}  // namespace onestor
