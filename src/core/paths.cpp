#include "onestor/paths.hpp"

#include "onestor/error.hpp"

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
    return path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
                           path[dir.size()] == '/');
}

bool strictly_within(const std::string& path, const std::string& dir) {
    return path != dir && within(path, dir);
}

std::string valid_host(const std::string& host) {
    if (host.empty()) throw DriverError("host name is empty");
    if (host[0] == '-' || host.size() > 255) throw DriverError("invalid host name " + quoted(host));
    for (char c : host) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                  c == '-' || c == '_' || c == '@';
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

namespace {

std::vector<std::string> entries(const std::string& list) {
    std::vector<std::string> out;
    std::istringstream in(list);
    std::string w;
    while (in >> w) {
        if (w[0] != '/') continue;  // only absolute directories mean anything here
        try {
            std::string c = clean_path(w, "directory");
            char buf[PATH_MAX];
            if (realpath(c.c_str(), buf)) c = buf;  // compare like with like: canonical paths
            out.push_back(c);
        } catch (const DriverError&) {
        }
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

void PathPolicy::check(const std::string& p) const {
    if (!allowed(p))
        throw DriverError("Not allowed to copy image from " + quoted(p) + ", check RESTRICTED_DIRS in your datastore");
}

}  // namespace onestor
