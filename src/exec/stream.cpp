// Over 400 lines because the stream format has two halves that must agree byte for byte
// (Writer: send; Reader and the receiver: receive), kept side by side in one file.
#include "onestor/stream.hpp"

#include "onestor/error.hpp"
#include "onestor/exec.hpp"
#include "onestor/io.hpp"
#include "onestor/log.hpp"
#include "onestor/numbers.hpp"
#include "onestor/paths.hpp"

#define XXH_STATIC_LINKING_ONLY  // XXH3_state_t on the stack, not malloc'd
#include <xxhash.h>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <set>
#include <thread>
#include <vector>

namespace onestor::stream {
namespace {

constexpr char kMagic[] = "ONESTOR-STREAM/1\n";
constexpr size_t kMagicLen = sizeof kMagic - 1;
constexpr size_t kChunk = 1 << 20;   // bytes read per pread
constexpr size_t kBlock = 64 << 10;  // zero detection granularity

bool all_zero(const char* p, size_t n) {
    static const char zeros[kBlock] = {};
    while (n > 0) {
        size_t k = std::min(n, kBlock);
        if (std::memcmp(p, zeros, k) != 0) return false;
        p += k, n -= k;
    }
    return true;
}

// ---- sender --------------------------------------------------------------------------

class Writer {
public:
    Writer(int fd, uint64_t limit) : fd_(fd), limit_(limit), start_(std::chrono::steady_clock::now()) {
        XXH3_128bits_reset(&h_);
        buf_.reserve(kChunk + 4096);
    }
    void bytes(const void* p, size_t n) {
        XXH3_128bits_update(&h_, p, n);
        raw(p, n);
    }
    void u8(uint8_t v) { bytes(&v, 1); }
    void u16(uint16_t v) { bytes(&v, 2); }
    void u32(uint32_t v) { bytes(&v, 4); }
    void u64(uint64_t v) { bytes(&v, 8); }
    void str(const std::string& s) {
        if (s.size() > 65535) throw DriverError("name too long for the stream: " + quoted(s));
        u16(static_cast<uint16_t>(s.size()));
        bytes(s.data(), s.size());
    }
    // File data: hashed, and written from where it lies, after what is buffered (no copy).
    void payload(const char* p, size_t n) {
        XXH3_128bits_update(&h_, p, n);
        flush(p, n);
    }
    void finish(uint64_t data) {
        u8('E');
        u64(data);
        XXH128_hash_t d = XXH3_128bits_digest(&h_);
        raw(&d, sizeof d);
        flush();
    }
    void flush(const char* extra = nullptr, size_t extra_len = 0) {
        iovec v[2] = {{buf_.data(), buf_.size()}, {const_cast<char*>(extra), extra_len}};
        iovec* iv = v;
        int left = 2;
        size_t total = buf_.size() + extra_len;
        for (size_t done = 0; done < total;) {
            check_interrupted();
            ssize_t n = ::writev(fd_, iv, left);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) throw_errno("cannot send the stream", "pipe");
            done += static_cast<size_t>(n);
            size_t k = static_cast<size_t>(n);
            for (; left > 0 && k >= iv->iov_len; --left) k -= iv++->iov_len;
            if (left > 0) {
                iv->iov_base = static_cast<char*>(iv->iov_base) + k;
                iv->iov_len -= k;
            }
        }
        sent_ += total;
        buf_.clear();
        if (limit_ > 0) {  // pace: never ahead of limit_ bytes per second
            double should = static_cast<double>(sent_) / static_cast<double>(limit_);
            double is = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
            if (should > is) std::this_thread::sleep_for(std::chrono::duration<double>(should - is));
        }
    }

private:
    void raw(const void* p, size_t n) {
        const char* c = static_cast<const char*>(p);
        buf_.insert(buf_.end(), c, c + n);
        if (buf_.size() >= kChunk) flush();
    }
    int fd_;
    uint64_t limit_, sent_ = 0;
    std::chrono::steady_clock::time_point start_;
    std::vector<char> buf_;
    XXH3_state_t h_;
};

void send_file(Writer& w, const std::string& path, const std::string& rel, const struct stat& st, Stats& s,
               std::vector<char>& buf) {
    io::File f = io::open_read(path);
    w.u8('F');
    w.str(rel);
    w.u32(st.st_mode & 07777);
    w.u64(static_cast<uint64_t>(st.st_size));
    off_t end = st.st_size, pos = 0;
    while (pos < end) {
        off_t data = ::lseek(f.fd(), pos, SEEK_DATA);
        if (data < 0 && errno == ENXIO) break;
        if (data < 0) data = pos;
        off_t hole = ::lseek(f.fd(), data, SEEK_HOLE);
        if (hole < 0 || hole > end) hole = end;
        for (off_t off = data; off < hole;) {
            size_t want = static_cast<size_t>(std::min<off_t>(hole - off, static_cast<off_t>(kChunk)));
            ssize_t r = ::pread(f.fd(), buf.data(), want, off);
            if (r < 0 && errno == EINTR) continue;
            if (r < 0) throw_errno("cannot read", path);
            if (r == 0) throw DriverError(quoted(path) + " shrank while it was sent");
            // Runs of non-zero blocks travel; zero blocks become holes on the far side.
            size_t n = static_cast<size_t>(r);
            for (size_t i = 0; i < n;) {
                size_t k = std::min(kBlock, n - i);
                if (all_zero(buf.data() + i, k)) {
                    i += k;
                    continue;
                }
                size_t j = i + k;
                while (j < n && !all_zero(buf.data() + j, std::min(kBlock, n - j))) j += std::min(kBlock, n - j);
                w.u8('X');
                w.u64(static_cast<uint64_t>(off) + i);
                w.u32(static_cast<uint32_t>(j - i));
                w.payload(buf.data() + i, j - i);
                s.data += j - i;
                i = j;
            }
            off += r;
        }
        pos = hole;
    }
    w.u8('Z');
    s.files++;
    s.size += static_cast<uint64_t>(st.st_size);
}

void send_entry(Writer& w, const std::string& path, const std::string& rel, Stats& s, std::vector<char>& buf) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) throw_errno("cannot read", path);
    if (S_ISREG(st.st_mode)) {
        send_file(w, path, rel, st, s, buf);
    } else if (S_ISLNK(st.st_mode)) {
        char t[4096];
        ssize_t n = ::readlink(path.c_str(), t, sizeof t);
        if (n < 0 || n == static_cast<ssize_t>(sizeof t)) throw_errno("cannot read link", path);
        w.u8('L');
        w.str(rel);
        w.str(std::string(t, static_cast<size_t>(n)));
    } else if (S_ISDIR(st.st_mode)) {
        w.u8('D');
        w.str(rel);
        w.u32(st.st_mode & 07777);
        std::vector<std::string> names;
        DIR* d = ::opendir(path.c_str());
        if (!d) throw_errno("cannot read directory", path);
        while (auto* e = ::readdir(d)) {
            std::string n = e->d_name;
            if (n != "." && n != ".." && n.find(".onestor-tmp.") == std::string::npos) names.push_back(n);
        }
        ::closedir(d);
        std::sort(names.begin(), names.end());
        for (const auto& n : names) send_entry(w, join_path(path, n), rel.empty() ? n : rel + "/" + n, s, buf);
    } else {
        throw DriverError(quoted(path) + " is neither a file, a directory nor a symlink");
    }
}

