#include "onestor/dry_run.hpp"

#include "onestor/error.hpp"

#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>
#include <exception>

namespace onestor::dry_run {
namespace {

struct State {
    bool active = false, changed = false;
    std::vector<std::string> plan;
};
State& state() {
    static State s;
    return s;
}

// Notes each command; runs the questions with the runner below, answers the changes.
class PlanRunner : public Runner {
public:
    Result run(const Command& c) override {
        if (c.opts.asks) {
            if (state().changed) stale(describe(c).front());
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
}

Session::~Session() {
    set_runner(below_);
    state() = {};
}

const std::vector<std::string>& Session::plan() const { return state().plan; }
bool Session::changed() const { return state().changed; }

Runner& below() { return below_runner ? *below_runner : real_runner(); }

void note(const std::vector<std::string>& lines, bool changes) {
    State& s = state();
    // While an error unwinds the action, its guards undo what it made: no part of a plan.
    if (!s.active || std::uncaught_exceptions() > 0) return;
    s.plan.insert(s.plan.end(), lines.begin(), lines.end());
    s.changed = s.changed || changes;
}

bool skip(const std::string& what) {
    if (!active()) return false;
    note({"frontend, in-process: " + what});
    return true;
}

void stale(const std::string& question) {
    if (active() && state().changed)
        throw DriverError("its next question, " + (question.size() > 100 ? question.substr(0, 100) + "..." : question) +
                          ", may be answered otherwise once the changes above are made");
}

void ends_here(const std::string& why) {
    if (!active()) return;
    state().changed = true;  // (the plan ends: the action has not failed)
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
