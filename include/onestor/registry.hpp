// The static registry of actions and backends. Each action file ends in Register objects
// (one line an action); main() dispatches an Invocation to the Action for (kind, name),
// which runs the entry of the driver's table for it (Call::op). The tables are handed
// here by src/backends/list.cpp (RegisterBackends); nothing in core names a backend.
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

    // The table of the driver named by inv.driver; unsupported() when it has no inv.action.
    const DsTable& ds() const;
    const TmTable& tm() const;
    // Its entry for this call (the .suffix variant when the table has one), of shape Sig.
    template <class Sig>
    const std::function<Sig>& op() const {
        const Table& t = inv.kind == Kind::Ds ? ds() : tm();
        return t.entry(inv.action, inv.suffix).as<Sig>(inv.driver, inv.full_action());
    }
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

// The driver tables, in the order given (src/backends/list.cpp holds the one
// RegisterBackends object; each function returns a table built on first use).
struct RegisterBackends {
    RegisterBackends(std::vector<const DsTable& (*)()> ds, std::vector<const TmTable& (*)()> tm);
};
const std::vector<const DsTable*>& ds_backends();
const std::vector<const TmTable*>& tm_backends();
const DsTable* find_ds_backend(const std::string& name);
const TmTable* find_tm_backend(const std::string& name);
// A TM driver name read from a template (DISK/TM_MAD) or an argument, returned when it is
// [a-z0-9_]+ and a registered backend or a plain directory REMOTES_DIR/tm/<name> (not a
// symlink); refused otherwise, since it becomes part of a path that is run.
std::string valid_tm_name(const std::string& name);

// `onestor bridge ACTION ID RELEASE` (hidden, run by onestor itself): a BRIDGE_LIST host's
// side of an fs DS action, the action data on stdin, its result printed for the front-end
// (src/backends/bridge.cpp).
int serve_bridge(const std::vector<std::string>& words, std::string& out);

}  // namespace onestor
