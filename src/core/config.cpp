#include "onestor/config.hpp"

#include "onestor/error.hpp"
#include "onestor/numbers.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace onestor {
// Every setting, its default and what it means: the one table behind the defaults, the
// environment overrides, `onestor config-template` (/etc/one/onestor.conf of the package)
// and the man page, so none of them can drift from what the binary reads.
const std::vector<Setting>& settings() {
    static const std::vector<Setting> t = {
        {"PROTOCOL", "", "caller profile: empty detects oned's release from remotes/VERSION; 5, 6, 7 or X.Y[.Z] force one"},
        {"SSH", "ssh", "ssh command and options (words, no shell)"},
        {"SSH_CONNECT_TIMEOUT", "15", "seconds"},
        {"SSH_CONTROL_PERSIST", "70",
         "keep one ssh connection per host that many seconds, shared across actions (OpenNebula's own ssh set-up for "
         "oneadmin keeps 70 s); 0: one per action"},
        {"REMOTE_ONESTOR", "/var/tmp/one/onestor",
         "onestor on the hosts (onehost sync copies the remotes tree there); used by ssh transfers"},
        {"REMOTE_ONESTOR_INSTALL", "yes",
         "yes: a transfer that finds no onestor at REMOTE_ONESTOR on a host copies this binary there (kept only "
         "when it runs there); no: fall back to tar -S (no checksum)"},
        {"HOST_TO_HOST", "direct", "direct: hosts stream to each other with their own ssh; relay: via the front-end"},
        {"HOST_SSH", "ssh", "how a host reaches another host (direct mode)"},
        {"LIMIT_TRANSFER_BW", "", "cap of each transfer stream in bytes/s, e.g. 50M (empty: none)"},
        {"DOWNLOAD_CA_FILE", "", "CA bundle for https:// sources (empty: the system CAs)"},
        {"DOWNLOAD_PROXY", "", "proxy URL for downloads (empty: the *_proxy environment)"},
        {"DOWNLOAD_RETRIES", "5", "retries of a download after a transient failure"},
        {"DOWNLOAD_CONNECT_TIMEOUT", "30", "seconds to connect to a download's server"},
        {"DOWNLOAD_LOW_SPEED_TIME", "60", "seconds under 1 KiB/s before a download attempt is abandoned"},
        {"MAX_DOWNLOAD_SIZE", "", "largest downloaded image, e.g. 100G (empty: the datastore's free space)"},
        {"PROGRESS_INTERVAL", "5", "seconds between INFO progress lines of copies and downloads"},
        {"S3_ENDPOINT", "", "s3:// sources without keys in their template: endpoint (empty: AWS for the region)"},
        {"S3_REGION", "", "s3:// sources: region"},
        {"S3_ACCESS_KEY_ID", "", "s3:// sources: access key"},
        {"S3_SECRET_ACCESS_KEY", "", "s3:// sources: secret key"},
        {"QEMU_IMG", "qemu-img", "qemu-img command"},
        {"QCOW2_OPTIONS", "", "extra qemu-img create options for qcow2 overlays"},
        {"QCOW2_STANDALONE", "no", "qcow2 clone: a full copy instead of an overlay"},
        {"SPARSE", "yes", "no: VM disks get all their space at deploy and resize (thick), as a disk's SPARSE=NO asks (7.x)"},
        {"LVM_SUDO", "sudo -n", "fs_lvm: prefix of the LVM commands on the hosts (empty when oned's user runs them itself)"},
        {"LVM_THIN_ENABLE", "no", "fs_lvm: VM disks as thin volumes in a pool per VM (snapshots); DISK/LVM_THIN_ENABLE wins"},
        {"ZERO_LVM_ON_CREATE", "yes", "fs_lvm: zero what a new linear LV's image does not cover"},
        {"ZERO_LVM_ON_DELETE", "yes", "fs_lvm: zero a linear LV before removing it"},
        {"VIRSH", "virsh", "virsh command (live qcow2 actions)"},
        {"LIBVIRT_URI", "qemu:///system", "libvirt URI for live qcow2 actions"},
        {"MKSWAP", "mkswap", "mkswap command"},
        {"MKISOFS", "genisoimage", "ISO maker (\"xorriso -as mkisofs\" works)"},
        {"ONEVM", "onevm", "how TM actions read the VM document"},
        {"ONEDATASTORE", "onedatastore", "how TM actions read the datastore document"},
        {"FRONTEND", "",
         "extra names of the front-end (besides its hostname, FQDN, localhost and its addresses): no ssh for them"},
        {"DATASTORE_LOCATION", "/var/lib/one/datastores", "used when a dump has no BASE_PATH; every TM path must lie under it"},
        {"REMOTES_DIR", "/var/lib/one/remotes", "where other TMs live (pre/postmigrate hand-off)"},
        {"LOCK_DIR", "/var/lock/one", "locks that serialise racing actions"},
        {"LOCK_TIMEOUT", "120", "seconds to wait for a lock (a timeout is an error)"},
        {"COMMAND_TIMEOUT", "0", "seconds for a command (0: no limit)"},
        {"COPY_TIMEOUT", "0", "seconds for a data copy (0: no limit)"},
        {"SUPPORTED_FS", "ext2,ext3,ext4,xfs", "filesystems mkfs/mkimage may create (options: FS_OPTS_<fs>)"},
        {"CEPH_TIMEOUT", "30", "ceph: seconds the rbd/ceph tools wait to reach the cluster and for each operation"},
        {"CEPH_TRASH", "no",
         "ceph: a removed image or VM disk goes to its pool's trash (flattened, then rbd trash move), as upstream's CEPH_TRASH; "
         "the datastore's (DS) or disk's (TM) CEPH_TRASH overrides it"},
        {"DRY_RUN", "no",
         "yes: every action only reports what it would do (as --dry-run) and fails, so that oned takes nothing for "
         "done"},
        {"DEBUG", "no", "yes: DEBUG lines, including every command run"},
    };
    return t;
}