// ---- receiver ------------------------------------------------------------------------

class Reader {
public:
    explicit Reader(int fd) : fd_(fd), buf_(1 << 20) { XXH3_128bits_reset(&h_); }
    void bytes(void* p, size_t n, bool hash = true) {
        char* c = static_cast<char*>(p);
        while (n > 0) {
            if (pos_ == len_) fill();
            size_t k = std::min(n, len_ - pos_);
            std::memcpy(c, buf_.data() + pos_, k);
            if (hash) XXH3_128bits_update(&h_, buf_.data() + pos_, k);
            pos_ += k, c += k, n -= k;
        }
    }
    // One fixed-size field, as the sender wrote it.
    template <class T>
    T field() {
        T v;
        bytes(&v, sizeof v);
        return v;
    }
    // The next n bytes, hashed, handed to sink(p, k) in the pieces they arrived in (no copy).
    template <class Sink>
    void spans(size_t n, Sink&& sink) {
        while (n > 0) {
            if (pos_ == len_) fill();
            size_t k = std::min(n, len_ - pos_);
            XXH3_128bits_update(&h_, buf_.data() + pos_, k);
            sink(buf_.data() + pos_, k);
            pos_ += k, n -= k;
        }
    }
    std::string str() {
        std::string s(field<uint16_t>(), '\0');
        bytes(s.data(), s.size());
        return s;
    }
    XXH128_hash_t digest() const { return XXH3_128bits_digest(&h_); }

private:
    void fill() {
        check_interrupted();
        ssize_t n;
        do n = ::read(fd_, buf_.data(), buf_.size());
        while (n < 0 && errno == EINTR);
        if (n < 0) throw_errno("cannot read the stream", "pipe");
        if (n == 0) throw DriverError("the transfer stream ended early (the sender failed or the connection broke)");
        pos_ = 0, len_ = static_cast<size_t>(n);
    }
    int fd_;
    std::vector<char> buf_;
    size_t pos_ = 0, len_ = 0;
    XXH3_state_t h_;
};

