// Caller profiles. What oned sends and reads, by release, as read in upstream's sources
// (one_datastore.rb, one_tm.rb, ImageManager{Driver,Protocol}.cc, DriverExecHelper.rb,
// CommandManager.rb, tm_mad/*, datastore_mad/remotes/fs/*, im_mad node-probes monitor_ds*.rb,
// scripts_common.sh) at release-5.12.0, 6.0 .. 6.10.0 and 7.0 .. 7.4.0:
//
// | what                          | 5.12                     | 6.x (6.10 LTS)                         | 7.x (7.4) |
// |-------------------------------|--------------------------|----------------------------------------|-------------------------------------|
// | DS action input               | DUMP ID on argv          | argv to 6.6; ID + base64 dump on stdin | ID + dump on stdin | | |
// | from 6.8 (also tm/<tm>/monitor)        |                                     | | TM action input               | argv
// (pre/postmigrate,   | same                                   | same                                | | | failmigrate: VM on
// stdin)|                                        |                                     | | cp / clone success            | first
// word = SOURCE      | cp: "SOURCE FORMAT", FORMAT required   | same as 6.10                        | | | (more words ignored) |
// (6.0+); clone: FORMAT optional, fs     |                                     | |                               | | prints
// "SOURCE DRIVER" from 6.6        |                                     | | failure reason                | text between ERROR
// | 6.0: markers; 6.2+: the whole stderr,  | non-log stderr lines, concatenated  | |                               | MESSAGE
// markers          | lines joined by blanks (log lines too) | (ERROR:/INFO:/WARN:/DEBUG: lines    | | | | | go to the log) | | DS
// monitor (oned)             | template; only USED_MB,  | same                                   | same | | | TOTAL_MB, FREE_MB
// used;  |                                        |                                     | |                               | must
// parse as a whole    |                                        |                                     | | VM disk monitor lines |
// VM=[ID,MONITOR="b64"]    | same (POLL="..." was <= 5.10)          | same                                | | host probe
// (monitor_ds*.rb)   | DS dirs with .monitor    | same; .monitor holds the TM name,      | same                                |
// |                               | only                     | tm/<name>/monitor_ds runs per DS       | | | .monitor written by
// | ssh_make_path X 'ssh'    | enable_local_monitoring: ssh clone,    | same                                | | | (ssh clone,
// .ssh ln/     | qcow2 .ssh clone/ln; ssh mv carries it;|                                     | |                               |
// clone; ssh mv carries it)| disable_local_monitoring: fs_lvm,      |                                     | | | | qcow2 clone
// (shared LUN/FS)            |                                     | | DS actions called             | cp rm mkfs stat clone    |
// + restore, increment_flatten (backup   | same as 6.10                        | |                               | monitor
// snap_delete      | DSes; fs has no script: "not           |                                     | | | snap_revert snap_flatten
// | available"); export via marketplace    |                                     | | TM action names (our drivers) | + activate
// failmigrate   | + prebackup[_live] postbackup[_live]   | same as 6.10                        | | | monitor_ds snap_create_  |
// restore recovery_snap_create_live,     |                                     | |                               | live; X.Y
// falls back to X| clone.replica ln.replica; shared=qcow2 |                                     | | "not supported" | "<action>:
// Operation not supported" (common/not_supported.sh), in the release's error form         |
//
// A profile is the release family (5.x, 6.x, 7.x) plus the release whose forms it follows,
// since two forms changed inside a family (VM lines 5.10 -> 5.12, error 6.0 -> 6.2);
// profile_of_release() below is where this table is decided.
#include "onestor/protocol.hpp"

#include "onestor/config.hpp"
#include "onestor/error.hpp"
#include "onestor/io.hpp"
#include "onestor/xml.hpp"

#include <unistd.h>
#include <fstream>