namespace {

const std::map<std::string, std::string>& defaults() {
    static const std::map<std::string, std::string> d = [] {
        std::map<std::string, std::string> m;
        for (const auto& s : settings()) m[s.key] = s.default_value;
        return m;
    }();
    return d;
}

std::string trim(const std::string& s) {
    auto b = s.find_first_not_of(" \t\r");
    if (b == std::string::npos) return {};
    auto e = s.find_last_not_of(" \t\r");
    return s.substr(b, e - b + 1);
}

}  // namespace

std::map<std::string, std::string> Config::parse(const std::string& text) {
    std::map<std::string, std::string> out;
    std::istringstream in(text);
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
        ++n;
        line = trim(line);
        if (line.empty() || line[0] == '#') continue;
        if (line.rfind("export ", 0) == 0) line = trim(line.substr(7));
        auto eq = line.find('=');
        if (eq == std::string::npos || eq == 0)
            throw DriverError("bad configuration line " + std::to_string(n) + ": " + quoted(line));
        std::string key = trim(line.substr(0, eq));
        std::string val = trim(line.substr(eq + 1));
        if (val.size() >= 2 && (val.front() == '"' || val.front() == '\'') && val.back() == val.front())
            val = val.substr(1, val.size() - 2);
        out[key] = val;
    }
    return out;
}

Config Config::from_text(const std::string& text) {
    Config c;
    c.values_ = defaults();
    for (auto& [k, v] : parse(text)) c.values_[k] = v;
    return c;
}

Config Config::load() {
    const char* path = std::getenv("ONESTOR_CONF");
    std::string text;
    std::string file = path && *path ? path : "/etc/one/onestor.conf";
    std::ifstream f(file);
    if (f) {
        std::stringstream ss;
        ss << f.rdbuf();
        text = ss.str();
    } else if (path && *path) {
        throw DriverError("cannot read configuration file " + quoted(file));
    }
    Config c = from_text(text);
    for (auto& [k, v] : defaults()) {
        (void)v;
        if (const char* e = std::getenv(("ONESTOR_" + k).c_str())) c.values_[k] = e;
    }
    return c;
}

std::string Config::get(const std::string& key) const {
    auto it = values_.find(key);
    return it == values_.end() ? std::string{} : it->second;
}

long Config::get_int(const std::string& key) const {
    // Every numeric setting is a count of seconds or a protocol number: an int (callers
    // narrow it to int), never negative.
    return static_cast<long>(parse_number(get(key), 0, INT32_MAX, "configuration " + key));
}

bool Config::get_bool(const std::string& key) const {
    std::string v = get(key);
    for (auto& ch : v) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return v == "yes" || v == "true" || v == "1" || v == "on";
}

std::vector<std::string> Config::get_words(const std::string& key) const {
    std::vector<std::string> words;
    std::istringstream in(get(key));
    std::string w;
    while (in >> w) words.push_back(w);
    if (words.empty()) throw DriverError("configuration " + key + " names no command");
    return words;
}

std::vector<std::string> Config::get_words_or_empty(const std::string& key) const {
    std::vector<std::string> words;
    std::istringstream in(get(key));
    std::string w;
    while (in >> w) words.push_back(w);
    return words;
}

Config& config() {
    static Config c = Config::from_text("");
    return c;
}

}  // namespace onestor