// A relative stream path: components only, nothing absolute, no "..", no empty parts.
std::string safe_rel(const std::string& rel) {
    if (rel.empty()) return rel;
    if (rel[0] == '/') throw DriverError("the stream names an absolute path " + quoted(rel));
    size_t start = 0;
    while (start <= rel.size()) {
        size_t e = rel.find('/', start);
        std::string c = rel.substr(start, e == std::string::npos ? std::string::npos : e - start);
        if (c.empty() || c == "." || c == "..") throw DriverError("the stream names an unsafe path " + quoted(rel));
        for (unsigned char ch : c)
            if (ch == 0) throw DriverError("the stream names an unsafe path");
        if (e == std::string::npos) break;
        start = e + 1;
    }
    return rel;
}

// The permission bits a received file or directory may have: never setuid, setgid or
// sticky, never writable by others, whatever the stream says (a crafted stream, or a file
// a guest made setuid on its host, must not turn into a setuid binary on this one).
uint32_t safe_mode(uint32_t mode) { return mode & 0775; }

// A pipe of 1 MiB instead of 64 KiB between us and ssh: each side runs longer before it
// waits for the other (fewer wake-ups on a busy machine). Not a pipe, or not allowed: as is.
void widen_pipe(int fd) { ::fcntl(fd, F_SETPIPE_SZ, 1 << 20); }

}  // namespace

Stats send(const std::string& path, int fd, uint64_t limit_bps) {
    widen_pipe(fd);
    Writer w(fd, limit_bps);
    Stats s;
    std::vector<char> buf(kChunk);
    w.bytes(kMagic, kMagicLen);
    send_entry(w, path, "", s, buf);
    w.finish(s.data);
    return s;
}

