// main: the only place that turns a result into stdout, and a DriverError into the error
// block oned reads (5.x markers, or the plain 6.2+ form) and a non-zero exit.
#include "onestor/cli.hpp"
#include "onestor/config.hpp"
#include "onestor/error.hpp"
#include "onestor/exec.hpp"
#include "onestor/host.hpp"
#include "onestor/io.hpp"
#include "onestor/log.hpp"

#include <cstdio>
#include <sstream>

using namespace onestor;

namespace {

void error_block(const DriverError& e) {
    std::string msg = e.what();
    for (auto& c : msg)
        if (c == '\n' || c == '\r') c = ' ';
    if (!e.detail().empty()) {
        std::istringstream in(e.detail());
        std::string line;
        while (std::getline(in, line))
            if (!line.empty()) log::error(line);
    }
    std::fflush(stdout);
    if (config().protocol6())
        std::fprintf(stderr, "%s\n", msg.c_str());
    else
        std::fprintf(stderr, "ERROR MESSAGE --8<------\n%s\nERROR MESSAGE ------>8--\n", msg.c_str());
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
        cli::Parsed p = cli::parse(std::vector<std::string>(argv, argv + argc));
        std::string out;
        if (p.what == cli::Parsed::What::Meta) {
            rc = cli::run_meta(p.meta, out);
            // doctor's report is its output, problems or not (`onestor doctor > report`).
            std::fputs(out.c_str(), rc == 0 || p.meta[0] == "doctor" ? stdout : stderr);
            return rc;
        }
        log::set_action(p.inv.full_action());
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
