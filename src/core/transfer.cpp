#include "onestor/transfer.hpp"

#include "onestor/config.hpp"
#include "onestor/error.hpp"
#include "onestor/io.hpp"
#include "onestor/log.hpp"
#include "onestor/paths.hpp"

#include <algorithm>
#include <vector>

namespace onestor::transfer {
namespace {

// The tar fallback is two-phase, because a tar archive that ends between two members is a
// valid archive: tar -x exits 0 on a stream cut at a member boundary, and a producer's
// failure (an unreadable file, a dying source host) may not reach the receiver at all. So
// the receiver only extracts into a temporary directory beside the target and syncs it; the
// driver then compares what arrived with the source (names, types, sizes) and only then
// renames it onto the target (kTarCommit). Both are constant scripts: every input arrives as
// a positional argument, never inside the script text.
//
// Receive: $1 temp dir, $2 target. Removes the temp dir itself when extraction fails, and
// names tar's first real complaint (a full disk) in an error block, which the driver reports
// before any echo of the failure (a broken pipe on the sending side). As the stream receiver
// does, it leaves nothing setuid, setgid, sticky or writable by others.
const char* kTarReceive =
    "set -e; t=$1; d=$2; mkdir -p -- \"${d%/*}\"; mkdir -m 700 -- \"$t\"; trap 'rm -rf -- \"$t\"' EXIT; "
    "if ! e=$(tar -C \"$t\" -xSf - 2>&1); then "
    "r=$(printf '%s\\n' \"$e\" | grep -v -m1 -e 'Exiting with failure' -e '^$' || true); "
    "printf '%s\\n' \"$e\" >&2; "
    "printf 'ERROR MESSAGE --8<------\\n%s\\nERROR MESSAGE ------>8--\\n' \"${r:-tar failed}\" >&2; exit 1; fi; "
    "find \"$t\" \\( -type f -o -type d \\) -perm /7002 -exec chmod ug-s,o-tw -- {} +; "
    "find \"$t\" \\( -type f -o -type d \\) -exec sync -- {} +; trap - EXIT";

// Commit: $1 temp dir, $2 the name inside it, $3 target. A directory target is moved aside
// into the temp dir (and back should the second rename fail), then removed with it.
const char* kTarCommit =
    "set -e; t=$1; n=$2; d=$3; test -e \"$t/$n\" || test -L \"$t/$n\"; "
    "if [ -d \"$d\" ] && [ ! -L \"$d\" ]; then mv -T -- \"$d\" \"$t/$n.old\"; "
    "mv -T -- \"$t/$n\" \"$d\" || { mv -T -- \"$t/$n.old\" \"$d\"; exit 1; }; "
    "else mv -fT -- \"$t/$n\" \"$d\"; fi; rm -rf -- \"$t\"; sync -- \"${d%/*}\"";

// The source of a completed move: $1 renamed to $2 (a hidden temporary name beside it) in
// one step, then removed. So the source's path never names a partly removed tree, which a
// retry would take for the source and copy over the complete destination; should the
// removal fail, what is left is a leftover that sends skip and a move back removes.
const char* kRetire =
    "mv -T -- \"$1\" \"$2\" || exit 1; rm -rf -- \"$2\" || echo \"$(uname -n):$2 could not be removed\" >&2; exit 0";

// Host to host (HOST_TO_HOST=direct): runs on the source host as the right-hand side of
// `producer | ...`: $1 the destination's name, $2 SSH_CONTROL_PERSIST, $3 the command for
// the destination (already quoted), then the ssh command. With $2 > 0 the source host keeps
// its own connection to the destination that long (a master in a directory only its user
// can enter, started under a lock on that directory so that concurrent moves make one, a
// stale socket of a killed master removed first), so the next move between the two needs
// no handshake (without flock(1) it makes a connection of its own each time). The socket's
// name is a checksum of the destination and the ssh command (other settings, another master;
// and a length that fits a socket's path whatever the host's name).
// ssh's own failure (255: the destination unreachable or gone) is named as such; otherwise
// ssh's status (the receiver's) passes on.
const char* kPush =
    "h=$1; p=$2; c=$3; shift 3; "
    "fail() { printf 'ERROR MESSAGE --8<------\\n%s\\nERROR MESSAGE ------>8--\\n' "
    "\"the connection from $(uname -n) to host $h failed (HOST_TO_HOST=direct)\" >&2; exit 1; }; "
    "d=/tmp/onestor-ssh-$(id -u); "
    "if [ \"$p\" -gt 0 ] && command -v flock >/dev/null && { mkdir -m 700 -- \"$d\" 2>/dev/null; [ -d \"$d\" ] && "
    "[ ! -L \"$d\" ] && [ -O \"$d\" ] && [ \"$(stat -c %a -- \"$d\")\" = 700 ]; }; then "
    "s=$d/host-$(printf '%s\\0' \"$h\" \"$@\" | cksum | cut -d' ' -f1); set -- \"$@\" -o \"ControlPath=$s\"; "
    "{ flock 9 && { \"$@\" -O check \"$h\" 2>/dev/null || { rm -f -- \"$s\"; "
    "\"$@\" -o ControlMaster=yes -o \"ControlPersist=$p\" -f -N \"$h\" </dev/null >/dev/null 2>&1 9>&-; }; }; "
    "} 9<\"$d\" || fail; set -- \"$@\" -o ControlMaster=no; fi; "
    "\"$@\" \"$h\" -- \"$c\"; r=$?; [ \"$r\" -ne 255 ] && exit \"$r\"; fail";

Argv tar_producer(const std::string& src) {
    return {"tar", "-C", dirname_of(src), "--exclude=*.onestor-tmp.*", "-cSf", "-", "--", basename_of(src)};
}

// Names, types and sizes of a tree (or a file), NUL-separated and sorted: what the tar
// fallback compares before it lets a copy take its final name.
std::vector<std::string> manifest(Host& h, const std::string& path) {
    Argv a = {"find", path, "-name", "*.onestor-tmp.*", "-prune", "-o", "-type", "f", "-printf", "f %s %P\\0",
              "-o", "-type", "l", "-printf", "l %P -> %l\\0", "-o", "-printf", "%y %P\\0"};
    Result r = h.run(a, {.what = "cannot list " + quoted(h.label(path))});
    std::vector<std::string> out;
    size_t start = 0;
    for (size_t i = 0; i < r.out.size(); ++i)
        if (r.out[i] == '\0') {
            out.push_back(r.out.substr(start, i - start));
            start = i + 1;
        }
    std::sort(out.begin(), out.end());
    return out;
}

std::string first_difference(const std::vector<std::string>& want, const std::vector<std::string>& got) {
    for (const auto& w : want)
        if (!std::binary_search(got.begin(), got.end(), w)) return "missing or different: " + w;
    for (const auto& g : got)
        if (!std::binary_search(want.begin(), want.end(), g)) return "unexpected: " + g;
    return "the listings differ";
}

// Removes a (remote) temporary tree unless kept; errors are ignored (the host may be gone).
struct TreeGuard {
    Host& host;
    std::string path;
    bool kept = false;
    ~TreeGuard() {
        if (kept) return;
        try {
            host.run({"rm", "-rf", "--", path}, {.timeout_s = 60, .check = false, .cleanup = true});
        } catch (...) {
        }
    }
};

// Runs producer on `from` into consumer on `to`.
void pipe(Host& from, const Argv& producer, Host& to, const Argv& consumer, const RunOptions& o) {
    if (&from == &to) {
        from.run_pipe(producer, consumer, o);
    } else if (!from.local() && !to.local() && config().get("HOST_TO_HOST") == "direct") {
        // The source host pushes straight to the destination: the bytes cross the network
        // once, and the front-end needs no connection to the destination at all.
        log::info("streaming from " + from.name() + " to " + to.name() + " directly");
        Argv push = {"sh", "-c", kPush, "sh", to.name(), std::to_string(config().get_int("SSH_CONTROL_PERSIST")),
                     shell_join(consumer)};
        for (const auto& w : config().get_words("HOST_SSH")) push.push_back(w);
        push.insert(push.end(), {"-o", "BatchMode=yes"});
        from.run_pipe(producer, push, o);
    } else {
        if (!from.local() && !to.local()) log::info("relaying from " + from.name() + " to " + to.name() + " through the front-end");
        run_pipe(from.command(producer), to.command(consumer), o);
    }
}

void tar_copy(Host& from, const std::string& src, Host& to, const std::string& dst, const RunOptions& o) {
    std::string tmp = io::temp_name_for(dst);  // unique, so no leftover of a crash blocks a retry
    std::string name = basename_of(src);
    TreeGuard guard{to, tmp};
    pipe(from, tar_producer(src), to, {"sh", "-c", kTarReceive, "sh", tmp, dst}, o);
    auto want = manifest(from, src);
    auto got = manifest(to, join_path(tmp, name));
    if (want != got)
        throw DriverError(o.what + ": the copy is incomplete (" + first_difference(want, got) + ")");
    to.run({"sh", "-c", kTarCommit, "sh", tmp, name, dst}, {.what = o.what});
    guard.kept = true;
}

// After a failed transfer: when one of the hosts cannot be reached (any more), that is the
// reason to give, rather than whatever the broken pipe left on stderr ("exit code 255").
void explain_unreachable(Host& from, Host& to, const std::string& what) {
    for (Host* h : {&to, &from}) {
        if (h->local()) continue;
        try {
            h->run({"true"}, {.timeout_s = 60, .check = false, .cleanup = true});
        } catch (const DriverError& e) {
            throw DriverError(what + ": " + e.what(), e.detail());
        }
    }
}

// After a failed stream: whether onestor is on both ends, so that the failure was the
// transfer's own. When that cannot be told (a host unreachable), the stream's error stands.
bool onestor_on_both(Host& from, Host& to) {
    try {
        return from.has_onestor() && to.has_onestor();
    } catch (const DriverError&) {
        return true;
    }
}

}  // namespace

void remove_leftovers(Host& h, const std::string& dst) {
    std::string prefix = "." + basename_of(dst) + ".onestor-tmp.";
    try {
        for (const auto& n : h.list(dirname_of(dst))) {
            if (n.rfind(prefix, 0) != 0) continue;
            std::string p = join_path(dirname_of(dst), n);
            log::info("removing " + quoted(h.label(p)) + ", left by an earlier attempt");
            h.remove(p);
        }
    } catch (const DriverError& e) {
        log::info(std::string("could not remove what an earlier attempt left: ") + e.what());
    }
}

void copy(Host& from, const std::string& src, Host& to, const std::string& dst, Leftovers leftovers) {
    std::string what = "cannot copy " + quoted(from.label(src)) + " to " + quoted(to.label(dst));
    // (onestor send/receive and our tar scripts: their error blocks are theirs)
    RunOptions o{.timeout_s = static_cast<int>(config().get_int("COPY_TIMEOUT")), .what = what, .error_blocks = true};
    log::info("transferring " + quoted(from.label(src)) + " to " + quoted(to.label(dst)));
    try {
        // onestor travels with the remotes tree to every host: assume it is on both ends,
        // and only when the stream fails ask (each question costs a round trip, the one to
        // a destination that a source host streams to directly a connection of its own).
        Argv producer = from.onestor({"send", src});
        if (std::string rate = config().get("LIMIT_TRANSFER_BW"); !rate.empty()) producer.push_back(rate);
        Argv consumer = to.onestor({"receive"});
        if (leftovers == Leftovers::remove) consumer.push_back("--clean");  // by the receiver itself
        consumer.push_back(dst);
        try {
            pipe(from, producer, to, consumer, o);
            return;
        } catch (const DriverError&) {
            if (interrupted() || onestor_on_both(from, to)) throw;
        }
        log::info("onestor is not installed on " + (from.has_onestor() ? to.name() : from.name()) +
                  ": falling back to tar -S (no end-to-end checksum)");
        if (leftovers == Leftovers::remove) remove_leftovers(to, dst);
        tar_copy(from, src, to, dst, o);
    } catch (const DriverError& e) {
        if (interrupted()) throw;
        if (std::string(e.what()).rfind(what, 0) != 0) throw DriverError(what + ": " + e.what(), e.detail());
        explain_unreachable(from, to, what);
        throw;
    }
}

void move(Host& from, const std::string& src, Host& to, const std::string& dst, Leftovers leftovers) {
    copy(from, src, to, dst, leftovers);
    // Only now, and decided here: a driver killed before it saw the copy succeed leaves the
    // source where it was, whatever its orphaned transfer does.
    Result r = from.run({"sh", "-c", kRetire, "sh", src, io::temp_name_for(src)},
                        {.what = "the copy is complete, but its source " + quoted(from.label(src)) + " could not be removed"});
    if (!r.err.empty()) log::info(failure_reason(r.err));
}

}  // namespace onestor::transfer
