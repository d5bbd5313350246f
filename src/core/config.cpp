#include "onestor/config.hpp"

#include "onestor/error.hpp"
#include "onestor/numbers.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace onestor {
namespace {

const std::map<std::string, std::string>& defaults() {
    static const std::map<std::string, std::string> d = {
        {"PROTOCOL", ""},                           // caller profile: "" detect (remotes/VERSION), 5, 6, 7, X.Y
        {"SSH", "ssh"},                             // command and options, like upstream's $SSH
        {"SSH_CONNECT_TIMEOUT", "15"},              // seconds
        {"SSH_CONTROL_PERSIST", "0"},               // >0: keep a shared connection that long after an action
        {"REMOTE_ONESTOR", "/var/tmp/one/onestor"}, // onestor on the hosts (oned copies remotes there)
        {"HOST_TO_HOST", "direct"},                 // direct: hosts stream to each other; relay: via the front-end
        {"HOST_SSH", "ssh"},                        // how a host reaches another host (direct mode)
        {"LIMIT_TRANSFER_BW", ""},                  // e.g. 50M: cap of each transfer stream, bytes/s
        {"DOWNLOAD_CA_FILE", ""},                   // CA bundle for https:// sources ("": the system CAs)
        {"DOWNLOAD_PROXY", ""},                     // proxy URL for downloads ("": the *_proxy environment)
        {"DOWNLOAD_RETRIES", "5"},                  // retries of a download after a transient failure
        {"DOWNLOAD_CONNECT_TIMEOUT", "30"},         // seconds
        {"DOWNLOAD_LOW_SPEED_TIME", "60"},          // seconds under 1 KiB/s before an attempt is abandoned
        {"MAX_DOWNLOAD_SIZE", ""},                  // e.g. 100G: largest downloaded image ("": the free space)
        {"PROGRESS_INTERVAL", "5"},                 // seconds between INFO progress lines of copies and downloads
        {"S3_ENDPOINT", ""},                        // s3:// sources without keys in their templates:
        {"S3_REGION", ""},                          //   endpoint ("": AWS for the region), region,
        {"S3_ACCESS_KEY_ID", ""},                   //   and keys
        {"S3_SECRET_ACCESS_KEY", ""},
        {"QEMU_IMG", "qemu-img"},
        {"QCOW2_OPTIONS", ""},                      // extra qemu-img create options for overlays
        {"QCOW2_STANDALONE", "no"},                 // qcow2 clone: full copy instead of an overlay
        {"LVM_SUDO", "sudo -n"},                    // fs_lvm: prefix of LVM commands on the hosts ("" as root)
        {"LVM_THIN_ENABLE", "no"},                  // fs_lvm: thin volumes (snapshots) unless DISK/LVM_THIN_ENABLE says
        {"ZERO_LVM_ON_CREATE", "yes"},              // fs_lvm: zero what the image does not cover (linear LVs)
        {"ZERO_LVM_ON_DELETE", "yes"},              // fs_lvm: zero a linear LV before removing it
        {"VIRSH", "virsh"},
        {"LIBVIRT_URI", "qemu:///system"},
        {"MKSWAP", "mkswap"},
        {"MKISOFS", "genisoimage"},                 // or "xorriso -as mkisofs"
        {"ONEVM", "onevm"},
        {"ONEDATASTORE", "onedatastore"},
        {"FRONTEND", ""},                           // extra names of this host (besides hostname, localhost)
        {"DATASTORE_LOCATION", "/var/lib/one/datastores"},
        {"REMOTES_DIR", "/var/lib/one/remotes"},     // where other TMs live (migrate_other)
        {"LOCK_DIR", "/var/lock/one"},
        {"LOCK_TIMEOUT", "120"},                    // seconds to wait for a lock
        {"COMMAND_TIMEOUT", "0"},                   // seconds for a short command (0: none)
        {"COPY_TIMEOUT", "0"},                      // seconds for a data copy (0: none)
        {"SUPPORTED_FS", "ext2,ext3,ext4,xfs"},     // mkfs FS / FSTYPE values
        {"CEPH_TIMEOUT", "30"},                     // ceph: seconds to reach the cluster and per operation
        {"DEBUG", "no"},
    };
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
