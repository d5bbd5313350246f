// A dry run (`onestor --dry-run ...`, DRY_RUN=yes): the action validates its arguments and
// asks its questions as always, but changes nothing. Every command it would send is noted in
// the plan, per host, in the form of the golden .argv files; a question (a command marked
// RunOptions::asks or Step::asks: exists, list, qemu-img info, rbd info ...) is also run, so
// the plan follows the real state; a change is answered "done, no output" without being
// sent. The front-end's own file operations (io.hpp's writers, a local Host's steps) are noted
// as "frontend, in-process: ..." lines and not done, and no lock is taken.
//
// A question asked after a change may be about what the change alters (the format of the
// copy, the volumes left in a pool): a dry run cannot know its answer, so the plan ends at
// the first one, with the reason; so it does where the action reads back something a change
// would have made on the front-end. Unmarked commands count as changes: a forgotten mark
// makes a plan end early, never a change happen.
#pragma once
#include "onestor/exec.hpp"

#include <string>
#include <vector>

namespace onestor::dry_run {

bool active();

// While it lives, this process makes a dry run: its runner is installed over the current one
// (which answers the questions) and the io writers note instead of writing.
class Session {
public:
    Session();
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;
    const std::vector<std::string>& plan() const;  // the lines noted so far
    bool changed() const;                          // a change was noted (later answers may be unknowable)

private:
    Runner* below_;
};

// The runner that answers the questions of the plan (the one the Session was installed over).
Runner& below();

// Notes lines of the plan; `changes`: they are a change (else a question). Nothing is noted
// while an error unwinds the action: the undo of an unfinished plan is no part of it.
void note(const std::vector<std::string>& lines, bool changes = true);
// In-process work on the front-end, noted as one "frontend, in-process: <what>" line; true
// when this is a dry run (the caller then skips the work). `changes`: false for housekeeping
// that alters nothing the action reads later (a sweep of dead writers' temps).
bool skip(const std::string& what, bool changes = true);
// A question (`question`, on `host`) after a change: the state it asks about may be what the
// change alters, so a dry run ends there (throws DriverError); nothing otherwise.
void stale(const std::string& host, const Argv& question);
// Where an action reads the answer of a change (a script that writes and reports) or works
// on files it would write, a dry run cannot go on: in one, its plan ends there with `why`
// (a DriverError; the action is not taken for failed); nothing otherwise.
void ends_here(const std::string& why);

// The plan lines of a command, as the golden files show them ("host01: batch", its commands
// indented, "--" between steps, "undo: ..." after a step that has one).
std::vector<std::string> describe(const Command& c);

}  // namespace onestor::dry_run
