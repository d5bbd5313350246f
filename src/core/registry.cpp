#include "onestor/registry.hpp"

#include "onestor/config.hpp"
#include "onestor/error.hpp"

#include <sys/stat.h>

namespace onestor {

namespace {
std::vector<Action>& actions() {
    static std::vector<Action> a;  // function-local: filled by static Register objects
    return a;
}
}  // namespace

std::string kind_dir(Kind k) { return k == Kind::Ds ? "datastore" : "tm"; }

void Registry::add(Action a) { actions().push_back(std::move(a)); }

const Action* Registry::find(Kind kind, const std::string& name) {
    for (const auto& a : actions())
        if (a.kind == kind && a.name == name) return &a;
    return nullptr;
}

const std::vector<Action>& Registry::all() { return actions(); }

DsBackend* find_ds_backend(const std::string& name) {
    for (auto* b : ds_backends())
        if (b->name() == name) return b;
    return nullptr;
}

TmBackend* find_tm_backend(const std::string& name) {
    for (auto* b : tm_backends())
        if (b->name() == name) return b;
    return nullptr;
}

std::string valid_tm_name(const std::string& name) {
    bool ok = !name.empty() && name.size() <= 64 &&
              name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") == std::string::npos;
    struct stat st {};
    if (ok && !find_tm_backend(name)) {
        std::string dir = config().get("REMOTES_DIR") + "/tm/" + name;
        ok = ::lstat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
    }
    if (!ok) throw DriverError("invalid transfer driver " + quoted(name) + ": not [a-z0-9_] or not installed");
    return name;
}

DsBackend& Call::ds() const {
    DsBackend* b = find_ds_backend(inv.driver);
    if (!b) throw DriverError("unknown datastore driver " + quoted(inv.driver));
    if (!b->features().count(inv.action)) unsupported(inv.driver, inv.action);
    return *b;
}

TmBackend& Call::tm() const {
    TmBackend* b = find_tm_backend(inv.driver);
    if (!b) throw DriverError("unknown transfer driver " + quoted(inv.driver));
    if (!b->features().count(inv.action)) unsupported(inv.driver, inv.action);
    return *b;
}

TmContext Call::tm_context() const {
    auto num = [&](const char* n) {
        try {
            return args.num(n);
        } catch (const DriverError&) {
            return -1L;
        }
    };
    // A suffix the backend has no variant for falls back to the plain action, as one_tm does.
    std::string suffix = inv.suffix;
    if (TmBackend* b = find_tm_backend(inv.driver); b && !b->variants().count(inv.full_action())) suffix.clear();
    return TmContext(inv.driver, inv.action, suffix, num("vmid"), num("dsid"));
}

}  // namespace onestor
