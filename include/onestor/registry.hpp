// The static registry of actions. Each action file ends in Register objects (one line an
// action); main() dispatches an Invocation to the Action for (kind, name). Backends are
// listed in src/backends/list.cpp; which backend supports which action is their own
// declaration (features()), printed by `onestor actions`.
#pragma once
#include "onestor/args.hpp"
#include "onestor/backend.hpp"

#include <functional>
#include <string>
#include <vector>

namespace onestor {

enum class Kind { Ds, Tm };
std::string kind_dir(Kind k);  // "datastore" | "tm"

struct Invocation {
    Kind kind = Kind::Tm;
    std::string driver, action, suffix;  // suffix: "ssh" of "clone.ssh"
    std::vector<std::string> args;
    std::string full_action() const { return suffix.empty() ? action : action + "." + suffix; }
};

struct Call {
    Invocation inv;
    Args args;
    std::string out;  // what the action prints on success (main writes it to stdout)

    DsBackend& ds() const;  // the DS backend named by inv.driver
    TmBackend& tm() const;  // the TM backend named by inv.driver
    TmContext tm_context() const;
};

struct Action {
    Kind kind;
    std::string name;
    std::vector<ArgSpec> args;
    std::string help;  // one line: what it does
    std::function<void(Call&)> run;
};

class Registry {
public:
    static void add(Action a);
    static const Action* find(Kind kind, const std::string& name);
    static const std::vector<Action>& all();
};

struct Register {
    explicit Register(Action a) { Registry::add(std::move(a)); }
};

// Backends, in src/backends/list.cpp.
const std::vector<DsBackend*>& ds_backends();
const std::vector<TmBackend*>& tm_backends();
DsBackend* find_ds_backend(const std::string& name);
TmBackend* find_tm_backend(const std::string& name);
// A TM driver name read from a template (DISK/TM_MAD) or an argument, returned when it is
// [a-z0-9_]+ and a registered backend or a plain directory REMOTES_DIR/tm/<name> (not a
// symlink); refused otherwise, since it becomes part of a path that is run.
std::string valid_tm_name(const std::string& name);

}  // namespace onestor
