// main: the only place that turns a result into stdout, and a DriverError into the error
// block oned reads (its form: protocol::profile()) and a non-zero exit.
#include "onestor/cli.hpp"
#include "onestor/config.hpp"
#include "onestor/dry_run.hpp"
#include "onestor/error.hpp"
#include "onestor/exec.hpp"
#include "onestor/host.hpp"
#include "onestor/log.hpp"
#include "onestor/protocol.hpp"

#include <unistd.h>
#include <cstdio>
#include <functional>
#include <optional>
#include <sstream>

using namespace onestor;

namespace {

void error_block(const DriverError& e) {
    std::fflush(stdout);
    protocol::ErrorForm form = protocol::profile().error;
    // 6.2-6.10 take all of stderr as the reason: the reason first, so that it leads.
    if (form == protocol::ErrorForm::PlainFirst) std::fputs(protocol::error_block(e.what(), form).c_str(), stderr);
    if (!e.detail().empty()) {
        std::istringstream in(e.detail());
        std::string line;
        while (std::getline(in, line))
            if (!line.empty()) log::error(line);
    }
    if (form != protocol::ErrorForm::PlainFirst) std::fputs(protocol::error_block(e.what(), form).c_str(), stderr);
}

// The caller's release: remotes/VERSION beside the program (or PROTOCOL). Chosen before the
// invocation is parsed (its errors need a form), again with the call's shape once it is
// known; only then is the fallback's note printed.
void choose_profile(const std::string& argv0, protocol::Shape shape, bool note) {
    std::string self;
    try {
        self = self_exe();
    } catch (const DriverError&) {  // (no /proc: the remotes tree is then found from argv[0] alone)
    }
    auto d = protocol::detect(config().get("PROTOCOL"), protocol::remotes_dirs_of(argv0, self), shape);
    protocol::current_profile() = d.profile;
    if (note && !d.note.empty()) log::info(d.note);
}

// A DS action (and tm monitor, which oned runs through the DS driver) with its dump on argv
// comes from a release before 6.8; with the id alone, from 6.8 or later.
protocol::Shape shape_of(const Invocation& inv) {
    if (inv.kind == Kind::Tm && inv.action != "monitor") return protocol::Shape::Unknown;
    return inv.args.size() >= 2 ? protocol::Shape::DumpOnArgv : protocol::Shape::DumpOnStdin;
}

// A dry run (dry_run.hpp): its plan, in the golden files' form, then how it ended. Asked for
// with --dry-run, on stdout, with success when the plan is whole; under DRY_RUN=yes (oned's
// calls) as INFO lines and always a failure, so that oned never takes the action for done.
int dry_run_action(const std::function<std::string()>& act, bool asked_on_command_line) {
    std::vector<std::string> lines = {"# dry run: the questions were asked, the changes are only listed"};
    std::optional<DriverError> failed;
    {
        dry_run::Session s;
        std::string last;
        try {
            std::string out = act();
            last = out.empty() ? "ok" : "ok, prints: " + out.substr(0, out.find_last_not_of('\n') + 1);
        } catch (const DriverError& e) {
            if (s.changed())  // (what it read may be what the changes would make: they were not made)
                last = std::string("the plan ends here: ") + e.what();
            else
                failed = e, last = std::string("fails: ") + e.what();
        } catch (const std::exception& e) {
            failed = DriverError(std::string("internal error: ") + e.what());
            last = std::string("fails: ") + failed->what();
        }
        Host::close_all();
        lines.insert(lines.end(), s.plan().begin(), s.plan().end());
        lines.push_back("# " + last);
    }
    if (asked_on_command_line) {
        for (const auto& l : lines) std::printf("%s\n", l.c_str());
        if (failed) error_block(*failed);
        return failed ? 1 : 0;
    }
    for (const auto& l : lines) log::info(l);
    error_block(failed ? *failed : DriverError("dry run (DRY_RUN=yes): nothing was changed"));
    return 1;
}

}  // namespace

int main(int argc, char** argv) {
    install_signal_handlers();
    int rc = 0;
    try {
        config() = Config::load();
        log::set_debug(config().get_bool("DEBUG"));
        choose_profile(argv[0], protocol::Shape::Unknown, false);
        cli::Parsed p = cli::parse(std::vector<std::string>(argv, argv + argc));
        log::set_live_progress(p.progress);
        std::string out;
        if (p.what == cli::Parsed::What::Meta) {
            // A meta command's errors are read by onestor itself (send, receive, sweep on a host,
            // whose release may differ or be unknown there) or by a person: always the marked
            // block, which protocol::first_error_block finds, never a release's plain form.
            protocol::current_profile().error = protocol::ErrorForm::Markers;
            rc = cli::run_meta(p.meta, out);
            // doctor's report is its output, problems or not (`onestor doctor > report`).
            std::fputs(out.c_str(), rc == 0 || (!p.meta.empty() && p.meta[0] == "doctor") ? stdout : stderr);
            return rc;
        }
        log::set_action(p.inv.full_action());
        if (!p.action_help) choose_profile(argv[0], shape_of(p.inv), true);
        if (p.action_help) {
            std::fputs(cli::action_help(p.inv).c_str(), stdout);
            return 0;
        }
        // The action: its arguments read and checked, then run; what it prints for oned.
        auto act = [&p]() {
            const Action* action = Registry::find(p.inv.kind, p.inv.action);
            const TmTable* tm = p.inv.kind == Kind::Tm ? find_tm_backend(p.inv.driver) : nullptr;
            Call call{
                p.inv,
                Args::parse(action->args, p.inv.args, p.inv.full_action(), protocol::read_action_data, tm && tm->rbd_images),
                {}};
            if (call.inv.kind == Kind::Ds && call.inv.driver.empty()) {
                call.inv.driver = call.args.dump().datastore.ds_mad;
                if (call.inv.driver.empty()) throw DriverError("the action data names no DATASTORE/DS_MAD");
            }
            action->run(call);
            return call.out;
        };
        if (p.dry_run || config().get_bool("DRY_RUN")) return dry_run_action(act, p.dry_run);
        std::string printed = act();
        Host::close_all();
        std::fputs(printed.c_str(), stdout);
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
