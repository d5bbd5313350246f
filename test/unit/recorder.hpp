// A recording runner for unit tests: installed while it lives (the command-runner seam of
// exec.hpp), it notes every command onestor runs -- per host, in order, the exact argv
// (for a batch its commands step by step, as the script sends them) -- and answers each
// from `respond`: a Result, or nothing to run it for real (a local command) or to answer
// "done, no output" (a remote one). A batch is answered command by command, as the script
// on the host would: outputs framed by NULs, the first failure named on stderr.
#pragma once
#include "onestor/dry_run.hpp"
#include "onestor/error.hpp"
#include "onestor/exec.hpp"

#include <poll.h>
#include <unistd.h>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace onestor::test {

class Recorder : public Runner {
public:
    // host "" is the front-end.
    using Responder = std::function<std::optional<Result>(const std::string& host, const Argv& argv)>;

    // A pipeline (`a | b`, each end on its host) is answered as one: by pipe_responder
    // when set (given the whole Command), else as `a` alone.
    using PipeResponder = std::function<std::optional<Result>(const Command& c)>;

    explicit Recorder(Responder r = {}, PipeResponder p = {})
        : respond_(std::move(r)), respond_pipe_(std::move(p)), prev_(set_runner(this)) {}
    ~Recorder() override { set_runner(prev_); }
    Recorder(const Recorder&) = delete;
    Recorder& operator=(const Recorder&) = delete;

    // One line per command ("host01: mkdir -p -- /x"); a batch is "host01: batch" followed
    // by its commands indented, "--" between steps, "undo: ..." where a step has one.
    std::vector<std::string> log;
    std::map<std::string, int> remote;  // commands sent per host (a batch or pipe is one)
    bool recording = true;              // off: answered, not noted (a case's set-up)

    Result run(const Command& c) override {
        std::string who = c.host.empty() ? "frontend" : c.host;
        if (recording && !c.host.empty()) ++remote[c.host];
        if (recording && !c.pipe_to.empty() && !c.pipe_host.empty() && c.pipe_host != c.host) ++remote[c.pipe_host];
        if (!c.batch.empty()) {
            note(who + ": batch");
            Result r;
            for (size_t s = 0, n = 0; s < c.batch.size(); ++s) {
                if (s > 0) note("    --");
                for (const auto& cmd : c.batch[s].commands) {
                    note("    " + render(cmd));
                    Result one = answer(c.host, cmd, c.opts);
                    r.err += one.err;
                    if (one.status != 0) {
                        if (!c.batch[s].undo.empty()) answer(c.host, c.batch[s].undo, c.opts);
                        r.status = 1;
                        r.err += "onestor: failed command " + std::to_string(n) + "\n";
                        return r;
                    }
                    r.out += one.out;
                    ++n;
                }
                if (!c.batch[s].undo.empty()) note("    undo: " + render(c.batch[s].undo));
                r.out += '\0';
            }
            return r;
        }
        // (a batch is noted step by step as it is answered: a failure ends it; the rest as a plan shows it)
        if (!c.pipe_to.empty()) {
            note(dry_run::describe(c).front());
            if (auto r = respond_pipe_ ? respond_pipe_(c) : std::nullopt) return *r;
            if (auto r = respond_ ? respond_(c.host, c.argv) : std::nullopt) return *r;
            return {};
        }
        note(dry_run::describe(c).front());
        return answer(c.host, c.argv, c.opts);
    }

private:
    void note(const std::string& line) {
        if (recording) log.push_back(line);
    }
    Result answer(const std::string& host, const Argv& argv, const RunOptions& opts) {
        // A host reads what it is sent before it answers (a writer of a pipe would block); a
        // writer that keeps its end open while the host works (a bridge's tie) sends no end.
        if (!host.empty() && opts.stdin_fd >= 0) {
            char buf[65536];
            pollfd p{opts.stdin_fd, POLLIN, 0};
            while (::poll(&p, 1, 200) > 0 && ::read(opts.stdin_fd, buf, sizeof buf) > 0) {}
        }
        if (auto r = respond_ ? respond_(host, argv) : std::nullopt) {
            if (opts.check && r->status != 0)
                throw DriverError((opts.what.empty() ? render(argv) : opts.what) + ": " + failure_reason(r->err), r->err);
            return *r;
        }
        if (!host.empty()) return {};
        RunOptions o = opts;
        return real_runner().run({.argv = argv, .opts = o});
    }

    Responder respond_;
    PipeResponder respond_pipe_;
    Runner* prev_;
};

}  // namespace onestor::test
