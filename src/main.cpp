// main: the only place that turns a result into stdout, and a DriverError into the error
// block oned reads (5.x markers, or the plain 6.2+ form) and a non-zero exit.
#include "onestor/cli.hpp"
#include "onestor/config.hpp"
#include "onestor/error.hpp"
#include "onestor/exec.hpp"
#include "onestor/host.hpp"
#include "onestor/io.hpp"
#include "onestor/log.hpp"
#include "onestor/profile.hpp"

#include <cstdio>
#include <unistd.h>

using namespace onestor;

namespace {

void error_block(const DriverError& e) {
    std::fflush(stdout);
    std::fputs(profile::error_text(e.what(), e.detail(), log::action()).c_str(), stderr);
}

// The caller's release: remotes/VERSION beside the program (or PROTOCOL). `shape` refines
// the fallback once the invocation is known; the note is printed then only.
void choose_profile(const std::string& argv0, profile::Shape shape, bool note) {
    std::string self;
    char buf[4096];
    ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n > 0) self.assign(buf, static_cast<size_t>(n));
    auto d = profile::detect(config().get("PROTOCOL"), profile::remotes_dirs_of(argv0, self), shape);
    profile::current() = d.profile;
    if (note && !d.note.empty()) log::info(d.note);
}

// A DS action (and tm monitor, which oned calls through the DS driver) with its dump on argv
// comes from a release before 6.8; with only the id, from 6.8 or later.
profile::Shape shape_of(const Invocation& inv) {
    if (inv.kind == Kind::Tm && inv.action != "monitor") return profile::Shape::Unknown;
    return inv.args.size() >= 2 ? profile::Shape::DumpOnArgv : profile::Shape::DumpOnStdin;
}

std::string read_stdin() {
    std::string s = io::read_capped(0, io::kMaxStdin, "the action data on stdin");
    if (s.find_first_not_of(" \n\r\t") == std::string::npos) throw DriverError("the action data is empty (expected on stdin)");
    return s;
}

}  // namespace

int main(int argc, char** argv) {
    install_signal_handlers();
    int rc = 0;
    try {
        config() = Config::load();
        log::set_debug(config().get_bool("DEBUG"));
        choose_profile(argv[0], profile::Shape::Unknown, false);
        cli::Parsed p = cli::parse(std::vector<std::string>(argv, argv + argc));
        std::string out;
        if (p.what == cli::Parsed::What::Meta) {

            rc = cli::run_meta(p.meta, out);
            std::fputs(out.c_str(), rc == 0 ? stdout : stderr);
            return rc;
        }
        log::set_action(p.inv.full_action());
        if (!p.action_help) choose_profile(argv[0], shape_of(p.inv), true);
        if (p.action_help) {
            std::fputs(cli::action_help(p.inv).c_str(), stdout);
            return 0;
        }
        const Action* action = Registry::find(p.inv.kind, p.inv.action);
        Call call{p.inv, Args::parse(action->args, p.inv.args, p.inv.full_action(), read_stdin), {}};
        if (call.inv.kind == Kind::Ds && call.inv.driver.empty()) {
            call.inv.driver = call.args.dump().datastore.ds_mad;
            if (call.inv.driver.empty()) throw DriverError("the action data names no DATASTORE/DS_MAD");
        }
        action->run(call);
        Host::close_all();
        std::fputs(call.out.c_str(), stdout);
    } catch (const DriverError& e) {
        Host::close_all();
        error_block(e);
        rc = 1;
    } catch (const std::exception& e) {
        Host::close_all();
        error_block(DriverError(std::string("internal error: ") + e.what()));
        rc = 1;
    }
    return rc;
}
