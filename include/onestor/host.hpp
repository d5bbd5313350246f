// Where work happens: the front-end itself (local: syscalls and spawned argv) or a
// hypervisor reached with the configured `ssh`. A remote command is an argv vector whose
// words are each quoted once by shell_quote() (the audited function in exec.hpp); nothing
// else ever builds remote shell text. One ssh connection is opened per host and action
// (ControlMaster), so an action costs at most one handshake per host; none when a master
// kept from an earlier action (SSH_CONTROL_PERSIST) still answers.
#pragma once
#include "onestor/exec.hpp"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace onestor {

// One step of Host::batch: what it does on the front-end (syscalls or a local program; it
// returns its output), what it runs on a remote host (commands in order, each with the
// reason given should it fail), what undoes a partial step there (a temp name made), and
// its time limit (0: COMMAND_TIMEOUT), and whether it only asks (changes nothing: a dry run
// runs it, see dry_run.hpp).
struct Step {
    std::function<std::string()> here;
    std::vector<std::pair<Argv, std::string>> there;
    Argv undo;
    int timeout_s = 0;
    bool asks = false;
};

class Host {
public:
    // The Host for a name from a "host:path" argument; the front-end's own names
    // (hostname, localhost, FRONTEND setting, "") give the local host. Cached per process.
    static Host& get(const std::string& name);
    static Host& local_host() { return get(""); }
    static void close_all();  // ends the ssh connections this process opened

    bool local() const { return local_; }
    const std::string& name() const { return name_; }
    std::string label(const std::string& path) const { return name_ + ":" + path; }

    // Runs argv here or on the host. On a remote host the ssh client's own failures
    // ("connection refused") come back as a DriverError naming the host.
    Result run(const Argv& argv, RunOptions opts = {});

    // Runs the steps in order, stopping at the first that fails (a DriverError with that
    // command's reason and its complaint). On a remote host the whole batch is one ssh
    // command, so one round trip: a fixed script around the quoted words. Returns each
    // step's stdout; steps never print NUL bytes (they frame the outputs). The batch may
    // take as long as its steps together (no limit when one of them has none). stdin_fd is the
    // batch's stdin (the one step that reads it gets it all; here too: the steps then run as
    // the same script, in a local shell).
    std::vector<std::string> batch(const std::vector<Step>& steps, int stdin_fd = -1);
    // The primitives below as steps, to be batched with others.
    // With limits, argv runs under those rlimits (here: set in the child; there: ulimit in
    // a fixed sh script around the words), as Host::run does with RunOptions::limits.
    Step run_step(const Argv& argv, const std::string& what, int timeout_s = 0, Limits limits = {});
    // run_step of a command that changes nothing (qemu-img info, rbd info): a question.
    Step ask_step(const Argv& argv, const std::string& what, int timeout_s = 0, Limits limits = {});
    Step mkdir_step(const std::string& dir);
    Step sync_step(const std::string& path);
    // Every byte of the file's size allocated, its data kept (a thick disk: SPARSE=NO).
    Step preallocate_step(const std::string& path);
    Step remove_step(const std::string& path);
    Step rename_step(const std::string& from, const std::string& to, bool replace);
    Step symlink_step(const std::string& target, const std::string& link);
    // Fails with `what` when the path exists / is missing (a symlink counts as existing).
    Step absent_step(const std::string& path, const std::string& what);
    Step present_step(const std::string& path, const std::string& what);
    // Prints "y" when the path exists (a symlink counts), nothing otherwise; never fails.
    Step exists_step(const std::string& path);
    // The canonical path (a line on a remote host), nothing when it does not exist; never fails.
    Step realpath_step(const std::string& path);
    // The target of a symlink (fails with `what` when it is none); the names in a
    // directory, each followed by '/' (fails when it cannot be read).
    Step readlink_step(const std::string& path, const std::string& what);
    Step list_step(const std::string& dir, bool missing_is_empty = false);
    static std::vector<std::string> parse_list(const std::string& out);

