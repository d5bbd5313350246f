// Running programs: always from an argv vector (posix_spawnp), never through a shell with
// input in it. Output is captured; a timeout and SIGTERM/SIGINT end the child's process group.
#pragma once
#include <string>
#include <vector>

namespace onestor {

using Argv = std::vector<std::string>;

// Resource limits set in the child before it execs (setrlimit; 0: none). For tools that
// parse untrusted bytes (qemu-img on an image a user gave or a guest wrote): a crafted
// header that makes them allocate or loop without end is stopped by the kernel.
struct Limits {
    unsigned long long address_space = 0;  // bytes (RLIMIT_AS)
    unsigned long long cpu_s = 0;          // seconds of CPU time (RLIMIT_CPU)
};

struct RunOptions {
    int timeout_s = 0;     // 0: no limit
    int stdin_fd = -1;     // -1: /dev/null
    int stdout_fd = -1;    // -1: capture into Result::out
    bool check = true;     // throw DriverError on a non-zero exit
    std::string what;      // reason prefix for the error ("cannot copy 'x'")
    bool cleanup = false;  // a clean-up step: runs even after SIGTERM was received
    Limits limits;         // rlimits of the child (on a remote host: ulimit, see Host)
    // The program speaks the driver protocol (our own onestor, our fixed transfer scripts,
    // another TM driver): the first error block in its stderr is its reason. Any other
    // program's stderr is data, never searched for one (see failure_reason).
    bool error_blocks = false;
    // The command changes nothing (a question: exists, info, list): a dry run runs it too.
    bool asks = false;
};

struct Result {
    int status = 0;  // exit code; 128+signal when killed
    std::string out, err;
};

// Runs argv; with check, a failure throws DriverError("<what>: <failure_reason>").
Result run(const Argv& argv, const RunOptions& opts = {});

// Runs `producer | consumer` locally (each an argv, e.g. two ssh commands), with the
// options applied to the consumer. A failure names the side that failed first.
Result run_pipe(const Argv& producer, const Argv& consumer, const RunOptions& opts = {});

// ---- The command-runner seam ----------------------------------------------------------
// Every external command onestor runs -- a process here, a pipeline, a command or a batch
// on a host -- is handed as one Command to the current Runner. The real runner (the
// default) spawns it, for a host through ssh and the wrapper that ties it to this
// process (host.cpp); unit tests install a recording runner that notes each command and
// answers from canned results (test/unit/recorder.hpp), so an action's exact argv per
// host can be checked without hosts. What a Command means, and the checks on its result,
// stay with the callers (run(), Host::run, Host::batch ...), whichever runner answers.
struct BatchStep {
    std::vector<Argv> commands;  // run in order; the first failure ends the batch
    Argv undo;                   // run when one of them fails (may be empty)
};
struct Command {
    std::string host;       // "": a process on the front-end; else the host it runs on
    Argv argv;              // the argv here, or the words run there (each quoted once)
    std::string pipe_host;  // with pipe_to: where the consumer runs ("": the front-end)
    Argv pipe_to;           // non-empty: `argv | pipe_to`, the status pipe_to's
    // A host's batch (Host::batch): argv is {"sh", "-c", script}, the script built from
    // these steps; its stdout is each step's output followed by a NUL, and a failure
    // names its command on stderr ("onestor: failed command N").
    std::vector<BatchStep> batch;
    RunOptions opts;
};
class Runner {
public:
    virtual ~Runner() = default;
    virtual Result run(const Command& c) = 0;
};
Runner& runner();               // the current one
Runner* set_runner(Runner* r);  // installs r (nullptr: the real one); returns the previous
Runner& real_runner();          // (host.cpp: it knows how to reach a host)
// The real runner's local work, for it alone: everyone else calls run()/run_pipe().
Result spawn(const Argv& argv, const RunOptions& opts);
Result spawn_pipe(const Argv& producer, const Argv& consumer, const RunOptions& opts);

// The one line that says why a program failed, from its stderr: with error_blocks (the
// program is onestor or one of our fixed scripts: RunOptions::error_blocks) the message
// inside its first error block when there is one; else the last line that says something.
// A tool's stderr is never searched for a block: qemu-img echoes names out of image
// headers, and a guest could write the text oned shows.
std::string failure_reason(const std::string& err, bool error_blocks = false);

// The path of this running onestor (/proc/self/exe), to run it again.
std::string self_exe();

// Renders argv for logs and messages (quoted the same way as for a remote shell).
std::string render(const Argv& argv);

// THE audited quoting function: one word for a POSIX shell (used only to cross ssh).
// Every byte stays literal: the word is wrapped in single quotes, each ' becomes '\''.
std::string shell_quote(const std::string& word);
// Each word quoted, joined with spaces: what ssh sends to the remote shell.
std::string shell_join(const Argv& argv);

// SIGTERM/SIGINT: set a flag that long loops and run() check; they throw DriverError, so
// every RAII guard on the way to main cleans up. Installed once by main.
void install_signal_handlers();
bool interrupted();
void check_interrupted();  // throws DriverError("interrupted by signal N")

// While one exists, the signal is not acted on: every command runs as a clean-up step
// (RunOptions::cleanup) and lock waits go on. A guard that undoes an action after SIGTERM
// (removing the volume it made) opens one, so the commands that undo it still run.
class CleanupScope {
public:
    CleanupScope();
    ~CleanupScope();
    CleanupScope(const CleanupScope&) = delete;
    CleanupScope& operator=(const CleanupScope&) = delete;
};

}  // namespace onestor
