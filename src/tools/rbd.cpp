#include "onestor/rbd.hpp"

#include "onestor/error.hpp"
#include "onestor/exec.hpp"
#include "onestor/io.hpp"
#include "onestor/log.hpp"
#include "onestor/paths.hpp"

#include <nlohmann/json.hpp>

#include <sys/stat.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

namespace onestor::rbd {

const std::string& valid_name(const std::string& s, const std::string& what) {
    if (s.empty()) throw DriverError(what + " is empty");
    if (s.size() > 100) throw DriverError(what + " is longer than 100 characters");
    for (unsigned char c : s)
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
            throw DriverError(what + " " + quoted(s) + " may hold only letters, digits, '_', '.' and '-'");
    if (s[0] == '-' || s[0] == '.') throw DriverError(what + " " + quoted(s) + " starts with " + quoted(s.substr(0, 1)));
    return s;
}

Image parse_spec(const std::string& spec) {
    auto slash = spec.find('/');
    if (slash == std::string::npos) throw DriverError("RBD source " + quoted(spec) + " is not POOL/IMAGE");
    return {valid_name(spec.substr(0, slash), "pool name"), valid_name(spec.substr(slash + 1), "RBD image name")};
}

Image image_of(const std::string& pool, long image_id) {
    if (image_id < 0) throw DriverError("image id " + std::to_string(image_id) + " is negative");
    return {valid_name(pool, "pool name"), "one-" + std::to_string(image_id)};
}

Image disk_of(const Image& src, long vmid, int disk) {
    if (vmid < 0 || disk < 0) throw DriverError("VM and disk ids must not be negative");
    return {src.pool, valid_name(src.name + "-" + std::to_string(vmid) + "-" + std::to_string(disk), "RBD image name")};
}

Image volatile_of(const std::string& pool, long vmid, int disk) {
    if (vmid < 0 || disk < 0) throw DriverError("VM and disk ids must not be negative");
    return {valid_name(pool, "pool name"), "one-sys-" + std::to_string(vmid) + "-" + std::to_string(disk)};
}

void Auth::validate() const {
    if (!user.empty()) valid_name(user, "CEPH_USER");
    // Paths on the host: absolute (never read as an option), clean, no control characters.
    if (!key.empty() && clean_path(key, "CEPH_KEY") != key) throw DriverError("CEPH_KEY " + quoted(key) + " is not a clean path");
    if (!conf.empty() && clean_path(conf, "CEPH_CONF") != conf)
        throw DriverError("CEPH_CONF " + quoted(conf) + " is not a clean path");
    if (timeout_s <= 0 || timeout_s > 86400) throw DriverError("the Ceph timeout must be 1..86400 seconds");
}

namespace {
Argv with_auth(const std::string& tool, const Auth& a, const Argv& words) {
    a.validate();
    Argv out{tool};
    if (!a.conf.empty()) out.insert(out.end(), {"-c", a.conf});
    if (!a.user.empty()) out.insert(out.end(), {"--id", a.user});
    if (!a.key.empty()) {
        bool keyring = a.key.size() > 8 && a.key.compare(a.key.size() - 8, 8, ".keyring") == 0;
        out.insert(out.end(), {keyring ? "--keyring" : "--keyfile", a.key});
    }
    std::string t = std::to_string(a.timeout_s);
    out.insert(out.end(), {"--client_mount_timeout=" + t, "--rados_mon_op_timeout=" + t, "--rados_osd_op_timeout=" + t});
    out.insert(out.end(), words.begin(), words.end());
    return out;
}

using nlohmann::json;

json parse(const std::string& text, const std::string& what) {
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded()) throw DriverError(what + " printed no valid JSON");
    return j;
}

const json& member(const json& o, const char* key, const std::string& what) {
    if (!o.is_object()) throw DriverError(what + ": expected a JSON object");
    auto it = o.find(key);
    if (it == o.end()) throw DriverError(what + ": no " + quoted(key));
    return *it;
}

std::string str(const json& o, const char* key, const std::string& what) {
    const json& v = member(o, key, what);
    if (!v.is_string()) throw DriverError(what + ": " + quoted(key) + " is not a string");
    return v.get<std::string>();
}

unsigned long long count(const json& o, const char* key, const std::string& what) {
    const json& v = member(o, key, what);
    // Only a non-negative integer: get<> of a float or a negative number would be undefined
    // behaviour or wrap.
    if (!v.is_number_unsigned()) throw DriverError(what + ": " + quoted(key) + " is not a count");
    return v.get<unsigned long long>();
}
}  // namespace

