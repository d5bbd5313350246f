// Over 400 lines because a Host is one object with two faces that must behave alike (the
// front-end itself, or one ssh connection with batches, tied commands and remote temps);
// splitting them would put the two halves of each primitive in different files.
#include "onestor/host.hpp"

#include "onestor/config.hpp"
#include "onestor/dry_run.hpp"
#include "onestor/error.hpp"
#include "onestor/io.hpp"
#include "onestor/lock.hpp"
#include "onestor/log.hpp"
#include "onestor/paths.hpp"
#include "onestor/scripts.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/falloc.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>
#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <sstream>

namespace onestor {
namespace {

// The remote words for argv under that wrapper.
Argv tied(const Argv& argv) {
    Argv a = {"sh", "-c", scripts::kTiedToDriver, "sh"};
    a.insert(a.end(), argv.begin(), argv.end());
    return a;
}

// The remote words that run argv under rlimits (RunOptions::limits): a fixed script,
// the limits and the command as its positional arguments (ulimit -v counts KiB; two malloc
// arenas, as exec.cpp gives a local child under an address-space limit).
Argv limited(const Argv& argv, const Limits& l) {
    if (l.address_space == 0 && l.cpu_s == 0) return argv;
    auto value = [](unsigned long long v) { return v == 0 ? std::string("unlimited") : std::to_string(v); };
    Argv a = {"sh", "-c", scripts::kLimited, "sh", value((l.address_space + 1023) / 1024), value(l.cpu_s)};
    a.insert(a.end(), argv.begin(), argv.end());
    return a;
}

// Runs a local ssh argv with stdin a pipe this process holds open until it returns.
Result run_tied(const Argv& ssh_argv, RunOptions opts) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) throw_errno("cannot create pipe for", ssh_argv[0]);
    struct Close {
        int a, b;
        ~Close() {
            ::close(a);
            ::close(b);
        }
    } guard{p[0], p[1]};
    opts.stdin_fd = p[0];
    return spawn(ssh_argv, opts);
}

std::map<std::string, std::unique_ptr<Host>>& hosts() {
    static std::map<std::string, std::unique_ptr<Host>> h;
    return h;
}

// An IP address literal assigned to one of this machine's interfaces (an address merely
// routed here, as 127.0.0.2 is by lo's /8, is another machine's).
bool is_own_address(const std::string& name) {
    unsigned char want[sizeof(in6_addr)];
    int family = inet_pton(AF_INET, name.c_str(), want) == 1    ? AF_INET
                 : inet_pton(AF_INET6, name.c_str(), want) == 1 ? AF_INET6
                                                                : 0;
    if (!family) return false;
    ifaddrs* ifs = nullptr;
    if (getifaddrs(&ifs) != 0) return false;
    bool own = false;
    for (ifaddrs* i = ifs; i && !own; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != family) continue;
        const void* a = family == AF_INET ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr)
                                          : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(i->ifa_addr)->sin6_addr);
        own = std::memcmp(a, want, family == AF_INET ? sizeof(in_addr) : sizeof(in6_addr)) == 0;
    }
    freeifaddrs(ifs);
    return own;
}

// Exact names only: a hypervisor named like the front-end's short name (or any prefix of
// it) is another machine unless FRONTEND says otherwise. The front-end is also every address
// of its own interfaces (a host given to oned by IP).
bool is_frontend(const std::string& name) {
    if (name.empty() || name == "localhost" || is_own_address(name)) return true;
    char buf[256] = {};
    if (gethostname(buf, sizeof buf - 1) == 0) {
        std::string hn = buf;
        if (name == hn) return true;
        // The FQDN when the hostname is short: asked of the resolver only for "<hostname>.<domain>".
        if (name.size() > hn.size() && name.compare(0, hn.size() + 1, hn + ".") == 0) {
            addrinfo hints{}, *res = nullptr;
            hints.ai_flags = AI_CANONNAME;
            bool same = false;
            if (getaddrinfo(hn.c_str(), nullptr, &hints, &res) == 0) {
                same = res && res->ai_canonname && name == res->ai_canonname;
                freeaddrinfo(res);
            }
            if (same) return true;
        }
    }
    std::istringstream in(config().get("FRONTEND"));
    std::string w;
    while (in >> w)
        if (w == name) return true;
    return false;
}

}  // namespace

