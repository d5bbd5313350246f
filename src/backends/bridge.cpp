// See bridge.hpp.
#include "bridge.hpp"

#include "onestor/config.hpp"
#include "onestor/dry_run.hpp"
#include "onestor/error.hpp"
#include "onestor/exec.hpp"
#include "onestor/host.hpp"
#include "onestor/io.hpp"
#include "onestor/log.hpp"
#include "onestor/numbers.hpp"
#include "onestor/paths.hpp"
#include "onestor/protocol.hpp"
#include "onestor/registry.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <exception>
#include <optional>
#include <sstream>
#include <thread>

namespace onestor::backends::bridge {
bool g_serving = false;  // set by serve_bridge

namespace {

// The image stream's records: an 8-byte little-endian header, then for data its bytes.
// Header 0 ends the stream; the top bit marks a hole of that many zero bytes.
constexpr unsigned long long kHoleBit = 1ull << 63;
constexpr unsigned long long kMaxData = 1ull << 20, kMaxHole = 1ull << 50;

// Reads exactly n bytes; false at a clean end of stream before the first.
bool read_exact(int fd, char* p, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t k = ::read(fd, p + got, n - got);
        if (k < 0 && errno == EINTR) {
            check_interrupted();
            continue;
        }
        if (k < 0) throw_errno("cannot read", "the front-end's stream");
        if (k == 0) {
            if (got == 0) return false;
            throw DriverError("the image stream from the front-end broke off inside a record");
        }
        got += static_cast<size_t>(k);
    }
    return true;
}

class RecordSink final : public image_source::RawSink {
public:
    explicit RecordSink(int fd) : fd_(fd) {}
    void data(const char* p, size_t n) override {
        while (n > 0) {
            size_t k = std::min<size_t>(n, kMaxData);
            header(k);
            io::write_all(fd_, p, k, "the bridge host's stream");
            p += k;
            n -= k;
        }
    }
    void hole(unsigned long long n) override {
        while (n > 0) {
            unsigned long long k = std::min(n, kMaxHole);
            header(k | kHoleBit);
            n -= k;
        }
    }
    void end() { header(0); }

private:
    void header(unsigned long long h) {
        char b[8];
        for (int i = 0; i < 8; ++i) b[i] = static_cast<char>((h >> (8 * i)) & 0xff);
        io::write_all(fd_, b, 8, "the bridge host's stream");
    }
    int fd_;
};

std::string release() {
    const protocol::Profile& p = protocol::current_profile();
    return std::to_string(p.major) + "." + std::to_string(p.minor);
}

// On the bridge host, once its stdin holds nothing more to read: the end of it means the
// front-end is gone (killed, or it timed out), so this process stops as on SIGTERM (its
// clean-up runs, nothing is committed after that point).
void watch_front_end() {
    pollfd p{0, POLLIN, 0};
    char c;
    if (::poll(&p, 1, 0) > 0 && ::read(0, &c, 1) == 0)
        throw DriverError("the front-end went away (its end of the stream closed): stopped, nothing kept");
    std::thread([] {
        char c;
        for (;;) {
            ssize_t k = ::read(0, &c, 1);
            if (k > 0 || (k < 0 && errno == EINTR)) continue;
            ::kill(::getpid(), SIGTERM);
            return;
        }
    }).detach();
}

// One action on host h: the action data, then the image's records for cp, on its stdin.
// Nothing when the host has no onestor to run (exit 127, from its shell).
std::optional<std::vector<std::string>> talk(Host& h, const DsDump& d, long id, const std::string& action,
                                             const std::function<void(image_source::RawSink&)>& bytes) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) throw_errno("cannot make a pipe for", "the bridge host");
    io::File rd(p[0]), wr(p[1]);
    std::exception_ptr mine;
    bool gone = false;
    // export only reads there; the others change the datastore (monitor too: its directory is
    // made, dead writers' temps swept). A dry run sends no image bytes.
    bool asks = action == "export";
    bool send_bytes = bytes && !(dry_run::active() && !asks);
    if (bytes && !send_bytes) dry_run::skip("send the image's bytes to " + quoted(h.name()));
    std::thread writer([&] {
        try {
            std::string head = base64_encode(d.xml) + "\n";
            io::write_all(wr.fd(), head.data(), head.size(), "the bridge host's stream");
            if (send_bytes) {
                RecordSink s(wr.fd());
                bytes(s);
                s.end();
            }
        } catch (const io::ReaderGone&) {
            gone = true;
        } catch (...) {
            mine = std::current_exception();
            wr = io::File();  // the end of its stdin without an end mark: the host stops, keeps nothing
        }
    });
    Result r;
    try {
        r = h.run(h.onestor({"bridge", action, std::to_string(id), release()}),
                  {.timeout_s = static_cast<int>(config().get_int("COPY_TIMEOUT")),
                   .stdin_fd = rd.fd(),
                   .check = false,
                   .error_blocks = true,
                   .asks = asks});
    } catch (...) {
        rd = io::File();
        writer.join();
        throw;
    }
    // The host's stdin stays open while it works, and only then ends: should this process
    // end first (killed, timed out), that end tells the host to stop (watch_front_end).
    rd = io::File();
    writer.join();
    wr = io::File();
    if (!asks)
        dry_run::ends_here("what the bridge host " + quoted(h.name()) + " answers to " + action +
                           " is known once it has done it");
    // Its log lines, into the image's log, named after the host.
    std::istringstream err(r.err);
    for (std::string l; std::getline(err, l);) {
        if (l.rfind("INFO: ", 0) != 0) continue;
        auto c = l.find(": ", 6);
        log::info(h.name() + ": " + (c == std::string::npos ? l.substr(6) : l.substr(c + 2)));
    }
    // No onestor there (its shell's 127), or one from before this command: installed first.
    if (!h.local() && (r.status == 127 || r.err.find("unknown command 'bridge'") != std::string::npos)) return std::nullopt;
    if (mine) std::rethrow_exception(mine);  // the front-end's side failed first
    if (r.status != 0) throw DriverError("on bridge host " + quoted(h.name()) + ": " + failure_reason(r.err, true));
    if (gone) throw DriverError("bridge host " + quoted(h.name()) + " closed the image stream");
    std::vector<std::string> lines;
    std::istringstream out(r.out);
    for (std::string l; std::getline(out, l);) lines.push_back(l);
    return lines;
}

