// main: the only place that turns a result into stdout, and a DriverError into the error
// block oned reads (its form: protocol::profile()) and a non-zero exit.
#include "onestor/cli.hpp"
#include "onestor/config.hpp"
#include "onestor/error.hpp"
#include "onestor/exec.hpp"
#include "onestor/host.hpp"
#include "onestor/log.hpp"
#include "onestor/protocol.hpp"

#include <cstdio>
#include <sstream>

using namespace onestor;

namespace {

void error_block(const DriverError& e) {
    if (!e.detail().empty()) {
        std::istringstream in(e.detail());
        std::string line;
        while (std::getline(in, line))
            if (!line.empty()) log::error(line);
    }
    std::fflush(stdout);
    std::fputs(protocol::error_block(e.what(), protocol::profile().error).c_str(), stderr);
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
            std::fputs(out.c_str(), rc == 0 ? stdout : stderr);
            return rc;
        }
        log::set_action(p.inv.full_action());
        if (p.action_help) {
            std::fputs(cli::action_help(p.inv).c_str(), stdout);
            return 0;
        }
        const Action* action = Registry::find(p.inv.kind, p.inv.action);
        Call call{p.inv, Args::parse(action->args, p.inv.args, p.inv.full_action(), protocol::read_action_data), {}};
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
