#include "onestor/transfer.hpp"

#include "onestor/config.hpp"
#include "onestor/error.hpp"
#include "onestor/io.hpp"
#include "onestor/log.hpp"
#include "onestor/paths.hpp"
#include "onestor/scripts.hpp"
#include "onestor/stream.hpp"

#include <algorithm>
#include <vector>

namespace onestor::transfer {
namespace {

Argv tar_producer(const std::string& src) {
    return {"tar", "-C", dirname_of(src), "--exclude=*.onestor-tmp.*", "-cSf", "-", "--", basename_of(src)};
}

// Names, types and sizes of a tree (or a file), NUL-separated and sorted: what the tar
// fallback compares before it lets a copy take its final name.
std::vector<std::string> manifest(Host& h, const std::string& path) {
    Argv a = {"find", path,    "-name", "*.onestor-tmp.*", "-prune",        "-o", "-type",   "f",       "-printf", "f %s %P\\0",
              "-o",   "-type", "l",     "-printf",         "l %P -> %l\\0", "-o", "-printf", "%y %P\\0"};
    Result r = h.run(a, {.what = "cannot list " + quoted(h.label(path)), .asks = true});
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
        } catch (...) {}
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
        Argv push = {"sh",
                     "-c",
                     scripts::push(),
                     "sh",
                     to.name(),
                     std::to_string(config().get_int("SSH_CONTROL_PERSIST")),
                     shell_join(consumer)};
        for (const auto& w : config().get_words("HOST_SSH")) push.push_back(w);
        push.insert(push.end(), {"-o", "BatchMode=yes"});
        from.run_pipe(producer, push, o);
    } else {
        if (!from.local() && !to.local())
            log::info("relaying from " + from.name() + " to " + to.name() + " through the front-end");
        run_pipe(from, producer, to, consumer, o);
    }
}

void tar_copy(Host& from, const std::string& src, Host& to, const std::string& dst, const RunOptions& o) {
    std::string tmp = io::temp_name_for(dst);  // unique, so no leftover of a crash blocks a retry
    std::string name = basename_of(src);
    TreeGuard guard{to, tmp};
    pipe(from, tar_producer(src), to, {"sh", "-c", scripts::tar_receive(), "sh", tmp, dst}, o);
    auto want = manifest(from, src);
    auto got = manifest(to, join_path(tmp, name));
    if (want != got) throw DriverError(o.what + ": the copy is incomplete (" + first_difference(want, got) + ")");
    to.run({"sh", "-c", scripts::kTarCommit, "sh", tmp, name, dst}, {.what = o.what});
    guard.kept = true;
}

// After a failed transfer: when one of the hosts cannot be reached (any more), that is the
// reason to give, rather than whatever the broken pipe left on stderr ("exit code 255").
void explain_unreachable(Host& from, Host& to, const std::string& what) {
    for (Host* h : {&to, &from}) {
        if (h->local()) continue;
        try {
            h->run({"true"}, {.timeout_s = 60, .check = false, .cleanup = true, .asks = true});
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

Argv with_monitor_mark(const std::string& mark, const std::string& value, const Argv& then) {
    Argv a = {"sh", "-c", scripts::kMonitorMark, "sh", mark, value};
    a.insert(a.end(), then.begin(), then.end());
    return a;
}

void copy(Host& from, const std::string& src, Host& to, const std::string& dst, Leftovers leftovers, const MonitorMark& mark) {
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
        if (!mark.path.empty()) consumer = with_monitor_mark(mark.path, mark.value, consumer);
        try {
            pipe(from, producer, to, consumer, o);
            return;
        } catch (const DriverError&) {
            if (interrupted() || onestor_on_both(from, to)) throw;
        }
        // Install-free: our own binary, copied over, then the stream again (REMOTE_ONESTOR_INSTALL).
        if (config().get_bool("REMOTE_ONESTOR_INSTALL") && (from.has_onestor() || from.install_onestor()) &&
            (to.has_onestor() || to.install_onestor())) {
            if (leftovers == Leftovers::remove) remove_leftovers(to, dst);
            pipe(from, producer, to, consumer, o);
            return;
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

void move(Host& from, const std::string& src, Host& to, const std::string& dst, Leftovers leftovers, const MonitorMark& mark) {
    copy(from, src, to, dst, leftovers, mark);
    // Only now, and decided here: a driver killed before it saw the copy succeed leaves the
    // source where it was, whatever its orphaned transfer does.
    for (const auto& said : from.batch({retire_step(from, src)}))
        if (!said.empty()) log::info(said.substr(0, said.find_last_not_of('\n') + 1));
}

Step retire_step(Host& from, const std::string& src) {
    return from.run_step({"sh", "-c", scripts::kRetire, "sh", src, io::temp_name_for(src)},
                         "the copy is complete, but its source " + quoted(from.label(src)) + " could not be removed");
}

int host_side(const std::vector<std::string>& w, std::string& out) {
    if (w[0] == "send") {  // stdout is the stream itself: nothing else may go there
        if (w.size() < 2 || w.size() > 3) throw DriverError("usage: onestor send PATH [RATE]");
        stream::send(clean_path(w[1], "path"), 1, w.size() == 3 ? stream::parse_rate(w[2]) : 0);
        return 0;
    }
    if (w[0] == "receive") {
        bool clean = w.size() == 3 && w[1] == "--clean";  // see transfer::Leftovers
        if (w.size() != 2 && !clean) throw DriverError("usage: onestor receive [--clean] PATH");
        std::string dst = clean_path(w.back(), "path");
        if (clean) transfer::remove_leftovers(Host::local_host(), dst);
        stream::Stats st = stream::receive(0, dst);
        out = "received " + std::to_string(st.files) + " files, " + std::to_string(st.data) + " bytes of data, " +
              std::to_string(st.size) + " bytes in all\n";
        return 0;
    }
    if (w[0] == "sweep") {  // run by Host::copy_to_temp on a host, in the copy's own batch
        if (w.size() != 2) throw DriverError("usage: onestor sweep PATH");
        std::string path = clean_path(w[1], "path");
        io::sweep_temps(dirname_of(path), "." + basename_of(path) + ".onestor-tmp.");
        return 0;
    }
    return -1;
}

}  // namespace onestor::transfer
