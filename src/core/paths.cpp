#include "onestor/paths.hpp"

#include "onestor/error.hpp"

#include <sys/stat.h>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <sstream>

namespace onestor {

std::string clean_path(const std::string& path, const std::string& what) {
    if (path.empty()) throw DriverError(what + " is empty");
    for (unsigned char c : path)
        if (c < 0x20 || c == 0x7f) throw DriverError(what + " " + quoted(path) + " contains a control character");
    if (path[0] != '/') throw DriverError(what + " " + quoted(path) + " is not absolute");
    std::string out;
    std::istringstream in(path);
    std::string comp;
    while (std::getline(in, comp, '/')) {
        if (comp.empty() || comp == ".") continue;
        if (comp == "..") throw DriverError(what + " " + quoted(path) + " contains '..'");
        out += "/" + comp;
    }
    return out.empty() ? "/" : out;
}

std::string dirname_of(const std::string& p) {
    auto pos = p.rfind('/');
    if (pos == std::string::npos || pos == 0) return "/";
    return p.substr(0, pos);
}

std::string basename_of(const std::string& p) {
    auto pos = p.rfind('/');
    return pos == std::string::npos ? p : p.substr(pos + 1);
}

std::string join_path(const std::string& dir, const std::string& name) {
    if (dir.empty() || dir.back() == '/') return dir + name;
    return dir + "/" + name;
}

bool within(const std::string& path, const std::string& dir) {
    if (dir == "/") return !path.empty() && path[0] == '/';
    return path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 && path[dir.size()] == '/');
}

bool strictly_within(const std::string& path, const std::string& dir) { return path != dir && within(path, dir); }

std::string valid_host(const std::string& host) {
    if (host.empty()) throw DriverError("host name is empty");
    if (host[0] == '-' || host.size() > 255) throw DriverError("invalid host name " + quoted(host));
    for (char c : host) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
                  c == '_' || c == '@';
        if (!ok) throw DriverError("invalid host name " + quoted(host));
    }
    return host;
}

HostPath HostPath::parse(const std::string& arg) {
    HostPath hp;
    auto colon = arg.find(':');
    if (colon == std::string::npos) {
        hp.path = clean_path(arg, "path");
        return hp;
    }
    hp.host = valid_host(arg.substr(0, colon));
    hp.path = clean_path(arg.substr(colon + 1), "path of " + quoted(arg));
    return hp;
}

int disk_id_of(const std::string& p) {
    std::string b = basename_of(p);
    if (b.rfind("disk.", 0) != 0 || b.size() == 5 || b.size() > 14) return -1;
    for (size_t i = 5; i < b.size(); ++i)
        if (b[i] < '0' || b[i] > '9') return -1;
    return std::stoi(b.substr(5));
}

std::string confine(const std::string& path, Confine c, long vmid, long dsid, const std::string& location,
                    const std::string& shown) {
    std::string loc = clean_path(location, "DATASTORE_LOCATION");
    std::vector<std::string> comps;  // path's components below <loc>
    if (strictly_within(path, loc)) {
        std::istringstream in(path.substr(loc == "/" ? 1 : loc.size() + 1));
        for (std::string w; std::getline(in, w, '/');) comps.push_back(w);
    }
    // <n>: a datastore id as oned writes it (digits, no leading zero)
    bool ds_ok = !comps.empty() && comps[0].size() < 10 && comps[0].find_first_not_of("0123456789") == std::string::npos &&
                 (comps[0] == "0" || comps[0][0] != '0');
    long n = ds_ok ? std::stol(comps[0]) : -1;
    bool in_vm = ds_ok && comps.size() >= 2 && comps[1] == std::to_string(vmid);
    bool disk = in_vm && comps.size() >= 3, dir = in_vm && comps.size() == 2;
    std::string vm = std::to_string(vmid), sys = std::to_string(dsid);
    bool ok = false;
    std::string want;
    switch (c) {
        case Confine::None: return {};
        case Confine::Image:
            ok = ds_ok && comps.size() >= 2;
            want = "is not an image of a datastore (expected " + loc + "/<ds id>/<name>)";
            break;
        case Confine::VmDisk:
            ok = disk;
            want = "is not a disk of VM " + vm + " (expected " + loc + "/<ds id>/" + vm + "/disk.N)";
            break;
        case Confine::VmDiskSys:
            ok = disk && n == dsid;
            want = "is not a disk of VM " + vm + " in system datastore " + sys + " (expected " + loc + "/" + sys + "/" + vm +
                   "/disk.N)";
            break;
        case Confine::VmDiskOrDir:
            ok = disk || (dir && n == dsid);
            want = "is not a disk of VM " + vm + " nor its directory (expected " + loc + "/" + sys + "/" + vm + "[/disk.N])";
            break;
        case Confine::VmDiskOrAnyDir:
            ok = disk || dir;
            want = "is not a disk of VM " + vm + " nor its directory (expected " + loc + "/<ds id>/" + vm + "[/disk.N])";
            break;
        case Confine::VmDir:
            ok = dir && n == dsid;
            want = "is not the directory of VM " + vm + " in system datastore " + sys + " (expected " + loc + "/" + sys + "/" +
                   vm + ")";
            break;
        case Confine::Datastore:
            ok = ds_ok && comps.size() == 1;
            want = "is not a datastore directory (expected " + loc + "/<ds id>)";
            break;
    }
    if (!ok) throw DriverError(quoted(shown) + " " + want);
    return loc + "/" + comps[0];
}