Host& Host::get(const std::string& name) {
    // (a BRIDGE_LIST cp reads an ssh source on one thread while it talks to the bridge on another)
    static std::mutex m;
    std::lock_guard<std::mutex> guard(m);
    auto& h = hosts();
    auto it = h.find(name);
    if (it != h.end()) return *it->second;
    bool local = is_frontend(name);
    if (!local) valid_host(name);
    return *(h[name] = std::make_unique<Host>(local ? (name.empty() ? "localhost" : name) : name, local));
}

void Host::close_all() { hosts().clear(); }

namespace {
// The connection's own commands (a master started, checked, stopped): plumbing, which a
// dry run makes as any run does but never lists in its plan.
Result connect_run(const Argv& argv, const RunOptions& o) {
    return (dry_run::active() ? dry_run::below() : runner()).run({.argv = argv, .opts = o});
}

}  // namespace

Host::Host(std::string name, bool local) : name_(std::move(name)), local_(local) {}

Host::~Host() {
    if (!connected_ || shared_master_) {
        if (!shared_master_ && !control_dir_.empty()) ::rmdir(control_dir_.c_str());
        return;
    }
    try {
        Argv a = ssh_base();
        a.insert(a.end(), {"-O", "exit", name_});
        RunOptions o;
        o.check = false;
        o.timeout_s = 10;
        connect_run(a, o);
    } catch (...) {}
    ::unlink(control_path_.c_str());
    ::rmdir(control_dir_.c_str());
}

Argv Host::ssh_base() const {
    Argv a = config().get_words("SSH");
    a.insert(a.end(), {"-o", "BatchMode=yes", "-o", "ConnectTimeout=" + config().get("SSH_CONNECT_TIMEOUT"), "-o",
                       "ControlPath=" + control_path_});
    return a;
}

