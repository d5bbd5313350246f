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
    int timeout_s = 0;          // 0: no limit
    int stdin_fd = -1;          // -1: /dev/null
    int stdout_fd = -1;         // -1: capture into Result::out
    bool check = true;          // throw DriverError on a non-zero exit
    std::string what;           // reason prefix for the error ("cannot copy 'x'")
    bool cleanup = false;       // a clean-up step: runs even after SIGTERM was received
    Limits limits;              // rlimits of the child (on a remote host: ulimit, see Host)
    // The program speaks the driver protocol (our own onestor, our fixed transfer scripts,
    // another TM driver): the first error block in its stderr is its reason. Any other
    // program's stderr is data, never searched for one (see failure_reason).
    bool error_blocks = false;
};

struct Result {
    int status = 0;             // exit code; 128+signal when killed
    std::string out, err;
};

// Runs argv; with check, a failure throws DriverError("<what>: <failure_reason>").
Result run(const Argv& argv, const RunOptions& opts = {});

// Runs `producer | consumer` locally (each an argv, e.g. two ssh commands), with the
// options applied to the consumer. A failure names the side that failed first.
Result run_pipe(const Argv& producer, const Argv& consumer, const RunOptions& opts = {});

// The one line that says why a program failed, from its stderr: with error_blocks (the
// program is onestor or one of our fixed scripts: RunOptions::error_blocks) the message
// inside its first error block when there is one; else the last line that says something.
// A tool's stderr is never searched for a block: qemu-img echoes names out of image
// headers, and a guest could write the text oned shows.
std::string failure_reason(const std::string& err, bool error_blocks = false);

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
