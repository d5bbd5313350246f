#include "onestor/exec.hpp"

#include "onestor/error.hpp"
#include "onestor/log.hpp"
#include "onestor/protocol.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <sstream>
#include <thread>
#include <vector>

extern char** environ;

namespace onestor {
namespace {

volatile sig_atomic_t g_signal = 0;

void on_signal(int sig) { g_signal = sig; }

struct Fd {
    int fd = -1;
    ~Fd() { reset(); }
    void reset() {
        if (fd >= 0) ::close(fd);
        fd = -1;
    }
};

// The last line that says something: tools print warnings after the error (LVM's "WARNING:
// This metadata update is NOT backed up" follows "insufficient free space"), so a warning
// is the reason only when nothing else was said.
std::string last_line_of(const std::string& text) {
    std::istringstream in(text);
    std::vector<std::string> lines;
    for (std::string l; std::getline(in, l);) {
        auto b = l.find_first_not_of(" \r\t"), e = l.find_last_not_of(" \r\t");
        if (b != std::string::npos) lines.push_back(l.substr(b, e - b + 1));
    }
    for (auto it = lines.rbegin(); it != lines.rend(); ++it)
        if (it->rfind("WARNING:", 0) != 0) return *it;
    return lines.empty() ? std::string() : lines.back();
}

double now() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

}  // namespace

std::string failure_reason(const std::string& err, bool error_blocks) {
    if (error_blocks)
        if (auto block = protocol::first_error_block(err)) return *block;
    return last_line_of(err);
}

std::string self_exe() {
    char buf[PATH_MAX];
    ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n < 0) throw_errno("cannot find own executable", "/proc/self/exe");
    return std::string(buf, static_cast<size_t>(n));
}

void install_signal_handlers() {
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGHUP, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);  // a broken pipe is an error return, not a death
}

thread_local int g_cleanup_depth = 0;
CleanupScope::CleanupScope() { ++g_cleanup_depth; }
CleanupScope::~CleanupScope() { --g_cleanup_depth; }

bool interrupted() { return g_signal != 0 && g_cleanup_depth == 0; }

void check_interrupted() {
    if (interrupted()) throw DriverError("interrupted by signal " + std::to_string(g_signal));
}

std::string shell_quote(const std::string& word) {
    std::string q = "'";
    for (char c : word) {
        if (c == '\'')
            q += "'\\''";
        else
            q += c;
    }
    q += "'";
    return q;
}

std::string shell_join(const Argv& argv) {
    std::string s;
    for (const auto& w : argv) {
        if (!s.empty()) s += ' ';
        s += shell_quote(w);
    }
    return s;
}

