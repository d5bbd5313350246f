// Caller profiles. What oned sends and reads, by release, as read in upstream's sources
// (one_datastore.rb, one_tm.rb, ImageManager{Driver,Protocol}.cc, DriverExecHelper.rb,
// CommandManager.rb, tm_mad/*, datastore_mad/remotes/fs/*, im_mad node-probes monitor_ds*.rb,
// scripts_common.sh) at release-5.12.0, 6.0 .. 6.10.0 and 7.0 .. 7.4.0:
//
// | what                          | 5.12                     | 6.x (6.10 LTS)                         | 7.x (7.4)                           |
// |-------------------------------|--------------------------|----------------------------------------|-------------------------------------|
// | DS action input               | DUMP ID on argv          | argv to 6.6; ID + base64 dump on stdin | ID + dump on stdin                  |
// |                               |                          | from 6.8 (also tm/<tm>/monitor)        |                                     |
// | TM action input               | argv (pre/postmigrate,   | same                                   | same                                |
// |                               | failmigrate: VM on stdin)|                                        |                                     |
// | cp / clone success            | first word = SOURCE      | cp: "SOURCE FORMAT", FORMAT required   | same as 6.10                        |
// |                               | (more words ignored)     | (6.0+); clone: FORMAT optional, fs     |                                     |
// |                               |                          | prints "SOURCE DRIVER" from 6.6        |                                     |
// | failure reason                | text between ERROR       | 6.0: markers; 6.2+: the whole stderr,  | non-log stderr lines, concatenated  |
// |                               | MESSAGE markers          | lines joined by blanks (log lines too) | (ERROR:/INFO:/WARN:/DEBUG: lines    |
// |                               |                          |                                        | go to the log)                      |
// | DS monitor (oned)             | template; only USED_MB,  | same                                   | same                                |
// |                               | TOTAL_MB, FREE_MB used;  |                                        |                                     |
// |                               | must parse as a whole    |                                        |                                     |
// | VM disk monitor lines         | VM=[ID,MONITOR="b64"]    | same (POLL="..." was <= 5.10)          | same                                |
// | host probe (monitor_ds*.rb)   | DS dirs with .monitor    | same; .monitor holds the TM name,      | same                                |
// |                               | only                     | tm/<name>/monitor_ds runs per DS       |                                     |
// | .monitor written by           | ssh_make_path X 'ssh'    | enable_local_monitoring: ssh clone,    | same                                |
// |                               | (ssh clone, .ssh ln/     | qcow2 .ssh clone/ln; ssh mv carries it;|                                     |
// |                               | clone; ssh mv carries it)| disable_local_monitoring: fs_lvm,      |                                     |
// |                               |                          | qcow2 clone (shared LUN/FS)            |                                     |
// | DS actions called             | cp rm mkfs stat clone    | + restore, increment_flatten (backup   | same as 6.10                        |
// |                               | monitor snap_delete      | DSes; fs has no script: "not           |                                     |
// |                               | snap_revert snap_flatten | available"); export via marketplace    |                                     |
// | TM action names (our drivers) | + activate failmigrate   | + prebackup[_live] postbackup[_live]   | same as 6.10                        |
// |                               | monitor_ds snap_create_  | restore recovery_snap_create_live,     |                                     |
// |                               | live; X.Y falls back to X| clone.replica ln.replica; shared=qcow2 |                                     |
// | "not supported"               | "<action>: Operation not supported" (common/not_supported.sh), in the release's error form         |
//
// The profile is the release family (5.x, 6.x, 7.x) plus the release whose forms it follows,
// since two forms changed inside a family (monitor 5.10 -> 5.12, error 6.0 -> 6.2).
#include "onestor/profile.hpp"

#include "onestor/error.hpp"
#include "onestor/xml.hpp"

#include <fstream>
#include <sstream>