namespace {

// Where connections kept across actions live: one directory per user that only this user
// may enter (else another local user could put a socket of their own where our masters'
// are); "" when it is not such a directory.
std::string shared_control_dir() {
    std::string d = "/tmp/onestor-ssh-" + std::to_string(getuid());
    ::mkdir(d.c_str(), 0700);
    struct stat st {};
    if (::lstat(d.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != getuid() || (st.st_mode & 077) != 0) {
        log::info(quoted(d) + " is not a private directory of this user: no connection is kept across actions");
        return "";
    }
    return d;
}

// FNV-1a of the host's name and the ssh command's words, as a socket's name: a master made
// with other settings is never reused, and the length fits a socket's path (as ssh's %C).
std::string socket_name(const std::string& host, const Argv& words) {
    uint64_t h = 14695981039346656037ull;
    for (const auto& w : words)
        for (unsigned char c : w + '\0') h = (h ^ c) * 1099511628211ull;
    for (unsigned char c : host) h = (h ^ c) * 1099511628211ull;
    char buf[17];
    snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    return buf;
}

}  // namespace

void Host::ensure_connection() {
    if (connected_) return;
    // A host that did not answer is not asked again within the action (no second timeout).
    if (!connect_error_.empty()) throw DriverError(connect_error_);
    long persist = config().get_int("SSH_CONTROL_PERSIST");
    std::unique_ptr<Lock> lock;
    if (persist > 0 && !(control_dir_ = shared_control_dir()).empty()) {
        // Reused across actions: one socket per user, host and ssh settings, its name known.
        shared_master_ = true;
        control_path_ = control_dir_ + "/" + socket_name(name_, config().get_words("SSH"));
        // One master however many actions start at once: a master that finds its socket
        // taken (by a concurrent one, or left by one that was killed) goes on without one,
        // connected for good, and every later action would start another.
        lock = std::make_unique<Lock>("ssh-" + name_);
        Argv check = ssh_base();
        check.insert(check.end(), {"-O", "check", name_});
        RunOptions o;
        o.check = false;
        o.timeout_s = 10;
        if (connect_run(check, o).status == 0) {
            connected_ = true;
            return;
        }
        ::unlink(control_path_.c_str());  // no master answers there: a stale socket, if any
    } else {
        char tmpl[] = "/tmp/onestor-ssh.XXXXXX";
        if (!mkdtemp(tmpl)) throw_errno("cannot create a directory in", "/tmp");
        control_dir_ = tmpl;
        control_path_ = control_dir_ + "/%C";
    }
    // The master authenticates once and backgrounds (-f) with its stdio on /dev/null,
    // so no pipe of ours stays open in it; every later command multiplexes over it.
    Argv m = ssh_base();
    m.insert(m.end(), {"-o", "ControlMaster=yes", "-o", "ControlPersist=" + std::to_string(persist > 0 ? persist : 300), "-f",
                       "-N", name_});
    RunOptions o;
    o.what = "cannot connect to host " + quoted(name_);
    o.timeout_s = static_cast<int>(config().get_int("SSH_CONNECT_TIMEOUT")) + 15;
    try {
        connect_run(m, o);
    } catch (const DriverError& e) {
        connect_error_ = e.what();
        throw;
    }
    connected_ = true;
}

Argv Host::command(const Argv& argv) {
    if (local_) return argv;
    ensure_connection();
    Argv a = ssh_base();
    a.insert(a.end(), {"-o", "ControlMaster=no", name_, "--", shell_join(argv)});
    return a;
}

bool Host::reachable() {
    // A recording runner (the golden argv tests) answers for every host: nothing to connect.
    Runner& answers = dry_run::active() ? dry_run::below() : runner();
    if (local_ || &answers != &real_runner()) return true;
    try {
        ensure_connection();
        return true;
    } catch (const DriverError&) {
        return false;
    }
}

bool Host::has_onestor() {
    if (local_) return true;
    if (has_onestor_ < 0)
        has_onestor_ = run({"test", "-x", config().get("REMOTE_ONESTOR")}, {.check = false, .asks = true}).status == 0;
    return has_onestor_ == 1;
}

bool Host::install_onestor() {
    if (local_) return true;
    std::string target = config().get("REMOTE_ONESTOR");
    try {
        // Staged as <temporary dir>/onestor: the binary answers to a name starting with "onestor".
        RemoteTemp tmp(*this, io::temp_name_for(target));
        std::string staged = join_path(tmp.path(), "onestor");
        put_file(self_exe(), staged);  // (makes the temporary directory)
        batch({run_step({"chmod", "755", "--", staged}, "cannot make " + quoted(label(staged)) + " executable"),
               run_step({staged, "--version"}, "onestor does not run on " + name_), rename_step(staged, target, true)});
    } catch (const DriverError& e) {
        log::info(std::string("could not install onestor on ") + name_ + ": " + e.what());
        return false;
    }
    has_onestor_ = 1;
    log::info("onestor was missing on " + name_ + ": installed " + quoted(label(target)));
    return true;
}

Argv Host::onestor(const Argv& args) {
    Argv a;
    if (local_) {
        a.push_back(self_exe());
    } else {
        a.push_back(config().get("REMOTE_ONESTOR"));
    }
    a.insert(a.end(), args.begin(), args.end());
    return a;
}

// The real runner's remote part: today's ssh argv (one connection per host and action)
// around the words, tied to this process.
Result Host::send(const Command& c) {
    // The only operator between the quoted words is a fixed '|'.
    if (!c.pipe_to.empty())
        return run_tied(command(tied({"sh", "-c", shell_join(c.argv) + " | " + shell_join(c.pipe_to)})), c.opts);
    // A command fed from our stdin ends by itself when that input ends.
    if (c.opts.stdin_fd >= 0) return spawn(command(c.argv), c.opts);
    return run_tied(command(tied(c.argv)), c.opts);
}

namespace {
class RealRunner : public Runner {
public:
    Result run(const Command& c) override {
        Host* h = c.host.empty() ? nullptr : &Host::get(c.host);
        if (c.pipe_to.empty()) return h ? h->send(c) : spawn(c.argv, c.opts);
        Host* to = c.pipe_host.empty() ? nullptr : &Host::get(c.pipe_host);
        if (h == to) return h ? h->send(c) : spawn_pipe(c.argv, c.pipe_to, c.opts);
        return spawn_pipe(h ? h->command(c.argv) : c.argv, to ? to->command(c.pipe_to) : c.pipe_to, c.opts);
    }
};
}  // namespace

Runner& real_runner() {
    static RealRunner r;
    return r;
}

Result run_pipe(Host& from, const Argv& producer, Host& to, const Argv& consumer, const RunOptions& opts) {
    if (&from == &to) return from.run_pipe(producer, consumer, opts);
    return runner().run({.host = from.local() ? "" : from.name(),
                         .argv = producer,
                         .pipe_host = to.local() ? "" : to.name(),
                         .pipe_to = consumer,
                         .opts = opts});
}

Result Host::run_pipe(const Argv& first, const Argv& second, RunOptions opts) {
    if (local_) return onestor::run_pipe(first, second, opts);
    if (opts.what.empty()) opts.what = "command failed on " + name_ + ": " + render(first) + " | " + render(second);
    opts.check = true;
    Result r = runner().run({.host = name_,
                             .argv = first,
                             .pipe_host = name_,
                             .pipe_to = second,
                             .opts = {.timeout_s = opts.timeout_s, .check = false, .asks = opts.asks}});
    if (r.status == 255 && r.err.find("onestor") == std::string::npos)
        throw DriverError("lost connection to host " + quoted(name_), r.err);
    if (r.status != 0) {
        std::string why = failure_reason(r.err, opts.error_blocks);
        throw DriverError(opts.what + ": " + (why.empty() ? "exit code " + std::to_string(r.status) : why), r.err);
    }
    return r;
}

Result Host::run(const Argv& argv, RunOptions opts) {
    if (opts.timeout_s == 0) opts.timeout_s = static_cast<int>(config().get_int("COMMAND_TIMEOUT"));
    if (local_) return onestor::run(argv, opts);
    if (opts.what.empty()) opts.what = "command failed on " + name_ + ": " + render(argv);
    bool check = opts.check;
    opts.check = false;
    // A command fed from our stdin ends by itself when that input ends.
    Argv words = limited(argv, opts.limits);
    opts.limits = {};  // (they bind the command there, not our ssh client)
    Result r = runner().run({.host = name_, .argv = words, .opts = opts});
    if (r.status == 255) throw DriverError("lost connection to host " + quoted(name_), r.err);
    if (check && r.status != 0) {
        std::string why = failure_reason(r.err, opts.error_blocks);
        if (why.empty()) why = "exit code " + std::to_string(r.status);
        throw DriverError(opts.what + ": " + why, r.err);
    }
    return r;
}

std::vector<std::string> Host::batch(const std::vector<Step>& steps, int stdin_fd) {
    if (steps.empty()) return {};  // (an empty command would open a login shell there)
    bool asks = std::all_of(steps.begin(), steps.end(), [](const Step& s) { return s.asks; });
    size_t questions = 0;
    while (questions < steps.size() && steps[questions].asks) ++questions;
    std::vector<std::string> outs;
    if (local_ && stdin_fd < 0) {  // (with stdin to give a step: the script, run here)
        for (size_t i = 0; i < steps.size(); ++i) {
            if (dry_run::active() && !steps[i].asks) {
                for (const auto& [argv, what] : steps[i].there) dry_run::skip(render(argv));
                outs.emplace_back();
            } else {
                dry_run::stale("frontend", steps[i].there.front().first);
                outs.push_back(steps[i].here());
            }
        }
        return outs;
    }
    if (!dry_run::active() || asks) return send_batch(steps, stdin_fd, runner());
    // A dry run: the questions before the first change are asked (their failure is the
    // action's), the batch is noted and answered "done"; a question after a change ends the plan.
    std::vector<std::string> answers;
    if (questions > 0) {
        dry_run::stale(name_, steps.front().there.front().first);
        answers = send_batch({steps.begin(), steps.begin() + static_cast<long>(questions)}, -1, dry_run::below());
    }
    outs = send_batch(steps, stdin_fd, runner());
    std::copy(answers.begin(), answers.end(), outs.begin());
    for (size_t i = questions; i < steps.size(); ++i)
        if (steps[i].asks) dry_run::stale(name_, steps[i].there.front().first);
    return outs;
}

std::vector<std::string> Host::send_batch(const std::vector<Step>& steps, int stdin_fd, Runner& via) {
    // Every command is followed by its own failure branch (the step's undo, then the
    // command's number on stderr); a NUL closes each step's output. The script is fixed
    // text around the words, each quoted once.
    std::vector<const std::string*> reasons;
    std::string script;
    std::vector<BatchStep> sent;
    for (const auto& s : steps) {
        sent.push_back({{}, s.undo});
        for (const auto& [argv, what] : s.there) {
            sent.back().commands.push_back(argv);
            script += shell_join(argv) + " || { ";
            if (!s.undo.empty()) script += shell_join(s.undo) + "; ";
            script += "echo 'onestor: failed command " + std::to_string(reasons.size()) + "' >&2; exit 1; }; ";
            reasons.push_back(&what);
        }
        script += "printf '\\0'; ";
    }
    int timeout_s = 0;
    for (const auto& s : steps) {
        int t = s.timeout_s > 0 ? s.timeout_s : static_cast<int>(config().get_int("COMMAND_TIMEOUT"));
        if (t <= 0) {
            timeout_s = 0;
            break;
        }
        timeout_s += t;
    }
    bool asks = std::all_of(steps.begin(), steps.end(), [](const Step& s) { return s.asks; });
    Result r = via.run({.host = local_ ? "" : name_,
                        .argv = {"sh", "-c", script},
                        .batch = std::move(sent),
                        .opts = {.timeout_s = timeout_s,
                                 .stdin_fd = stdin_fd,
                                 .check = false,
                                 .what = "commands on host " + quoted(name_),
                                 .asks = asks}});
    if (r.status == 255) throw DriverError("lost connection to host " + quoted(name_), r.err);
    if (r.status != 0) {
        const std::string mark = "onestor: failed command ";
        size_t m = r.err.rfind(mark);
        size_t i = reasons.size();
        if (m != std::string::npos) i = std::strtoul(r.err.c_str() + m + mark.size(), nullptr, 10);
        std::string why = failure_reason(r.err.substr(0, m));  // the failing command's own complaint
        std::string what = i < reasons.size() ? *reasons[i] : "commands failed on host " + quoted(name_);
        if (why.empty() && m == std::string::npos) why = "exit code " + std::to_string(r.status);
        throw DriverError(why.empty() ? what : what + ": " + why, r.err);
    }
    std::vector<std::string> outs;
    size_t start = 0;
    for (size_t i = 0; i < r.out.size(); ++i)
        if (r.out[i] == '\0') {
            outs.push_back(r.out.substr(start, i - start));
            start = i + 1;
        }
    if (outs.size() != steps.size()) throw DriverError("commands on host " + quoted(name_) + " ended early", r.err);
    return outs;
}

Step Host::run_step(const Argv& argv, const std::string& what, int timeout_s, Limits limits) {
    return {[argv, what, timeout_s, limits] {
                return onestor::run(argv, {.timeout_s = timeout_s, .what = what, .limits = limits}).out;
            },
            {{limited(argv, limits), what}},
            {},
            timeout_s};
}

Step Host::ask_step(const Argv& argv, const std::string& what, int timeout_s, Limits limits) {
    Step s = run_step(argv, what, timeout_s, limits);
    s.here = [argv, what, timeout_s, limits] {
        return onestor::run(argv, {.timeout_s = timeout_s, .what = what, .limits = limits, .asks = true}).out;
    };
    s.asks = true;
    return s;
}

Step Host::mkdir_step(const std::string& dir) {
    return {[dir] {
                io::mkdir_p(dir);
                return std::string();
            },
            {{{"mkdir", "-p", "--", dir}, "cannot create directory " + quoted(label(dir))}},
            {}};
}

Step Host::preallocate_step(const std::string& path) {
    std::string what = "cannot allocate the space of " + quoted(label(path));
    return {[path, what] {
                io::File f(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
                struct stat st {};
                if (!f || ::fstat(f.fd(), &st) != 0) throw_errno("cannot open", path);
                if (st.st_size > 0) {
                    // Blocks shared with another file (a reflink) are unshared where the
                    // filesystem can (xfs); then every hole is allocated.
                    (void)::fallocate(f.fd(), FALLOC_FL_UNSHARE_RANGE, 0, st.st_size);
                    int e = ::posix_fallocate(f.fd(), 0, st.st_size);
                    if (e != 0) throw DriverError(what + ": " + std::strerror(e));
                }
                return std::string();
            },
            {{{"sh", "-c", scripts::kPreallocate, "sh", path}, what}},
            {}};
}

Step Host::sync_step(const std::string& path) {
    return {[path] {
                int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
                if (fd < 0 || ::fsync(fd) != 0) {
                    if (fd >= 0) ::close(fd);
                    throw_errno("cannot sync", path);
                }
                ::close(fd);
                return std::string();
            },
            {{{"sync", "--", path}, "cannot sync " + quoted(label(path))}},
            {}};
}

Step Host::remove_step(const std::string& path) {
    return {[path] {
                io::remove_tree(path);
                return std::string();
            },
            {{{"rm", "-rf", "--", path}, "cannot remove " + quoted(label(path))}},
            {}};
}

// Every rename that publishes data is followed by a sync of its directory, here and there
// in the same step (GNU sync fsyncs a directory it is given): a crash after the step must
// not lose the new name.
Step Host::rename_step(const std::string& from, const std::string& to, bool replace) {
    Step s{[from, to, replace] {
               io::rename_path(from, to, replace);
               io::fsync_dir(dirname_of(to));
               return std::string();
           },
           {},
           {}};
    Argv a = {"mv", "-T"};
    if (!replace) a.push_back("--no-clobber");
    a.insert(a.end(), {"--", from, to});
    s.there.push_back({a, "cannot rename " + quoted(label(from)) + " to " + quoted(to)});
    // mv --no-clobber gives up silently when `to` exists: then `from` is still there.
    if (!replace) s.there.push_back({{"test", "!", "-e", from, "-a", "!", "-L", from}, quoted(label(to)) + " already exists"});
    s.there.push_back({{"sync", "--", dirname_of(to)}, "cannot sync " + quoted(label(dirname_of(to)))});
    return s;
}

Step Host::symlink_step(const std::string& target, const std::string& link) {
    std::string tmp = io::temp_name_for(link);
    std::string what = "cannot create symlink " + quoted(label(link));
    return {[target, link, tmp] {
                if (::symlink(target.c_str(), tmp.c_str()) != 0) throw_errno("cannot create symlink", tmp);
                try {
                    io::rename_path(tmp, link, true);
                } catch (...) {
                    ::unlink(tmp.c_str());
                    throw;
                }
                io::fsync_dir(dirname_of(link));
                return std::string();
            },
            {{{"ln", "-s", "--", target, tmp}, what},
             {{"mv", "-T", "--", tmp, link}, what},
             {{"sync", "--", dirname_of(link)}, what}},
            {"rm", "-f", "--", tmp}};
}

Step Host::absent_step(const std::string& path, const std::string& what) {
    return {[path, what] {
                if (io::exists(path)) throw DriverError(what);
                return std::string();
            },
            {{{"test", "!", "-e", path, "-a", "!", "-L", path}, what}},
            {},
            0,
            true};
}

Step Host::present_step(const std::string& path, const std::string& what) {
    return {[path, what] {
                if (!io::exists(path)) throw DriverError(what);
                return std::string();
            },
            {{{"test", "-e", path, "-o", "-L", path}, what}},
            {},
            0,
            true};
}

Step Host::exists_step(const std::string& path) {
    return {[path] { return std::string(io::exists(path) ? "y" : ""); },
            {{{"sh", "-c", scripts::kExists, "sh", path}, "cannot look at " + quoted(label(path))}},
            {},
            0,
            true};
}

Step Host::realpath_step(const std::string& path) {
    return {[path] {
                char buf[PATH_MAX];
                return ::realpath(path.c_str(), buf) ? std::string(buf) : std::string{};
            },
            {{{"sh", "-c", scripts::kRealpath, "sh", path}, "cannot resolve " + quoted(label(path))}},
            {},
            0,
            true};
}

Step Host::readlink_step(const std::string& path, const std::string& what) {
    return {[path, what] {
                char buf[PATH_MAX];
                ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
                if (n < 0) throw DriverError(what);
                return std::string(buf, static_cast<size_t>(n));
            },
            {{{"readlink", "-n", "--", path}, what}},
            {},
            0,
            true};
}

Step Host::list_step(const std::string& dir, bool missing_is_empty) {
    std::string what = "cannot list " + quoted(label(dir));
    Argv find = {"find", dir, "-mindepth", "1", "-maxdepth", "1", "-printf", "%f/"};
    if (missing_is_empty) find.insert(find.begin(), {"sh", "-c", scripts::kListIfThere, "sh"});
    return {[dir, what, missing_is_empty] {
                std::string out;
                DIR* d = ::opendir(dir.c_str());
                if (!d && errno == ENOENT && missing_is_empty) return out;
                if (!d) throw_errno("cannot list", dir);
                while (auto* e = ::readdir(d)) {
                    std::string n = e->d_name;
                    if (n != "." && n != "..") out += n + "/";
                }
                ::closedir(d);
                return out;
            },
            // '/' is the one byte no name holds: it ends each name, whatever else the name holds.
            {{find, what}},
            {},
            0,
            true};
}

std::vector<std::string> Host::parse_list(const std::string& out) {
    std::vector<std::string> names;
    size_t start = 0;
    for (size_t i = 0; i < out.size(); ++i)
        if (out[i] == '/') {
            names.push_back(out.substr(start, i - start));
            start = i + 1;
        }
    std::sort(names.begin(), names.end());
    return names;
}

void Host::mkdir_p(const std::string& dir) { batch({mkdir_step(dir)}); }

bool Host::exists(const std::string& path) {
    if (local_) return io::exists(path);
    return run({"test", "-e", path, "-o", "-L", path}, {.check = false, .asks = true}).status == 0;
}

bool Host::is_dir(const std::string& path) {
    if (local_) {
        struct stat st {};
        return ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
    }
    return run({"test", "-d", path, "-a", "!", "-L", path}, {.check = false, .asks = true}).status == 0;
}

std::string Host::readlink(const std::string& path) {
    if (local_) {
        char buf[PATH_MAX];
        ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
        return n < 0 ? std::string{} : std::string(buf, static_cast<size_t>(n));
    }
    Result r = run({"readlink", "--", path}, {.check = false, .asks = true});
    if (r.status != 0) return {};
    while (!r.out.empty() && r.out.back() == '\n') r.out.pop_back();
    return r.out;
}

std::string Host::realpath(const std::string& path) {
    std::string out = batch({realpath_step(path)})[0];
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
}

std::vector<std::string> Host::list(const std::string& dir) {
    Step s = list_step(dir);
    if (local_) {
        try {
            return parse_list(s.here());
        } catch (const DriverError&) {
            return {};
        }
    }
    Result r = run(s.there.front().first, {.check = false, .asks = true});
    return r.status == 0 ? parse_list(r.out) : std::vector<std::string>{};
}

void Host::remove(const std::string& path) { batch({remove_step(path)}); }

void Host::copy_file(const std::string& src, const std::string& dst, bool replace, std::vector<Step> checks) {
    RemoteTemp tmp(*this, io::temp_name_for(dst));
    std::vector<Step> steps = std::move(checks);
    for (Step& s : copy_steps(src, tmp.path(), dst)) steps.push_back(std::move(s));
    steps.push_back(rename_step(tmp.path(), dst, replace));
    batch(steps);
    tmp.keep();
}

std::vector<Step> Host::copy_steps(const std::string& src, const std::string& tmp, const std::string& dst, bool thick) {
    std::string what = "cannot copy " + quoted(label(src)) + " to " + quoted(dst);
    std::string dir = dirname_of(dst);
    // What dead writers of dst left beside it goes first (on a host, by its own onestor,
    // which can tell a dead writer from a live one; skipped where it is missing).
    Step sweep{[dir, dst] {
                   io::mkdir_p(dir);
                   io::sweep_temps(dir, "." + basename_of(dst) + ".onestor-tmp.");
                   return std::string();
               },
               {{{"mkdir", "-p", "--", dir}, "cannot create directory " + quoted(label(dir))},
                {{"sh", "-c", scripts::kSweep, "sh", config().get("REMOTE_ONESTOR"), dst}, "cannot sweep"}},
               {}};
    // GNU cp keeps holes (SEEK_DATA/SEEK_HOLE, copy_file_range) and reflinks where it can.
    Step copy = run_step({"cp", "--sparse=always", thick ? "--reflink=never" : "--reflink=auto", "-T", "--", src, tmp}, what,
                         static_cast<int>(config().get_int("COPY_TIMEOUT")));
    copy.here = [src, tmp, dst, thick] {
        io::File in = io::open_read(src);
        int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0660);
        if (fd < 0) throw_errno("cannot create", tmp);
        io::File out(fd);
        io::copy_fd(in.fd(), out.fd(), "copy to " + quoted(dst), !thick);
        return std::string();
    };
    return {sweep, copy, sync_step(tmp)};
}

void Host::sync(const std::string& path) { batch({sync_step(path)}); }

void Host::commit(RemoteTemp& tmp, const std::string& dst, bool replace) {
    rename(tmp.path(), dst, replace);  // (rename_step syncs the directory)
    tmp.keep();
}

void Host::symlink(const std::string& target, const std::string& link) { batch({symlink_step(target, link)}); }

void Host::rename(const std::string& from, const std::string& to, bool replace) { batch({rename_step(from, to, replace)}); }

void Host::replace_dir(const std::string& from, const std::string& to) {
    if (local_) return io::replace_dir(from, to);
    if (!is_dir(to)) return rename(from, to, false);
    std::string old = io::temp_name_for(to);
    Step in = rename_step(from, to, false);
    in.undo = {"mv", "-T", "--", old, to};
    batch({rename_step(to, old, false), in, remove_step(old)});
}

void Host::put_file(const std::string& local_path, const std::string& dst) {
    if (local_) return copy_file(local_path, dst, true);
    io::File in = io::open_read(local_path);
    struct stat st {};
    if (::fstat(in.fd(), &st) != 0) throw_errno("cannot stat", local_path);
    RemoteTemp tmp(*this, io::temp_name_for(dst));
    std::string what = "cannot copy " + quoted(local_path) + " to " + quoted(label(dst));
    // dd ends at the end of its stdin, which a front-end killed mid-way also gives it: the
    // rename in the same script waits for the whole size.
    batch({mkdir_step(dirname_of(dst)),
           run_step({"dd", "of=" + tmp.path(), "bs=1M", "conv=sparse,fsync", "status=none"}, what,
                    static_cast<int>(config().get_int("COPY_TIMEOUT"))),
           run_step({"sh", "-c", scripts::kSizeIs, "sh", tmp.path(), std::to_string(st.st_size)}, what),
           rename_step(tmp.path(), dst, true)},
          in.fd());
    tmp.keep();
}

RemoteTemp::~RemoteTemp() {
    if (kept_) return;
    try {
        if (host_.local()) {
            io::remove_tree(path_);
            return;
        }
        host_.run({"rm", "-rf", "--", path_}, {.check = false, .cleanup = true});
    } catch (...) {}
}

}  // namespace onestor