std::string render(const Argv& argv) {
    std::string s;
    for (const auto& w : argv) {
        if (!s.empty()) s += ' ';
        bool plain = !w.empty() && w.find_first_not_of(
                                       "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                       "0123456789-_./:=,+@%") == std::string::npos;
        s += plain ? w : shell_quote(w);
    }
    return s;
}

namespace {
Runner* g_runner = nullptr;
}  // namespace

Runner& runner() { return g_runner ? *g_runner : real_runner(); }

Runner* set_runner(Runner* r) {
    Runner* old = g_runner;
    g_runner = r;
    return old;
}

Result run(const Argv& argv, const RunOptions& opts) {
    if (argv.empty()) throw DriverError("internal error: empty command");
    return runner().run({.argv = argv, .opts = opts});
}

Result run_pipe(const Argv& producer, const Argv& consumer, const RunOptions& opts) {
    return runner().run({.argv = producer, .pipe_to = consumer, .opts = opts});
}

Result spawn(const Argv& argv, const RunOptions& opts) {
    if (argv.empty()) throw DriverError("internal error: empty command");
    if (!opts.cleanup) check_interrupted();
    log::debug("run: " + render(argv));

    int out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
    if (opts.stdout_fd < 0 && pipe2(out_pipe, O_CLOEXEC) != 0) throw_errno("cannot create pipe for", argv[0]);
    Fd out_r{out_pipe[0]}, out_w{out_pipe[1]};
    if (pipe2(err_pipe, O_CLOEXEC) != 0) throw_errno("cannot create pipe for", argv[0]);
    Fd err_r{err_pipe[0]}, err_w{err_pipe[1]};
    Fd devnull;
    int in_fd = opts.stdin_fd;
    if (in_fd < 0) {
        devnull.fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        in_fd = devnull.fd;
    }

    std::vector<char*> cargv;
    for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);
    int out_fd = opts.stdout_fd >= 0 ? opts.stdout_fd : out_w.fd, err_fd = err_w.fd;
    // Under an address-space limit glibc gets two malloc arenas, not one per thread: each
    // reserves 64 MiB of address space, and a threaded tool (qemu-img's I/O threads) would
    // fail for want of reservations, not of memory.
    std::vector<std::string> env;
    std::vector<char*> cenv;
    if (opts.limits.address_space > 0) {
        for (char** e = environ; *e; ++e)
            if (std::strncmp(*e, "MALLOC_ARENA_MAX=", 17) != 0) env.emplace_back(*e);
        env.emplace_back("MALLOC_ARENA_MAX=2");
        for (auto& e : env) cenv.push_back(e.data());
        cenv.push_back(nullptr);
    }
    // The child reports a failed exec (its errno) through this pipe; exec closes it.
    int exec_pipe[2] = {-1, -1};
    if (pipe2(exec_pipe, O_CLOEXEC) != 0) throw_errno("cannot create pipe for", argv[0]);
    Fd exec_r{exec_pipe[0]}, exec_w{exec_pipe[1]};
    // fork, not posix_spawn: the rlimits are set in the child before exec. Between fork and
    // exec the child makes only async-signal-safe calls (another thread may hold a lock).
    pid_t pid = ::fork();
    if (pid < 0) throw_errno("cannot run", argv[0]);
    if (pid == 0) {
        // Own process group, so a timeout or our SIGTERM ends the whole pipeline it starts.
        ::setpgid(0, 0);
        struct sigaction dfl {};
        dfl.sa_handler = SIG_DFL;
        for (int sig : {SIGPIPE, SIGTERM, SIGINT, SIGHUP}) ::sigaction(sig, &dfl, nullptr);
        rlimit as{opts.limits.address_space, opts.limits.address_space}, cpu{opts.limits.cpu_s, opts.limits.cpu_s};
        if (::dup2(in_fd, 0) >= 0 && ::dup2(out_fd, 1) >= 0 && ::dup2(err_fd, 2) >= 0 &&
            (as.rlim_cur == 0 || ::setrlimit(RLIMIT_AS, &as) == 0) && (cpu.rlim_cur == 0 || ::setrlimit(RLIMIT_CPU, &cpu) == 0))
            ::execvpe(cargv[0], cargv.data(), cenv.empty() ? environ : cenv.data());
        int e = errno;
        [[maybe_unused]] ssize_t w = ::write(exec_w.fd, &e, sizeof e);
        ::_exit(127);
    }
    ::setpgid(pid, pid);  // (also here: the group exists before any kill(-pid) below)
    out_w.reset();
    err_w.reset();
    exec_w.reset();
    int exec_errno = 0;
    ssize_t got;
    while ((got = ::read(exec_r.fd, &exec_errno, sizeof exec_errno)) < 0 && errno == EINTR) {}
    if (got == sizeof exec_errno) {
        while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {}
        errno = exec_errno;
        throw_errno("cannot run", argv[0]);
    }

    Result res;
    double deadline = opts.timeout_s > 0 ? now() + opts.timeout_s : 0;
    bool timed_out = false, killed = false;
    char buf[65536];
    while (out_r.fd >= 0 || err_r.fd >= 0) {
        pollfd pfd[2];
        int n = 0;
        if (out_r.fd >= 0) pfd[n++] = {out_r.fd, POLLIN, 0};
        if (err_r.fd >= 0) pfd[n++] = {err_r.fd, POLLIN, 0};
        int pr = ::poll(pfd, n, 200);
        bool stop = interrupted() && !opts.cleanup;
        if ((stop || (deadline > 0 && now() > deadline)) && !killed) {
            timed_out = !stop;
            ::kill(-pid, SIGTERM);
            killed = true;
            // The group gets a moment to clean up, then we stop reading its output.
            for (int i = 0; i < 20 && waitpid(pid, nullptr, WNOHANG) == 0; ++i) usleep(50000);
            ::kill(-pid, SIGKILL);
            break;
        }
        if (pr <= 0) continue;
        for (int i = 0; i < n; ++i) {
            if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            ssize_t r = ::read(pfd[i].fd, buf, sizeof buf);
            bool is_out = out_r.fd == pfd[i].fd;
            if (r <= 0) {
                (is_out ? out_r : err_r).reset();
            } else {
                (is_out ? res.out : res.err).append(buf, static_cast<size_t>(r));
            }
        }
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    res.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    if (!res.err.empty()) log::debug(argv[0] + " stderr: " + failure_reason(res.err, opts.error_blocks));
    if (!opts.cleanup) check_interrupted();
    if (timed_out)
        throw DriverError((opts.what.empty() ? render(argv) : opts.what) + ": timed out after " + std::to_string(opts.timeout_s) +
                          " s");
    if (opts.check && res.status != 0) {
        std::string why = failure_reason(res.err, opts.error_blocks);
        if (why.empty()) why = "exit code " + std::to_string(res.status);
        std::string what = opts.what.empty() ? "command failed: " + render(argv) : opts.what;
        throw DriverError(what + ": " + why, res.err);
    }
    return res;
}

Result spawn_pipe(const Argv& producer, const Argv& consumer, const RunOptions& opts) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) throw_errno("cannot create pipe for", producer[0]);
    Fd rd{p[0]}, wr{p[1]};
    std::exception_ptr producer_error;
    std::thread t([&] {
        try {
            RunOptions po;
            po.timeout_s = opts.timeout_s;
            po.stdout_fd = wr.fd;
            po.what = opts.what;
            po.error_blocks = opts.error_blocks;
            spawn(producer, po);
        } catch (...) {
            producer_error = std::current_exception();
        }
        wr.reset();  // the consumer sees EOF once the producer is gone
    });
    RunOptions co = opts;
    co.stdin_fd = rd.fd;
    Result res;
    std::exception_ptr consumer_error;
    try {
        res = spawn(consumer, co);
    } catch (...) {
        consumer_error = std::current_exception();
    }
    rd.reset();  // a producer still writing gets EPIPE and ends
    t.join();
    if (consumer_error) {
        // "ended early" only echoes the producer's failure: report the producer's reason then.
        bool echo = false;
        try {
            std::rethrow_exception(consumer_error);
        } catch (const DriverError& e) {
            echo = std::string(e.what()).find("ended early") != std::string::npos ||
                   std::string(e.what()).find("does not look like a tar archive") != std::string::npos;
        } catch (...) {}
        if (echo && producer_error) std::rethrow_exception(producer_error);
        std::rethrow_exception(consumer_error);
    }
    if (producer_error) std::rethrow_exception(producer_error);
    return res;
}

void throw_errno(const std::string& what, const std::string& object) {
    throw DriverError(what + " " + quoted(object) + ": " + std::strerror(errno));
}

}  // namespace onestor
