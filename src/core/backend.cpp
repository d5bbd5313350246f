#include "onestor/backend.hpp"

#include "onestor/error.hpp"

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

std::set<std::string> Table::features() const {
    std::set<std::string> f;
    for (const auto& [key, e] : ops) f.insert(key.substr(0, key.find('.')));
    return f;
}

std::set<std::string> Table::variants(const std::string& action) const {
    std::set<std::string> v;
    for (const auto& [key, e] : ops)
        if (key.size() > action.size() + 1 && key.compare(0, action.size() + 1, action + ".") == 0)
            v.insert(key.substr(action.size() + 1));
    return v;
}

const Primitive& Table::entry(const std::string& action, const std::string& suffix) const {
    // A suffix the table has no variant for falls back to the plain action, as one_tm does.
    if (!suffix.empty())
        if (auto it = ops.find(action + "." + suffix); it != ops.end()) return it->second;
    if (auto it = ops.find(action); it != ops.end()) return it->second;
    unsupported(name, action);
}

}  // namespace onestor