namespace onestor::protocol {

std::optional<Profile> profile_of_release(int major, int minor) {
    if (major < 5 || major > 7 || minor < 0) return std::nullopt;
    auto at_least = [&](int ma, int mi) { return major > ma || (major == ma && minor >= mi); };
    Profile p;
    p.name = std::to_string(major);
    p.major = major;
    p.minor = minor;
    p.source_format = at_least(6, 0);
    p.clone_to_driver = at_least(6, 6);
    p.migrate_local_disks = at_least(6, 0);
    p.storage_migration = at_least(7, 2);
    p.error = !at_least(6, 2) ? ErrorForm::Markers : !at_least(7, 0) ? ErrorForm::PlainFirst : ErrorForm::Plain;
    p.monitor_vms = at_least(5, 12) ? VmLineForm::Monitor : VmLineForm::Poll;
    return p;
}

std::string Profile::describe() const { return name + ".x (" + std::to_string(major) + "." + std::to_string(minor) + " forms)"; }

std::optional<Profile> profile_of_version(const std::string& text) {
    std::string v = text.substr(0, text.find_first_of(" \t\r\n"));
    auto num = [](const std::string& s) {
        return !s.empty() && s.size() <= 4 && s.find_first_not_of("0123456789") == std::string::npos;
    };
    auto d1 = v.find('.');
    if (d1 == std::string::npos) return std::nullopt;
    auto d2 = v.find('.', d1 + 1);
    std::string ma = v.substr(0, d1), mi = v.substr(d1 + 1, d2 == std::string::npos ? std::string::npos : d2 - d1 - 1);
    if (!num(ma) || !num(mi)) return std::nullopt;
    if (d2 != std::string::npos && !num(v.substr(d2 + 1, v.find('.', d2 + 1) - d2 - 1))) return std::nullopt;
    return profile_of_release(std::stoi(ma), std::stoi(mi));
}

Profile profile_named(const std::string& name) {
    std::optional<Profile> p = name.empty() || name == "5" ? profile_of_release(5, 10)  // the seed's forms
                               : name == "6"               ? profile_of_release(6, 10)
                               : name == "7"               ? profile_of_release(7, 4)
                                                           : profile_of_version(name);
    if (!p) throw DriverError("configuration PROTOCOL: " + quoted(name) + " is not 5, 6, 7 or a release X.Y[.Z] of them");
    return *p;
}

Detection detect(const std::string& setting, const std::vector<std::string>& remotes_dirs, Shape shape) {
    Detection d;
    if (!setting.empty()) {
        d.profile = profile_named(setting);
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
        if (auto p = profile_of_version(line)) {
            d.profile = *p;
            d.profile.origin = file + " " + line.substr(0, line.find_first_of(" \t\r"));
            return d;
        }
        why = file + " names no release of 5.x, 6.x or 7.x";
        break;
    }
    // Unknown caller: the newest release that calls this way (a dump on argv: before 6.8).
    d.profile = shape == Shape::DumpOnArgv ? *profile_of_release(6, 6) : *profile_of_release(7, 4);
    d.profile.origin = "fallback: " + why;
    d.note = why + ": using the " + d.profile.describe() + " profile";
    return d;
}

std::vector<std::string> remotes_dirs_of(const std::string& argv0, const std::string& self_exe) {
    auto parent = [](const std::string& p) {
        auto s = p.rfind('/');
        return s == std::string::npos ? std::string(".") : s == 0 ? std::string("/") : p.substr(0, s);
    };
    auto base = [](const std::string& p) {
        auto s = p.rfind('/');
        return s == std::string::npos ? p : p.substr(s + 1);
    };
    std::vector<std::string> dirs;
    if (argv0.find('/') != std::string::npos) {
        std::string d = parent(argv0);  // .../remotes/tm/shared, or the binary's own directory
        std::string kind = base(parent(d));
        dirs.push_back(kind == "tm" || kind == "datastore" ? parent(parent(d)) : d);
    }
    if (!self_exe.empty() && (dirs.empty() || dirs.front() != parent(self_exe))) dirs.push_back(parent(self_exe));
    return dirs;
}

Profile& current_profile() {
    static Profile p = *profile_of_release(5, 10);
    return p;
}

std::string source_line(const std::string& source, const std::string& format, const Profile& p) {
    return p.source_format && !format.empty() ? source + " " + format + "\n" : source + "\n";
}

std::string import_info(const std::string& source, const std::string& md5, long size_mb, const std::string& format) {
    auto cdata = [](const std::string& tag, const std::string& v) {
        if (v.find("]]>") != std::string::npos) throw DriverError(tag + " " + quoted(v) + " cannot be written as CDATA");
        return "<" + tag + "><![CDATA[" + v + "]]></" + tag + ">";
    };
    return "<IMPORT_INFO>" + cdata("IMPORT_SOURCE", source) + cdata("MD5", md5) + cdata("SIZE", std::to_string(size_mb)) +
           cdata("FORMAT", format) + "<DISPOSE>NO</DISPOSE></IMPORT_INFO>\n";
}

std::string number_line(unsigned long long n) { return std::to_string(n) + "\n"; }

std::string poll_text(const VmDiskUsage& u) {
    std::string s;
    for (const auto& e : u.entries) {
        if (e.snap_id.empty())
            s += "DISK_SIZE=[ID=" + std::to_string(e.disk_id) + ",SIZE=" + std::to_string(e.mb) + "] ";
        else
            s += "SNAPSHOT_SIZE=[ID=" + e.snap_id + ",DISK_ID=" + std::to_string(e.disk_id) + ",SIZE=" + std::to_string(e.mb) +
                 "] ";
    }
    return s;
}

std::string vm_line(const VmDiskUsage& u, VmLineForm form) {
    if (form == VmLineForm::Monitor) return "VM = [ ID = " + u.vm_id + ", MONITOR = \"" + base64_encode(poll_text(u)) + "\" ]";
    return "VM=[ID=" + u.vm_id + ",POLL=\"" + poll_text(u) + "\"]";
}

std::string monitor_lines(const MonitorResult& m, VmLineForm form) {
    std::string s = "USED_MB=" + std::to_string(m.used_mb) + "\nTOTAL_MB=" + std::to_string(m.total_mb) +
                    "\nFREE_MB=" + std::to_string(m.free_mb) + "\n";
    for (const auto& vm : m.vms) s += vm_line(vm, form) + "\n";
    return s;
}

std::string error_block(const std::string& msg, ErrorForm form) {
    std::string one = msg;
    for (auto& c : one)
        if (c == '\n' || c == '\r') c = ' ';
    if (form != ErrorForm::Markers) return one + "\n";
    return std::string(kErrorBegin) + "\n" + one + "\n" + kErrorEnd + "\n";
}

std::string shell_error_printf() { return std::string("'") + kErrorBegin + "\\n%s\\n" + kErrorEnd + "\\n'"; }

std::optional<std::string> first_error_block(const std::string& err) {
    // In a pipeline the side that failed first names the cause (a full disk), the other only
    // its echo (a broken pipe), and their stderr may arrive in either order: the first block
    // that is not a broken pipe, else the first.
    const std::string marker = std::string(kErrorBegin) + "\n";
    std::optional<std::string> first;
    for (auto m = err.find(marker); m != std::string::npos; m = err.find(marker, m + 1)) {
        auto b = m + marker.size();
        auto e = err.find('\n', b);
        std::string block = err.substr(b, e == std::string::npos ? std::string::npos : e - b);
        if (block.find("Broken pipe") == std::string::npos) return block;
        if (!first) first = block;
    }
    return first;
}

std::string read_action_data() {
    std::string s = io::read_capped(0, io::kMaxStdin, "the action data on stdin");
    if (s.find_first_not_of(" \n\r\t") == std::string::npos) throw DriverError("the action data is empty (expected on stdin)");
    return s;
}

namespace {

bool looks_like_template(const std::string& w) {
    if (w.size() < 16) return false;
    try {
        return base64_decode(w).find("<VM") != std::string::npos;
    } catch (...) {
        return false;
    }
}

}  // namespace

MigrateInput migrate_input(const std::vector<std::string>& extra) {
    MigrateInput in;
    for (const auto& w : extra) {
        if (in.template_b64.empty() && looks_like_template(w))
            in.template_b64 = w;
        else if (!in.caller_tm)
            in.caller_tm = w;
    }
    if (in.template_b64.empty() && !isatty(0)) {
        std::string s = io::read_capped(0, io::kMaxStdin, "the VM template on stdin");
        while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
        in.template_b64 = s;
    }
    return in;
}

}  // namespace onestor::protocol