void confine_resolved(const std::string& path, const std::string& root, const std::string& shown) {
    char r[PATH_MAX], a[PATH_MAX];
    if (path == root) return;                  // the datastore directory itself
    if (!::realpath(root.c_str(), r)) return;  // nothing below it exists to lead anywhere
    // The deepest existing ancestor of the parent: what a mkdir -p or an open would go through.
    std::string dir = dirname_of(path);
    struct stat st {};
    while (dir != root && within(dir, root) && ::lstat(dir.c_str(), &st) != 0 && errno == ENOENT) dir = dirname_of(dir);
    if (!::realpath(dir.c_str(), a) || !within(a, r))
        throw DriverError(quoted(shown) + " leads outside its datastore " + quoted(root) + " through a symbolic link");
}

namespace {

std::vector<std::string> entries(const std::string& list) {
    std::vector<std::string> out;
    std::istringstream in(list);
    std::string w;
    while (in >> w) {
        if (w[0] != '/') continue;  // only absolute directories mean anything here
        try {
            // Both forms: paths are decided as given and canonically (a lexical path matches
            // the entry as written, a canonical one its canonical form).
            std::string c = clean_path(w, "directory");
            out.push_back(c);
            char buf[PATH_MAX];
            if (realpath(c.c_str(), buf) && c != buf) out.push_back(buf);
        } catch (const DriverError&) {}
    }
    return out;
}

size_t best(const std::vector<std::string>& dirs, const std::string& p) {
    size_t len = 0;
    bool found = false;
    for (const auto& d : dirs)
        if (within(p, d)) {
            found = true;
            len = std::max(len, d == "/" ? size_t{0} : d.size());
        }
    return found ? len + 1 : 0;  // 0: no match; otherwise 1 + specificity
}

}  // namespace

PathPolicy::PathPolicy(const std::string& restricted, const std::string& safe)
    : restricted_(entries(restricted)), safe_(entries(safe)) {
    std::string always = "/var/lib/one /etc/one";
    if (const char* home = std::getenv("HOME"); home && *home && std::string(home) != "/") always += " " + std::string(home);
    always_ = entries(always);
}

bool PathPolicy::allowed(const std::string& p) const {
    if (best(always_, p)) return false;
    size_t deny = best(restricted_, p), allow = best(safe_, p);
    return deny == 0 || allow > deny;
}

namespace {
[[noreturn]] void not_allowed(const std::string& given) {
    throw DriverError("Not allowed to copy image from " + quoted(given) +
                      " (it is restricted or does not exist), check RESTRICTED_DIRS in your datastore");
}
}  // namespace

void PathPolicy::check(const std::string& p, const std::string& given) const {
    if (!allowed(p)) not_allowed(given);
}

std::string PathPolicy::resolve(const std::string& given) const {
    return resolve(given, [](const std::string& p) {
        char buf[PATH_MAX];
        return ::realpath(p.c_str(), buf) ? std::string(buf) : std::string{};
    });
}

std::string PathPolicy::resolve(const std::string& given, const std::function<std::string(const std::string&)>& realpath) const {
    check(given, given);  // as given first: a restricted path is refused before any stat
    std::string real = realpath(given);
    if (real.empty()) not_allowed(given);  // unresolvable: the same refusal
    check(real, given);
    return real;
}

}  // namespace onestor