struct Reply {
    std::string host;
    std::vector<std::string> lines;
};

Reply call(const DsDump& d, long id, const std::string& action, const std::function<void(image_source::RawSink&)>& bytes = {}) {
    std::vector<std::string> names;
    std::istringstream in(d.datastore.attr("BRIDGE_LIST"));
    for (std::string w; in >> w;) names.push_back(valid_host(w));  // all refused before one is asked
    size_t start = static_cast<size_t>(id < 0 ? 0 : id) % names.size();
    std::vector<std::string> down;
    for (size_t i = 0; i < names.size(); ++i) {
        Host& h = Host::get(names[(start + i) % names.size()]);
        if (!h.reachable()) {
            log::info("bridge host " + quoted(h.name()) + " does not answer" + (i + 1 < names.size() ? ": trying the next" : ""));
            down.push_back(h.name());
            continue;
        }
        // One command per action: only when the host had no onestor to run (127) is it
        // installed, and the action sent again.
        if (auto lines = talk(h, d, id, action, bytes)) return {h.name(), *lines};
        if (!(config().get_bool("REMOTE_ONESTOR_INSTALL") && h.install_onestor()))
            throw DriverError("bridge host " + quoted(h.name()) + " has no onestor at " + quoted(config().get("REMOTE_ONESTOR")) +
                              " (install it there, or set REMOTE_ONESTOR_INSTALL=yes)");
        if (auto lines = talk(h, d, id, action, bytes)) return {h.name(), *lines};
        throw DriverError("onestor installed on bridge host " + quoted(h.name()) + " does not run there");
    }
    std::string list;
    for (const auto& n : down) list += (list.empty() ? "" : ", ") + n;
    throw DriverError("no host of the datastore's BRIDGE_LIST answers (" + list + ")");
}

const std::string& line(const Reply& r, size_t i) {
    if (r.lines.size() <= i) throw DriverError("bridge host " + quoted(r.host) + " gave no result");
    return r.lines[i];
}

unsigned long long number(const Reply& r, size_t i) {
    const std::string& s = line(r, i);
    if (s.empty() || s.size() > 19 || s.find_first_not_of("0123456789") != std::string::npos)
        throw DriverError("bridge host " + quoted(r.host) + " gave a result that is not a number: " + quoted(s));
    return std::stoull(s);
}

}  // namespace

bool serving() { return g_serving; }

bool applies(const DsDump& d) {
    if (g_serving) return false;
    std::istringstream in(d.datastore.attr("BRIDGE_LIST"));
    std::string w;
    return static_cast<bool>(in >> w);
}

DsResult image(const DsDump& d, long id, const std::string& action, const std::function<void(image_source::RawSink&)>& bytes) {
    Reply r = call(d, id, action, bytes);
    return {line(r, 0), line(r, 1)};
}

void image_void(const DsDump& d, long id, const std::string& action) { call(d, id, action); }

MonitorResult monitor(const DsDump& d) {
    Reply r = call(d, d.datastore.id, "monitor");  // the datastore's id picks, so each has its own
    MonitorResult m;
    m.used_mb = number(r, 0), m.total_mb = number(r, 1), m.free_mb = number(r, 2);
    return m;
}

