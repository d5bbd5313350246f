#include "onestor/dry_run.hpp"

#include "onestor/error.hpp"
#include "onestor/log.hpp"

#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>
#include <exception>
#include <mutex>

namespace onestor::dry_run {
namespace {

struct State {
    bool active = false, changed = false, ended = false;
    std::vector<std::string> plan;
};
State& state() {
    static State s;
    return s;
}
std::mutex plan_lock;  // (a command may be run from a worker thread)

// A command as a reason shows it: a fixed script's words after the script itself.
std::string shown(const std::string& host, const Argv& a) {
    bool script = a.size() > 3 && a[0] == "sh" && a[1] == "-c";
    return host + ": " + (script ? "(script) " + render(Argv(a.begin() + 4, a.end())) : render(a));
}

// Notes each command; runs the questions with the runner below, answers the changes.
class PlanRunner : public Runner {
public:
    Result run(const Command& c) override {
        if (c.opts.asks) {
            stale(c.host.empty() ? "frontend" : c.host, c.batch.empty() ? c.argv : c.batch.front().commands.front());
            note(describe(c), false);
            return below().run(c);
        }
        note(describe(c));
        // A writer feeding the command through a pipe must not block on a reader that never runs.
        struct stat st {};
        if (c.opts.stdin_fd >= 0 && ::fstat(c.opts.stdin_fd, &st) == 0 && S_ISFIFO(st.st_mode)) {
            char buf[65536];
            pollfd p{c.opts.stdin_fd, POLLIN, 0};
            while (::poll(&p, 1, 200) > 0 && ::read(c.opts.stdin_fd, buf, sizeof buf) > 0) {}
        }
        Result r;
        r.out.assign(c.batch.size(), '\0');  // a batch: each step done, with no output
        return r;
    }
};
PlanRunner plan_runner;
Runner* below_runner = nullptr;

}  // namespace

bool active() { return state().active; }

Session::Session() {
    state() = {};
    state().active = true;
    below_runner = &runner();
    below_ = set_runner(&plan_runner);
    log::mute_info(true);  // (an action's INFO lines tell what it did)
}

Session::~Session() {
    log::mute_info(false);
    set_runner(below_);
    state() = {};
}

const std::vector<std::string>& Session::plan() const { return state().plan; }
bool Session::changed() const { return state().changed; }

Runner& below() { return below_runner ? *below_runner : real_runner(); }

void note(const std::vector<std::string>& lines, bool changes) {
    State& s = state();
    // Once the plan ended, or while an error unwinds the action, its guards undo what it
    // made: no part of a plan.
    std::lock_guard<std::mutex> hold(plan_lock);
    if (!s.active || s.ended || std::uncaught_exceptions() > 0) return;
    s.plan.insert(s.plan.end(), lines.begin(), lines.end());
    s.changed = s.changed || changes;
}

bool skip(const std::string& what, bool changes) {
    if (!active()) return false;
    note({"frontend, in-process: " + what}, changes);
    return true;
}

void stale(const std::string& host, const Argv& question) {
    if (!active() || !state().changed) return;
    std::string q = shown(host, question);
    state().ended = true;
    throw DriverError("its next question, " + (q.size() > 160 ? q.substr(0, 160) + "..." : q) +
                      ", may be answered otherwise once the changes above are made");
}

void ends_here(const std::string& why) {
    if (!active()) return;
    state().changed = state().ended = true;  // (the plan ends: the action has not failed)
    throw DriverError(why);
}

std::vector<std::string> describe(const Command& c) {
    std::string who = c.host.empty() ? "frontend" : c.host;
    if (!c.batch.empty()) {
        std::vector<std::string> l = {who + ": batch"};
        for (size_t s = 0; s < c.batch.size(); ++s) {
            if (s > 0) l.push_back("    --");
            for (const auto& cmd : c.batch[s].commands) l.push_back("    " + render(cmd));
            if (!c.batch[s].undo.empty()) l.push_back("    undo: " + render(c.batch[s].undo));
        }
        return l;
    }
    if (!c.pipe_to.empty())
        return {who + ": " + render(c.argv) + " | " + (c.pipe_host.empty() ? "frontend" : c.pipe_host) + ": " +
                render(c.pipe_to)};
    return {who + ": " + render(c.argv)};
}

}  // namespace onestor::dry_run
