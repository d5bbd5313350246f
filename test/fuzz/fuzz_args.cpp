// argv as oned (or a shell user) gives it: cli dispatch (program path -> kind, driver,
// action) then Args::parse with that action's spec from the registry. Input: one word a
// line, the first the program path; after an empty line, the text stdin would hold (the
// 6.8+ DS form reads the dump there). Only DriverError may escape.
#include "onestor/args.hpp"
#include "onestor/cli.hpp"
#include "onestor/error.hpp"
#include "onestor/registry.hpp"

#include <cstdint>
#include <string>
#include <vector>

using namespace onestor;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string in(reinterpret_cast<const char*>(data), size);
    auto blank = in.find("\n\n");
    const std::string head = in.substr(0, blank), stdin_text = blank == std::string::npos ? "" : in.substr(blank + 2);
    std::vector<std::string> argv;
    for (size_t start = 0;;) {
        auto nl = head.find('\n', start);
        argv.push_back(head.substr(start, nl == std::string::npos ? std::string::npos : nl - start));
        if (nl == std::string::npos) break;
        start = nl + 1;
    }
    try {
        cli::Parsed p = cli::parse(argv);
        if (p.what != cli::Parsed::What::Action) return 0;  // meta commands act on the system
        if (p.action_help) {
            (void)cli::action_help(p.inv);
            return 0;
        }
        const Action* a = Registry::find(p.inv.kind, p.inv.action);
        if (!a) std::abort();  // cli::parse promised a registered action
        Args args = Args::parse(a->args, p.inv.args, p.inv.full_action(), [&] { return stdin_text; });
        for (const auto& s : a->args) {
            if (s.kind == ArgKind::HostPath) (void)args.path(s.name);
            if (s.kind == ArgKind::DsDump) (void)args.dump();
        }
    } catch (const DriverError&) {}
    return 0;
}
