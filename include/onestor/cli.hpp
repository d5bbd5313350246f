// From argv to an Invocation (busybox style: the symlink's path names kind, driver and
// action; or `onestor ds|tm ...` from the shell), and the meta commands that are not
// driver actions: --help, --version, actions (the driver x action matrix), install-remotes.
#pragma once
#include "onestor/registry.hpp"

#include <functional>
#include <string>
#include <vector>

namespace onestor::cli {

struct Parsed {
    enum class What { Action, Meta } what = What::Action;
    Invocation inv;                 // What::Action
    bool action_help = false;       // `... ACTION --help`
    bool progress = false;          // `onestor --progress ...`: a live bar on a terminal
    bool dry_run = false;           // `onestor --dry-run ...`: the plan on stdout (dry_run.hpp)
    std::vector<std::string> meta;  // What::Meta: the words after `onestor`
};

// Throws DriverError for an unknown kind/driver/action; the DS driver may stay empty
// ("onestor ds cp DUMP ID") and is then taken from the dump.
Parsed parse(const std::vector<std::string>& argv);

// Runs a meta command, printing to `out`; returns the exit code.
int run_meta(const std::vector<std::string>& words, std::string& out);

std::string action_help(const Invocation& inv);

// `onestor --help`; the man page's synopsis is made from it.
std::string usage_text();
// Generated documents (src/core/docs.cpp), from the registry and the settings table:
// /etc/one/onestor.conf with every setting commented out at its default, and onestor(1) in roff.
std::string config_template();
std::string man_page();

// `onestor doctor [HOST...]` (src/core/doctor.cpp): one line per problem with its fix;
// returns 0 only when nothing the drivers need is missing.
int doctor(const std::vector<std::string>& hosts, std::string& out);

// Creates (idempotently) <dir>/onestor and the symlink tree for every registered
// driver and action: datastore/<ds>/<action>, tm/<tm>/<action>[.<variant>].
void install_remotes(const std::string& dir, std::string& out);
// Calls fn(kind, driver, name, supported) for every link of that tree (what doctor checks);
// `supported`: the driver's table has an entry for it (else the link answers "not supported").
void for_each_link(const std::function<void(Kind, const std::string&, const std::string&, bool)>& fn);

}  // namespace onestor::cli
