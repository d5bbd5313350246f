// `onestor doctor [HOST...]`: will this front-end and these hosts work? Each machine answers
// one fixed probe script (positional arguments only; the same script here and over ssh), and
// every problem becomes one line that names it and its fix. Warnings (what only some drivers
// need: LVM for fs_lvm, virsh for live qcow2 snapshots) do not change the exit status.
#include "onestor/cli.hpp"
#include "onestor/config.hpp"
#include "onestor/error.hpp"
#include "onestor/exec.hpp"
#include "onestor/host.hpp"
#include "onestor/paths.hpp"
#include "onestor/protocol.hpp"
#include "onestor/scripts.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <fstream>
#include <map>
#include <sstream>

#ifndef ONESTOR_VERSION
#define ONESTOR_VERSION "0.0.0"
#endif

namespace onestor::cli {
namespace {

const std::map<std::string, std::string> kPackage = {
    {"qemu-img", "qemu-utils"},
    {"mkswap", "util-linux"},
    {"genisoimage", "genisoimage"},
    {"xorriso", "xorriso"},
    {"virsh", "libvirt-clients"},
    {"lvs", "lvm2"},
    {"thin_check", "thin-provisioning-tools"},
};

struct Report {
    std::string out;
    int problems = 0;
    void ok(const std::string& where, const std::string& what) { out += "ok       " + where + ": " + what + "\n"; }
    void warn(const std::string& where, const std::string& what, const std::string& fix) {
        out += "warning  " + where + ": " + what + " -- " + fix + "\n";
    }
    void problem(const std::string& where, const std::string& what, const std::string& fix) {
        out += "PROBLEM  " + where + ": " + what + " -- fix: " + fix + "\n";
        ++problems;
    }
};

std::vector<std::string> fields(const std::string& line) {
    std::vector<std::string> f;
    std::string cur;
    for (char c : line) {
        if (c == '\t') {
            f.push_back(cur);
            cur.clear();
        } else {
            cur += c;
        }
    }
    f.push_back(cur);
    return f;
}

std::string first_word(const std::string& key) {
    auto w = config().get_words_or_empty(key);
    return w.empty() ? std::string() : w[0];
}

std::string install_hint(const std::string& tool, const std::string& key) {
    auto it = kPackage.find(basename_of(tool));
    std::string pkg = it == kPackage.end() ? "the package that has it" : it->second;
    return "apt-get install " + pkg + (key.empty() ? "" : " (or set " + key + ")");
}

// Runs the probe on h and reports what it found; `remote` is REMOTE_ONESTOR on a host.
void probe(Host& h, const std::string& where, const std::string& remote, Report& r) {
    struct Tool {
        std::string name, key;
        bool required;
    };
    std::vector<Tool> tools = {{first_word("QEMU_IMG"), "QEMU_IMG", true},
                               {first_word("MKSWAP"), "MKSWAP", true},
                               {first_word("MKISOFS"), "MKISOFS", true},
                               {first_word("VIRSH"), "VIRSH", false},
                               {"lvs", "", false}};
    if (config().get_bool("LVM_THIN_ENABLE")) tools.push_back({"thin_check", "", true});
    std::string ds = config().get("DATASTORE_LOCATION");
    Argv a = {"sh", "-c", scripts::kDoctorProbe, "onestor-doctor", ds, remote, std::to_string(tools.size())};
    for (const auto& t : tools) a.push_back(t.name);
    for (const auto& w : config().get_words_or_empty("LVM_SUDO")) a.push_back(w);
    RunOptions o;
    o.check = false;
    o.timeout_s = 60;
    Result res = h.run(a, o);
    if (res.status != 0) {
        r.problem(where, "the probe failed: " + failure_reason(res.err), "run `onestor doctor` with DEBUG=yes to see it");
        return;
    }
    std::map<std::string, bool> found;
    std::string uid, user, onestor_version;
    bool has_onestor = false, has_ds = true, lvm = false;
    std::vector<std::string> vgs, pools;
    std::istringstream in(res.out);
    for (std::string line; std::getline(in, line);) {
        auto f = fields(line);
        if (f[0] == "tool" && f.size() == 4) {
            found[f[1]] = true;
            r.ok(where, f[1] + ": " + f[3] + " (" + f[2] + ")");
            if (f[1] == "lvs") lvm = true;
        } else if (f[0] == "user" && f.size() == 3) {
            uid = f[1];
            user = f[2];
        } else if (f[0] == "onestor" && f.size() == 2) {
            has_onestor = true;
            onestor_version = f[1];
        } else if (f[0] == "nods") {
            has_ds = false;
        } else if (f[0] == "ds" && f.size() == 6) {
            std::string dir = ds + f[1];
            if (f[2] != uid)
                r.problem(where,
                          dir + " is owned by " + f[3] + " (uid " + f[2] + "), not by " + user + " (uid " + uid +
                              ") who runs the drivers",
                          "chown " + user + ": " + dir);
            else if (f[4] != "yes")
                r.problem(where, dir + " is not writable by " + user, "chmod u+rwx " + dir);
            long long kib = std::atoll(f[5].c_str());
            if (kib < 256 * 1024)
                r.problem(where, dir + " has " + std::to_string(kib / 1024) + " MiB free",
                          "free space on its filesystem (images and VM disks are written there)");
            else if (f[1].empty())
                r.ok(where, dir + ": " + user + "'s, " + std::to_string(kib / 1024 / 1024) + " GiB free");
        } else if (f[0] == "vg" && f.size() == 2) {
            vgs.push_back(f[1]);
        } else if (f[0] == "pool" && f.size() == 3) {
            pools.push_back(f[1] + "/" + f[2]);
        } else if (f[0] == "vgfail" && f.size() == 2) {
            r.warn(where, "cannot list volume groups (" + f[1] + ")",
                   "fs_lvm runs LVM as LVM_SUDO='" + config().get("LVM_SUDO") + "': allow it in sudoers");
        }
    }
    for (const auto& t : tools) {
        if (found[t.name]) continue;
        std::string what = t.name + " not found in the PATH of " + (user.empty() ? "the driver's user" : user);
        if (t.required)
            r.problem(where, what, install_hint(t.name, t.key));
        else
            r.warn(where, what + (t.name == "lvs" ? " (needed by fs_lvm)" : " (needed by live snapshots: qcow2, ssh)"),
                   install_hint(t.name, t.key));
    }
    if (!has_ds)
        r.problem(where, ds + " (DATASTORE_LOCATION) does not exist",
                  "mkdir -p " + ds + " && chown " + (user.empty() ? "oneadmin" : user) + ": " + ds);
    if (lvm) {
        std::string one;
        for (const auto& v : vgs)
            if (v.rfind("vg-one-", 0) == 0) one += (one.empty() ? "" : " ") + v;
        if (one.empty())
            r.warn(where, "no vg-one-<datastore id> volume group", "fs_lvm datastores need one each (vgcreate vg-one-ID DEVICE)");
        else
            r.ok(where, "volume groups " + one + (pools.empty() ? "" : "; thin pools " + std::to_string(pools.size())));
    }
    if (remote.empty()) return;
    if (!has_onestor && config().get_bool("REMOTE_ONESTOR_INSTALL"))
        r.warn(where, "no onestor at REMOTE_ONESTOR " + remote + " (the first ssh transfer to it installs this one)",
               "onehost sync --force (the remotes tree carries onestor)");
    else if (!has_onestor)
        r.problem(where, "no onestor at REMOTE_ONESTOR " + remote + " (ssh transfers fall back to tar -S, unchecked)",
                  "onehost sync --force (the remotes tree carries onestor)");
    else if (onestor_version != "onestor " ONESTOR_VERSION)
        r.problem(where, remote + " is " + quoted(onestor_version) + ", not onestor " ONESTOR_VERSION, "onehost sync --force");
    else
        r.ok(where, remote + " is onestor " ONESTOR_VERSION);
}

bool same_bytes(const std::string& a, const std::string& b) {
    std::ifstream fa(a, std::ios::binary), fb(b, std::ios::binary);
    if (!fa || !fb) return false;
    std::stringstream sa, sb;
    sa << fa.rdbuf();
    sb << fb.rdbuf();
    return sa.str() == sb.str();
}

// REMOTES_DIR: oned's tree, switched over to this binary (install-remotes) or not.
void remotes_tree(Report& r) {
    const std::string where = "frontend";
    std::string dir = config().get("REMOTES_DIR");
    std::string fix = "onestor install-remotes " + dir;
    if (!same_bytes("/proc/self/exe", join_path(dir, "onestor"))) {
        r.problem(where, join_path(dir, "onestor") + " is missing or not this onestor " ONESTOR_VERSION, fix);
    } else {
        int bad = 0, all = 0;
        std::string first;
        auto check_link = [&](Kind kind, const std::string& driver, const std::string& name, bool supported) {
            if (!supported) return;  // (install-remotes keeps the release's script there, if any)
            ++all;
            std::string path = join_path(join_path(join_path(dir, kind_dir(kind)), driver), name);
            char buf[4096];
            ssize_t n = ::readlink(path.c_str(), buf, sizeof buf);
            if (n > 0 && std::string(buf, static_cast<size_t>(n)) == "../../onestor") return;
            if (!bad++) first = path;
        };
        for_each_link(check_link);
        if (bad)
            r.problem(where,
                      std::to_string(bad) + " of " + std::to_string(all) + " driver links in " + dir +
                          " do not point at onestor (first: " + first + ")",
                      fix);
        else
            r.ok(where, dir + ": onestor " ONESTOR_VERSION " and its " + std::to_string(all) + " links");
    }
    std::ifstream v(join_path(dir, "VERSION"));
    std::string version;
    if (!v || !std::getline(v, version) || version.empty())
        r.problem(where, join_path(dir, "VERSION") + " is missing or unreadable (onehost sync compares it with the hosts')",
                  "restore it from OpenNebula's remotes (apt-get install --reinstall opennebula)");
    else if (auto p = protocol::profile_of_version(version); !p)
        r.warn(where, "remotes VERSION " + version + " is a release onestor does not know; it answers in the newest forms",
               "check that this onestor supports OpenNebula " + version);
    else if (!config().get("PROTOCOL").empty())
        // The release's forms come from VERSION by themselves; PROTOCOL forces others.
        r.warn(where,
               "remotes VERSION " + version + " (" + p->describe() + ") with PROTOCOL=" + config().get("PROTOCOL") +
                   " forcing the forms",
               "remove PROTOCOL from /etc/one/onestor.conf unless oned is another release than VERSION says");
    else
        r.ok(where, "OpenNebula remotes VERSION " + version + ": " + p->describe());
}

// LOCK_DIR must be ours (or root's) and not writable by others (see lock.cpp), or creatable.
void lock_dir(Report& r) {
    std::string dir = config().get("LOCK_DIR");
    std::string me = std::to_string(::geteuid());
    struct stat st {};
    if (::lstat(dir.c_str(), &st) != 0) {
        if (::access(dirname_of(dir).c_str(), W_OK) != 0)
            r.problem("frontend", "lock directory " + dir + " is missing and cannot be created by uid " + me,
                      "mkdir -m 700 " + dir + " && chown oneadmin: " + dir);
        else
            r.ok("frontend", "lock directory " + dir + " (made at the first action)");
        return;
    }
    if (!S_ISDIR(st.st_mode))
        r.problem("frontend", "lock directory " + dir + " is not a directory", "rm " + dir + " (it is made again)");
    else if (st.st_uid != ::geteuid() && st.st_uid != 0)
        r.problem("frontend", "lock directory " + dir + " is owned by uid " + std::to_string(st.st_uid) + ", not by uid " + me,
                  "chown oneadmin: " + dir);
    else if (st.st_mode & (S_IWGRP | S_IWOTH))
        r.problem("frontend", "lock directory " + dir + " is writable by other users", "chmod go-w " + dir);
    else
        r.ok("frontend", "lock directory " + dir);
}

}  // namespace

int doctor(const std::vector<std::string>& names, std::string& out) {
    Report r;
    for (const auto& n : names) valid_host(n);  // refused before anything runs
    remotes_tree(r);
    lock_dir(r);
    probe(Host::local_host(), "frontend", "", r);
    std::vector<std::string> reached;
    for (const auto& n : names) {
        Host& h = Host::get(n);
        if (h.local()) continue;
        try {
            h.run({"true"}, RunOptions{.timeout_s = 30, .what = "ssh"});
        } catch (const DriverError& e) {
            r.problem(n, std::string("cannot run commands over ssh: ") + e.what(),
                      "add the front-end's key to " + n + ":~/.ssh/authorized_keys and " + n +
                          "'s host key to known_hosts (ssh " + n + " once), check SSH='" + config().get("SSH") + "'");
            continue;
        }
        reached.push_back(n);
        probe(h, n, config().get("REMOTE_ONESTOR"), r);
    }
    // The ssh driver's host-to-host moves: with HOST_TO_HOST=direct each host uses its own ssh.
    if (reached.size() > 1 && config().get("HOST_TO_HOST") != "relay") {
        for (const auto& from : reached)
            for (const auto& to : reached) {
                if (from == to) continue;
                // Through a fixed script: ssh's own exit status 255 would read as the
                // front-end's connection to `from` failing.
                Argv a = {"sh", "-c", scripts::kExitStatus, "onestor-doctor"};
                for (const auto& w : config().get_words("HOST_SSH")) a.push_back(w);
                a.insert(a.end(), {"-o", "BatchMode=yes", "-o", "ConnectTimeout=15", to, "true"});
                Result res = Host::get(from).run(a, RunOptions{.timeout_s = 30, .check = false});
                if (res.status != 0 || res.out.find("exit ") != std::string::npos)
                    r.problem(from,
                              "cannot ssh to " + to + " (" + failure_reason(res.out.substr(0, res.out.rfind("exit "))) +
                                  "): the ssh driver's direct host-to-host moves need it",
                              "the same ~oneadmin/.ssh key pair and known_hosts on every host, or HOST_TO_HOST=relay");
                else
                    r.ok(from, "reaches " + to + " with HOST_SSH");
            }
    }
    out = r.out + (r.problems ? std::to_string(r.problems) + " problem(s)\n" : "no problems\n");
    return r.problems ? 1 : 0;
}

}  // namespace onestor::cli