Stats receive(int fd, const std::string& dst) {
    widen_pipe(fd);
    Reader r(fd);
    char magic[kMagicLen];
    r.bytes(magic, kMagicLen);
    if (std::memcmp(magic, kMagic, kMagicLen) != 0) throw DriverError("not an onestor transfer stream");
    io::mkdir_p(dirname_of(dst));
    // What dead receivers of dst left (a SIGKILL, a host crash): never a live one's.
    io::sweep_temps(dirname_of(dst), "." + basename_of(dst) + ".onestor-tmp.");
    std::string tmp = io::temp_name_for(dst);
    io::File hold;  // our temp's lock, held until it carries the final name (sweep_temps)
    bool made = false, is_dir = false;
    Stats s;
    std::set<std::string> dirs;  // directories this stream created (parents must be among them)
    std::vector<std::string> synced_dirs;
    try {
        for (;;) {
            uint8_t type = r.field<uint8_t>();
            if (type == 'E') break;
            std::string rel = safe_rel(r.str());
            if (rel.empty() == made) throw DriverError("malformed transfer stream (root record)");
            if (!rel.empty()) {
                std::string parent = rel.find('/') == std::string::npos ? "" : rel.substr(0, rel.rfind('/'));
                if (!is_dir || !dirs.count(parent))
                    throw DriverError("malformed transfer stream (no parent for " + quoted(rel) + ")");
            }
            std::string path = rel.empty() ? tmp : tmp + "/" + rel;
            made = true;
            if (type == 'D') {
                uint32_t mode = safe_mode(r.field<uint32_t>());
                if (::mkdir(path.c_str(), 0700) != 0) throw_errno("cannot create directory", path);
                if (rel.empty()) hold = io::File(io::hold_temp(path));
                ::chmod(path.c_str(), mode | 0700);
                if (rel.empty()) is_dir = true;
                dirs.insert(rel);
                synced_dirs.push_back(path);
            } else if (type == 'L') {
                std::string target = r.str();
                if (::symlink(target.c_str(), path.c_str()) != 0) throw_errno("cannot create symlink", path);
            } else if (type == 'F') {
                uint32_t mode = safe_mode(r.field<uint32_t>());
                uint64_t size = r.field<uint64_t>();
                int f = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
                if (f < 0) throw_errno("cannot create", path);
                io::File file(f);
                if (rel.empty()) hold = io::File(io::hold_temp(path));
                uint64_t unsynced = 0, synced_to = 0;
                for (;;) {
                    uint8_t t = r.field<uint8_t>();
                    if (t == 'Z') break;
                    if (t != 'X') throw DriverError("malformed transfer stream (extent)");
                    uint64_t off = r.field<uint64_t>();
                    uint32_t len = r.field<uint32_t>();
                    if (len > (64u << 20) || off > size || len > size - off)
                        throw DriverError("malformed transfer stream (extent bounds)");
                    uint64_t at = off;
                    r.spans(len, [&](const char* p, size_t k) {
                        for (size_t w = 0; w < k;) {
                            ssize_t n = ::pwrite(f, p + w, k - w, static_cast<off_t>(at + w));
                            if (n < 0 && errno == EINTR) continue;
                            if (n < 0) throw_errno("cannot write", dst);
                            w += static_cast<size_t>(n);
                        }
                        at += k;
                    });
                    s.data += len;
                    // Start writeback as we go, so the closing fsync has little left to wait for.
                    unsynced += len;
                    if (unsynced >= (32u << 20)) {
                        ::sync_file_range(f, static_cast<off_t>(synced_to), 0, SYNC_FILE_RANGE_WRITE);
                        synced_to = off + len;
                        unsynced = 0;
                    }
                }
                if (::ftruncate(f, static_cast<off_t>(size)) != 0) throw_errno("cannot size", dst);
                if (::fsync(f) != 0) throw_errno("cannot sync", dst);
                s.files++;
                s.size += size;
            } else {
                throw DriverError("malformed transfer stream (record type)");
            }
        }
        uint64_t data = r.field<uint64_t>();
        XXH128_hash_t want = r.digest();  // covers every byte up to the digest itself
        XXH128_hash_t got;
        r.bytes(&got, sizeof got, false);
        if (data != s.data || got.low64 != want.low64 || got.high64 != want.high64)
            throw DriverError("the transfer stream is corrupt (checksum mismatch) for " + quoted(dst));
        if (!made) throw DriverError("the transfer stream was empty");
        for (auto it = synced_dirs.rbegin(); it != synced_dirs.rend(); ++it) io::fsync_dir(*it);
        // Complete and synced: now it may carry the final name.
        struct stat st {};
        if (is_dir && ::lstat(dst.c_str(), &st) == 0)
            io::replace_dir(tmp, dst);
        else
            io::rename_path(tmp, dst, true);
        io::fsync_dir(dirname_of(dst));
    } catch (...) {
        try {
            io::remove_tree(tmp);
        } catch (...) {}
        throw;
    }
    return s;
}

uint64_t parse_rate(const std::string& text) {
    if (text.empty()) return 0;
    size_t digits = text.find_first_not_of("0123456789");
    std::string unit = digits == std::string::npos ? "" : text.substr(digits);
    int shift = unit == "" || unit == "B"    ? 0
                : unit == "K" || unit == "k" ? 10
                : unit == "M" || unit == "m" ? 20
                : unit == "G" || unit == "g" ? 30
                                             : -1;
    if (shift < 0) throw DriverError("bad transfer rate " + quoted(text));
    // In range before the shift: the rate in bytes/s fits an int64.
    return static_cast<uint64_t>(parse_number(text.substr(0, digits), 0, INT64_MAX >> shift, "transfer rate")) << shift;
}

}  // namespace onestor::stream