Argv rbd(const Auth& a, const Argv& words) { return with_auth("rbd", a, words); }
Argv ceph(const Auth& a, const Argv& words) { return with_auth("ceph", a, words); }

// {"name":"one-0","size":5242880,"format":2,"snapshot_count":0,...,
//  "parent":{"pool":"one","pool_namespace":"","image":"one-0","snapshot":"snap",...}}
Info parse_info(const std::string& text) {
    const std::string what = "rbd info";
    json j = parse(text, what);
    Info i;
    i.name = str(j, "name", what);
    i.size = count(j, "size", what);
    unsigned long long f = count(j, "format", what);
    if (f != 1 && f != 2) throw DriverError(what + ": unknown image format " + std::to_string(f));
    i.format = static_cast<int>(f);
    if (j.contains("snapshot_count")) i.snapshot_count = count(j, "snapshot_count", what);
    if (j.contains("parent")) {
        const json& p = j["parent"];
        i.parent = Parent{str(p, "pool", what), str(p, "image", what), str(p, "snapshot", what)};
    }
    if (j.contains("protected")) {  // "true"/"false" (a string, as rbd prints it)
        const json& p = j["protected"];
        i.is_protected = p.is_string() ? p.get<std::string>() == "true" : (p.is_boolean() && p.get<bool>());
    }
    return i;
}

// [{"id":4,"name":"snap","size":5242880,"protected":"true","timestamp":"..."}]
std::vector<Snap> parse_snaps(const std::string& text) {
    const std::string what = "rbd snap ls";
    json j = parse(text, what);
    if (!j.is_array()) throw DriverError(what + ": expected a JSON list");
    std::vector<Snap> out;
    for (const auto& e : j) {
        Snap s;
        s.id = count(e, "id", what);
        s.name = str(e, "name", what);
        s.size = count(e, "size", what);
        if (e.contains("protected")) {
            const json& p = e["protected"];  // "true"/"false" (a string, as rbd prints it)
            s.is_protected = p.is_string() ? p.get<std::string>() == "true" : (p.is_boolean() && p.get<bool>());
        }
        out.push_back(std::move(s));
    }
    return out;
}

// ["one-0","one-0-1-0"]
std::vector<std::string> parse_ls(const std::string& text) {
    const std::string what = "rbd ls";
    json j = parse(text, what);
    if (!j.is_array()) throw DriverError(what + ": expected a JSON list");
    std::vector<std::string> out;
    for (const auto& e : j) {
        if (!e.is_string()) throw DriverError(what + ": a name is not a string");
        out.push_back(e.get<std::string>());
    }
    return out;
}

// [{"pool":"one","pool_namespace":"","image":"one-0-1-0"}]
std::vector<std::string> parse_children(const std::string& text) {
    const std::string what = "rbd children";
    json j = parse(text, what);
    if (!j.is_array()) throw DriverError(what + ": expected a JSON list");
    std::vector<std::string> out;
    for (const auto& e : j) out.push_back(str(e, "pool", what) + "/" + str(e, "image", what));
    return out;
}

// {"images":[{"name":"one-3","id":"..","snapshot":"snap","snapshot_id":4,"provisioned_size":67108864,
//  "used_size":0},{"name":"one-3","id":"..","provisioned_size":67108864,"used_size":4096}],...}
std::vector<Usage> parse_du(const std::string& text) {
    const std::string what = "rbd du";
    json j = parse(text, what);
    const json& images = member(j, "images", what);
    if (!images.is_array()) throw DriverError(what + ": \"images\" is not a list");
    std::vector<Usage> out;
    for (const auto& e : images)
        out.push_back(
            {str(e, "name", what), e.contains("snapshot") ? str(e, "snapshot", what) : "", count(e, "used_size", what)});
    return out;
}

// {"stats":{...},"pools":[{"name":"one","id":1,"stats":{"stored":19,"bytes_used":4096,
//  "max_avail":9896189952,...}}]}
PoolUsage parse_df(const std::string& text, const std::string& pool) {
    const std::string what = "ceph df";
    json j = parse(text, what);
    const json& pools = member(j, "pools", what);
    if (!pools.is_array()) throw DriverError(what + ": \"pools\" is not a list");
    for (const auto& p : pools) {
        if (str(p, "name", what) != pool) continue;
        const json& st = member(p, "stats", what);
        return {count(st, "stored", what), count(st, "max_avail", what)};
    }
    throw DriverError(what + ": the cluster has no pool " + quoted(pool));
}