ExportInfo export_image(const DsDump& d) {
    Reply r = call(d, d.img().id, "export");
    return {"ssh://" + r.host + ":" + line(r, 0), line(r, 1), line(r, 2), static_cast<long>(number(r, 3))};
}

void receive_image(const DsDump& d, int out_fd) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) throw_errno("cannot make a pipe for", "the image stream");
    io::File rd(p[0]), wr(p[1]);
    std::exception_ptr err;
    bool ended = false;
    // Records from stdin become the plain bytes the pipeline reads from the pipe.
    std::thread decoder([&] {
        try {
            std::vector<char> buf(kMaxData);
            const std::vector<char> zeros(1 << 16, 0);
            char h[8];
            while (read_exact(0, h, 8)) {
                unsigned long long v = 0;
                for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(h[i]);
                if (v == 0) {
                    ended = true;
                    break;
                }
                unsigned long long n = v & ~kHoleBit;
                if ((v & kHoleBit) ? n > kMaxHole : n > kMaxData)
                    throw DriverError("the image stream from the front-end holds a malformed record");
                if (v & kHoleBit) {
                    for (; n > 0; n -= std::min<unsigned long long>(n, zeros.size()))
                        io::write_all(wr.fd(), zeros.data(), std::min<unsigned long long>(n, zeros.size()), "the image pipeline");
                } else {
                    if (!read_exact(0, buf.data(), n))
                        throw DriverError("the image stream from the front-end broke off inside a record");
                    io::write_all(wr.fd(), buf.data(), n, "the image pipeline");
                }
            }
        } catch (const io::ReaderGone&) {  // the pipeline stopped reading: its error is the one
        } catch (...) {
            err = std::current_exception();
        }
        wr = io::File();
    });
    try {
        image_source::fill_from(d, rd.fd(), out_fd);
    } catch (...) {
        rd = io::File();
        decoder.join();
        if (err) std::rethrow_exception(err);  // a broken stream is the cause, not what the pipeline made of it
        throw;
    }
    rd = io::File();
    decoder.join();
    if (err) std::rethrow_exception(err);
    if (!ended) throw DriverError("the image stream from the front-end ended before its end mark: nothing is kept");
    watch_front_end();
}

}  // namespace onestor::backends::bridge

namespace onestor {

// The fs table's entry run here (bridge::serving), its result as plain lines.
int serve_bridge(const std::vector<std::string>& w, std::string& out) {
    using namespace backends;
    if (w.size() != 4) throw DriverError("usage: onestor bridge ACTION ID RELEASE (run by onestor itself)");
    const std::string& action = w[1];
    long id = static_cast<long>(parse_number(w[2], -1, 1L << 40, "image id"));
    protocol::current_profile() = protocol::profile_named(w[3]);
    protocol::current_profile().error = protocol::ErrorForm::Markers;  // read by the front-end
    log::set_action("fs/" + action);
    bridge::g_serving = true;
    // The action data: one line, read byte by byte so that the image's records stay unread.
    std::string b64;
    for (char c;;) {
        ssize_t k = ::read(0, &c, 1);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0 || c == '\n') break;
        if (b64.size() > (64u << 20)) throw DriverError("the action data from the front-end is too long");
        b64 += c;
    }
    DsDump d = DsDump::from_base64(b64);
    if (action != "cp") bridge::watch_front_end();  // (cp: once the image's records are read)
    const DsTable* t = find_ds_backend(d.datastore.ds_mad);
    if (!t || t->name != "fs") throw DriverError("only fs datastores are run on a bridge host by onestor");
    const Primitive& e = t->entry(action);
    if (action == "cp" || action == "mkfs" || action == "clone") {
        DsResult r = e.as<sig::Image>(t->name, action)(d, id);
        out = r.source + "\n" + r.format + "\n";
    } else if (action == "rm" || action == "snap_delete" || action == "snap_revert" || action == "snap_flatten") {
        e.as<sig::ImageVoid>(t->name, action)(d, id);
    } else if (action == "monitor") {
        MonitorResult m = e.as<sig::Monitor>(t->name, action)(d);
        out = std::to_string(m.used_mb) + "\n" + std::to_string(m.total_mb) + "\n" + std::to_string(m.free_mb) + "\n";
    } else if (action == "export") {
        ExportInfo x = e.as<sig::Export>(t->name, action)(d);
        out = x.source + "\n" + x.md5 + "\n" + x.format + "\n" + std::to_string(x.size_mb) + "\n";
    } else {
        throw DriverError("fs " + action + " is not run on a bridge host");
    }
    return 0;
}

}  // namespace onestor