namespace onestor::profile {
namespace {

bool digits(const std::string& s) { return !s.empty() && s.size() <= 4 && s.find_first_not_of("0123456789") == std::string::npos; }

std::optional<Profile> of_release(int major, int minor) {
    if (major < 5 || major > 7) return std::nullopt;
    Profile p;
    p.major = major;
    p.minor = minor;
    return p;
}

}  // namespace

std::optional<Profile> from_version(const std::string& text) {
    std::string v = text.substr(0, text.find_first_of(" \t\r\n"));
    auto d1 = v.find('.');
    if (d1 == std::string::npos) return std::nullopt;
    auto d2 = v.find('.', d1 + 1);
    std::string ma = v.substr(0, d1), mi = v.substr(d1 + 1, d2 == std::string::npos ? std::string::npos : d2 - d1 - 1);
    if (!digits(ma) || !digits(mi)) return std::nullopt;
    if (d2 != std::string::npos && !digits(v.substr(d2 + 1, v.find('.', d2 + 1) - d2 - 1))) return std::nullopt;
    return of_release(std::stoi(ma), std::stoi(mi));
}

std::optional<Profile> from_setting(const std::string& value) {
    if (value == "5") return of_release(5, 10);  // the seed's forms (POLL monitor lines)
    if (value == "6") return of_release(6, 10);
    if (value == "7") return of_release(7, 4);
    return from_version(value);
}

Detection detect(const std::string& setting, const std::vector<std::string>& remotes_dirs, Shape shape) {
    Detection d;
    if (!setting.empty()) {
        auto p = from_setting(setting);
        if (!p) throw DriverError("configuration PROTOCOL: " + quoted(setting) + " is not 5, 6, 7 or a release X.Y[.Z] of them");
        d.profile = *p;
        d.profile.origin = "PROTOCOL=" + setting;
        return d;
    }
    std::string why = "no remotes/VERSION";
    for (const auto& dir : remotes_dirs) {
        std::string file = dir + "/VERSION";
        std::ifstream in(file);
        if (!in) continue;
        std::string line;
        std::getline(in, line);
        if (auto p = from_version(line)) {
            d.profile = *p;
            d.profile.origin = file + " " + line.substr(0, line.find_first_of(" \t\r"));
            return d;
        }
        why = file + " names no release of 5.x, 6.x or 7.x";
        break;
    }
    // Unknown caller: the newest release that calls this way. A dump on argv is from before 6.8.
    d.profile = shape == Shape::DumpOnArgv ? *of_release(6, 6) : *of_release(7, 4);
    d.profile.origin = "fallback: " + why;
    d.note = why + ": using the " + d.profile.name() + " profile";
    return d;
}

std::vector<std::string> remotes_dirs_of(const std::string& argv0, const std::string& self_exe) {
    std::vector<std::string> dirs;
    auto parent = [](const std::string& p) {
        auto s = p.rfind('/');
        return s == std::string::npos ? std::string(".") : s == 0 ? std::string("/") : p.substr(0, s);
    };
    auto base = [](const std::string& p) {
        auto s = p.rfind('/');
        return s == std::string::npos ? p : p.substr(s + 1);
    };
    if (argv0.find('/') != std::string::npos) {
        std::string d = parent(argv0);  // .../remotes/tm/shared, or the binary's own directory
        std::string kind = base(parent(d));
        dirs.push_back(kind == "tm" || kind == "datastore" ? parent(parent(d)) : d);
    }
    if (!self_exe.empty()) {
        std::string d = parent(self_exe);
        if (dirs.empty() || dirs.front() != d) dirs.push_back(d);
    }
    return dirs;
}

Profile& current() {
    static Profile p;
    return p;
}

std::string vm_monitor_line(const std::string& vmid, const std::string& usage) {
    if (current().monitor_base64()) return "VM=[ID=" + vmid + ",MONITOR=\"" + base64_encode(usage) + "\"]";
    return "VM=[ID=" + vmid + ",POLL=\"" + usage + "\"]";
}

std::string error_text(const std::string& reason_in, const std::string& detail, const std::string& action) {
    std::string reason = reason_in;
    for (auto& c : reason)
        if (c == '\n' || c == '\r') c = ' ';
    std::string logs;
    std::istringstream in(detail);
    std::string line;
    while (std::getline(in, line))
        if (!line.empty()) logs += "ERROR: " + action + ": " + line + "\n";
    const Profile& p = current();
    if (!p.plain_error()) return logs + "ERROR MESSAGE --8<------\n" + reason + "\nERROR MESSAGE ------>8--\n";
    // 6.2-6.10 take all of stderr as the reason: the reason first, so it leads.
    if (p.reason_is_all_stderr()) return reason + "\n" + logs;
    // 7.x: log lines go to the log; the only other line is the reason.
    return logs + reason + "\n";
}

}  // namespace onestor::profile