    // The local argv that runs argv on this host (itself, or ssh ... -- 'quoted' 'words').
    Argv command(const Argv& argv);
    // Runs `a | b` on this host, both argv vectors quoted word by word; the status is b's.
    Result run_pipe(const Argv& a, const Argv& b, RunOptions opts = {});
    // Whether the host answers (its ssh connection made, or already known to fail): a
    // caller with other hosts to choose from (BRIDGE_LIST) passes over one that does not.
    bool reachable();
    // onestor on this host: our own binary here, REMOTE_ONESTOR there (when installed).
    bool has_onestor();
    // Copies this binary to REMOTE_ONESTOR there (temporary name, synced, renamed) and keeps
    // it only when it runs there (`--version`: its libraries are present); false otherwise.
    bool install_onestor();
    // The real runner's part for a command on this (remote) host: ssh, the tie to this process.
    Result send(const Command& c);
    Argv onestor(const Argv& args);

    // File primitives, each done here with syscalls or there with coreutils words.
    void mkdir_p(const std::string& dir);
    bool exists(const std::string& path);
    bool is_dir(const std::string& path);
    std::string readlink(const std::string& path);          // "" when not a symlink
    std::string realpath(const std::string& path);          // canonical, or "" when missing
    void remove(const std::string& path);                   // rm -rf, missing is fine
    std::vector<std::string> list(const std::string& dir);  // entry names, sorted; [] when missing
    // Sparse-aware copy onto a temp name beside dst (its directory made), synced, then
    // renamed onto dst: one remote command.
    // `checks` run first in the same command (e.g. present_step: the source must exist).
    void copy_file(const std::string& src, const std::string& dst, bool replace = true, std::vector<Step> checks = {});
    // copy_file's steps but the rename: the synced copy of src at `tmp` (a RemoteTemp's
    // path beside dst), for callers that batch more work on it before they rename it.
    // `thick`: never a reflink (the copy's blocks are its own, for preallocate_step).
    std::vector<Step> copy_steps(const std::string& src, const std::string& tmp, const std::string& dst, bool thick = false);
    void sync(const std::string& path);
    // Renames a finished temp (synced by whoever wrote it) onto dst; it is then kept.
    void commit(class RemoteTemp& tmp, const std::string& dst, bool replace = true);
    // Atomic symlink: made under a temp name, then renamed over `link`.
    void symlink(const std::string& target, const std::string& link);
    void rename(const std::string& from, const std::string& to, bool replace);
    // The directory `from` takes the place of the directory `to` (io::replace_dir; on a
    // remote host the old one is moved aside, back should the second rename fail).
    void replace_dir(const std::string& from, const std::string& to);
    // Streams a front-end file to `dst` on this host (its directory made): temp name, fsync,
    // rename; one remote command.
    void put_file(const std::string& local_path, const std::string& dst);

    Host(std::string name, bool local);
    ~Host();

private:
    std::vector<std::string> send_batch(const std::vector<Step>& steps, int stdin_fd, Runner& via);
    Argv ssh_base() const;
    void ensure_connection();
    std::string name_;
    bool local_;
    std::string control_dir_, control_path_, connect_error_;
    bool connected_ = false, shared_master_ = false;
    int has_onestor_ = -1;
};

// `producer | consumer`, each on its own host (through the front-end when they differ).
Result run_pipe(Host& from, const Argv& producer, Host& to, const Argv& consumer, const RunOptions& opts);

// Removes a remote (or local) temporary file or tree when it goes out of scope uncommitted.
class RemoteTemp {
public:
    RemoteTemp(Host& h, std::string path) : host_(h), path_(std::move(path)) {}
    ~RemoteTemp();
    const std::string& path() const { return path_; }
    void keep() { kept_ = true; }

private:
    Host& host_;
    std::string path_;
    bool kept_ = false;
};

}  // namespace onestor