namespace {

void put(int fd, const char* p, size_t n) { io::write_all(fd, p, n, "the rbd diff stream"); }

std::string le64(unsigned long long v) {
    std::string s(8, '\0');
    for (int i = 0; i < 8; ++i) s[i] = static_cast<char>(v >> (8 * i));
    return s;
}

constexpr unsigned long long kHead = 64 << 10;
constexpr unsigned long long kGrow = 1ull << 30;  // (a resize per GiB; the last one's excess trimmed)

bool zero(const char* p, size_t n) { return n == 0 || (p[0] == 0 && std::memcmp(p, p + 1, n - 1) == 0); }

}  // namespace

DiffWriter::DiffWriter(int out_fd, unsigned long long size) : out_(out_fd), size_(size) {
    std::string head = std::string("rbd diff v1\n") + 's' + le64(size);
    put(out_, head.data(), head.size());
}

void DiffWriter::run(unsigned long long offset, const char* p, size_t n) {
    if (offset + n > size_) size((offset + n + kGrow - 1) / kGrow * kGrow);
    if (offset < kHead) {
        if (head_.empty()) head_.assign(kHead, '\0');
        size_t k = static_cast<size_t>(std::min<unsigned long long>(n, kHead - offset));
        head_.replace(offset, k, p, k);
    }
    std::string rec = 'w' + le64(offset) + le64(n);
    put(out_, rec.data(), rec.size());
    put(out_, p, n);
    sent_ += n;
    high_ = std::max(high_, offset + n);
}

void DiffWriter::size(unsigned long long n) {
    size_ = n;
    std::string rec = 's' + le64(n);
    put(out_, rec.data(), rec.size());
}

void DiffWriter::restart() {
    if (high_) {
        std::string rec = 'z' + le64(0) + le64(high_);
        put(out_, rec.data(), rec.size());
    }
    head_.clear();
    high_ = sent_ = 0;
}

void DiffWriter::end() { put(out_, "e", 1); }

unsigned long long write_diff(int in, int out, const std::string& label) {
    struct stat st {};
    if (::fstat(in, &st) != 0) throw_errno("cannot stat", label);
    const off_t end = st.st_size;
    DiffWriter diff(out, static_cast<unsigned long long>(end));
    constexpr size_t kBlock = 4096;
    std::vector<char> buf(1 << 20);
    log::Progress prog(label,
                       std::min(static_cast<unsigned long long>(end), static_cast<unsigned long long>(st.st_blocks) * 512));
    for (off_t pos = 0; pos < end;) {
        off_t data = ::lseek(in, pos, SEEK_DATA);
        if (data < 0 && errno == ENXIO) break;  // only a hole is left
        if (data < 0) data = pos;               // no SEEK_DATA: all of it is data
        off_t hole = ::lseek(in, data, SEEK_HOLE);
        if (hole < 0 || hole > end) hole = end;
        for (off_t off = data; off < hole;) {
            size_t n = static_cast<size_t>(std::min<off_t>(hole - off, static_cast<off_t>(buf.size())));
            for (size_t got = 0; got < n;) {
                ssize_t k = ::pread(in, buf.data() + got, n - got, off + static_cast<off_t>(got));
                if (k < 0 && errno == EINTR) continue;
                if (k < 0) throw_errno("cannot read", label);
                if (k == 0) throw DriverError(label + " shrank while it was read");
                got += static_cast<size_t>(k);
            }
            for (size_t i = 0; i < n;) {  // each run of blocks holding data: one 'w' record
                size_t b = std::min(kBlock, n - i);
                if (zero(buf.data() + i, b)) {
                    i += b;
                    continue;
                }
                size_t j = i + b;
                for (size_t c; j < n && !zero(buf.data() + j, c = std::min(kBlock, n - j));) j += c;
                diff.run(static_cast<unsigned long long>(off) + i, buf.data() + i, j - i);
                i = j;
            }
            off += static_cast<off_t>(n);
            prog.advance(n);
            check_interrupted();
        }
        pos = hole;
    }
    if (::fstat(in, &st) != 0 || st.st_size < end) throw DriverError(label + " shrank while it was read");
    diff.end();  // (only now: without it import-diff fails, and nothing is renamed)
    prog.done();
    return diff.sent();
}

}  // namespace onestor::rbd
