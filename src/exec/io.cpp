// Over 400 lines: the front-end's file primitives as one unit (sparse copy, temp name + fsync
// + rename, tree removal, the sweep of dead writers' temporaries): the temp-name rules are
// shared by the writer, the sweep and the liveness check, and must not drift apart.
#include "onestor/io.hpp"

#include "onestor/dry_run.hpp"
#include "onestor/error.hpp"
#include "onestor/exec.hpp"
#include "onestor/log.hpp"
#include "onestor/paths.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <cerrno>
#include <climits>
#include <csignal>
#include <random>
#include <vector>

namespace onestor::io {

File& File::operator=(File&& o) noexcept {
    if (this != &o) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = o.release();
    }
    return *this;
}

File::~File() {
    if (fd_ >= 0) ::close(fd_);
}

int File::release() {
    int f = fd_;
    fd_ = -1;
    return f;
}

File open_read(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw_errno("cannot open", path);
    return File(fd);
}

std::string read_capped(int fd, size_t cap, const std::string& what) {
    std::string s;
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw_errno("cannot read", what);
        if (n == 0) return s;
        if (s.size() + static_cast<size_t>(n) > cap)
            throw DriverError(what + " is larger than " +
                              (cap >= (1u << 20) ? std::to_string(cap >> 20) + " MiB" : std::to_string(cap) + " bytes") +
                              "; refused");
        s.append(buf, static_cast<size_t>(n));
    }
}

void require_image_file(int fd, const std::string& path) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) throw_errno("cannot stat", path);
    if (!S_ISREG(st.st_mode)) throw DriverError(quoted(path) + " is not a regular file");
    struct statfs fs {};
    if (::fstatfs(fd, &fs) != 0) throw_errno("cannot stat the filesystem of", path);
    switch (static_cast<unsigned long>(fs.f_type)) {
        case PROC_SUPER_MAGIC:
        case SYSFS_MAGIC:
        case DEBUGFS_MAGIC:
        case TRACEFS_MAGIC:
        case SECURITYFS_MAGIC:
        case CGROUP_SUPER_MAGIC:
        case CGROUP2_SUPER_MAGIC:
        case BPF_FS_MAGIC:
        case EFIVARFS_MAGIC: throw DriverError(quoted(path) + " is a file of a kernel pseudo filesystem, not an image");
        default: break;
    }
    // An operator never means to register an empty image (0 MiB: nothing a VM can use).
    if (st.st_size == 0) throw DriverError(quoted(path) + " is empty");
}

namespace {

// Moves [off, off+len) with copy_file_range, falling back to read/write where the kernel
// or filesystem pair cannot (EXDEV, EINVAL, ENOSYS, EOPNOTSUPP).
void copy_range(int in, int out, off_t off, off_t len, bool& use_cfr, log::Progress& prog) {
    static thread_local std::vector<char> buf;
    while (len > 0) {
        check_interrupted();
        size_t chunk = static_cast<size_t>(std::min<off_t>(len, 64 << 20));
        if (use_cfr) {
            loff_t ioff = off, ooff = off;
            ssize_t n = ::copy_file_range(in, &ioff, out, &ooff, chunk, 0);
            if (n > 0) {
                off += n, len -= n;
                prog.advance(static_cast<unsigned long long>(n));
                continue;
            }
            if (n == 0) throw DriverError("source file shrank during the copy");
            if (errno == EINTR) continue;
            if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
                throw_errno("cannot copy data", "copy_file_range");
            use_cfr = false;
        }
        if (buf.empty()) buf.resize(1 << 20);
        size_t want = std::min(chunk, buf.size());
        ssize_t r = ::pread(in, buf.data(), want, off);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) throw_errno("cannot read", "source");
        if (r == 0) throw DriverError("source file shrank during the copy");
        for (ssize_t w = 0; w < r;) {
            ssize_t n = ::pwrite(out, buf.data() + w, static_cast<size_t>(r - w), off + w);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) throw_errno("cannot write", "destination");
            w += n;
        }
        off += r, len -= r;
        prog.advance(static_cast<unsigned long long>(r));
    }
}

}  // namespace

CopyStats copy_fd(int in, int out, const std::string& label, bool share) {
    struct stat st {};
    if (::fstat(in, &st) != 0) throw_errno("cannot stat", label);
    CopyStats cs;
    cs.size = static_cast<unsigned long long>(st.st_size);
    if (dry_run::skip("copy " + label)) return cs;
    if (::ftruncate(out, 0) != 0) throw_errno("cannot truncate", label);
    // Reflink first: O(1) where the filesystem shares extents (xfs reflink, btrfs).
    if (share && S_ISREG(st.st_mode) && ::ioctl(out, FICLONE, in) == 0) {
        cs.reflinked = true;
        cs.data = static_cast<unsigned long long>(st.st_blocks) * 512;
        return cs;
    }
    // The data to move (what the progress counts): the allocated bytes, at most the size.
    log::Progress prog(label, std::min(cs.size, static_cast<unsigned long long>(st.st_blocks) * 512));
    bool use_cfr = true;
    off_t end = st.st_size, pos = 0;
    while (pos < end) {
        off_t data = ::lseek(in, pos, SEEK_DATA);
        if (data < 0 && errno == ENXIO) break;  // only a hole remains
        if (data < 0) {                         // no SEEK_DATA support: treat everything as data
            data = pos;
        }
        off_t hole = ::lseek(in, data, SEEK_HOLE);
        if (hole < 0) hole = end;
        if (hole > end) hole = end;
        copy_range(in, out, data, hole - data, use_cfr, prog);
        cs.data += static_cast<unsigned long long>(hole - data);
        pos = hole;
    }
    if (::ftruncate(out, end) != 0) throw_errno("cannot set size of", label);
    prog.done();
    return cs;
}

void write_all(int fd, const char* p, size_t n, const std::string& stream) {
    while (n > 0) {
        ssize_t k = ::write(fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0 && errno == EPIPE) throw ReaderGone(stream + " was closed by its reader");
        if (k < 0) throw_errno("cannot write to", stream);
        p += k;
        n -= static_cast<size_t>(k);
    }
}

std::string random_hex(size_t bytes) {
    std::string b(bytes, '\0'), s;
    if (getrandom(b.data(), bytes, 0) != static_cast<ssize_t>(bytes)) throw_errno("cannot get random bytes", "getrandom");
    static const char* hex = "0123456789abcdef";
    for (unsigned char c : b) s += hex[c >> 4], s += hex[c & 15];
    return s;
}

std::string temp_name_for(const std::string& target) {
    static std::mt19937_64 rng{std::random_device{}()};
    char suffix[32];
    snprintf(suffix, sizeof suffix, "%d.%08llx", getpid(), static_cast<unsigned long long>(rng() & 0xffffffffu));
    return join_path(dirname_of(target), "." + basename_of(target) + ".onestor-tmp." + suffix);
}

TempFile::TempFile(std::string target, mode_t mode) : target_(std::move(target)), mode_(mode) {
    if (dry_run::active()) {  // a descriptor that holds nothing and names no file
        tmp_ = temp_name_for(target_);
        dry_run::skip("create " + shell_quote(tmp_));
        file_ = File(::memfd_create("onestor-dry-run", MFD_CLOEXEC));
        if (!file_) throw_errno("cannot create a memory file for", tmp_);
        return;
    }
    for (int i = 0; i < 8 && !file_; ++i) {
        tmp_ = temp_name_for(target_);
        int fd = ::open(tmp_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode);
        if (fd >= 0)
            file_ = File(fd);
        else if (errno != EEXIST)
            throw_errno("cannot create a file beside", target_);
    }
    if (!file_) throw DriverError("cannot create a temporary file beside " + quoted(target_));
    // Held for our lifetime: the mark of a live writer that sweep_temps() respects.
    ::flock(file_.fd(), LOCK_EX);
}

TempFile::~TempFile() {
    if (!done_ && !dry_run::active()) ::unlink(tmp_.c_str());
}

void TempFile::commit(bool replace) {
    check_interrupted();  // told to stop (SIGTERM): nothing is published from then on
    if (dry_run::active()) {
        rename_path(tmp_, target_, replace);
        done_ = true;
        return;
    }
    // By path, not by our fd: a tool (qemu-img, mkfs) may have replaced the inode.
    File again(::open(tmp_.c_str(), O_RDONLY | O_CLOEXEC));
    if (!again || ::fchmod(again.fd(), mode_) != 0) throw_errno("cannot set the mode of", tmp_);
    if (::fsync(again.fd()) != 0) throw_errno("cannot sync", tmp_);
    rename_path(tmp_, target_, replace);
    done_ = true;
    fsync_dir(dirname_of(target_));
}

void rename_path(const std::string& from, const std::string& to, bool replace) {
    if (dry_run::skip(render({"mv", "-T", replace ? "-f" : "--no-clobber", "--", from, to}))) return;
    int rc = replace ? ::rename(from.c_str(), to.c_str())
                     : ::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE);
    if (rc != 0) {
        if (errno == EEXIST) throw DriverError(quoted(to) + " already exists");
        throw_errno("cannot rename " + quoted(from) + " to", to);
    }
}

void replace_dir(const std::string& from, const std::string& to) {
    if (dry_run::skip("put the tree " + shell_quote(from) + " in the place of " + shell_quote(to))) return;
    // The tree replaced: its removal failing must not fail the replacement.
    auto remove_old = [](const std::string& path) {
        try {
            remove_tree(path);
        } catch (const DriverError& e) {
            log::info(std::string("the replaced copy was not removed: ") + e.what());
        }
    };
    if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_EXCHANGE) == 0) {
        fsync_dir(dirname_of(to));
        remove_old(from);  // the old tree, which now has from's name
        return;
    }
    int e = errno;
    if (e == ENOENT && !exists(to) && exists(from)) return rename_path(from, to, false);
    errno = e;
    if (e != EINVAL && e != ENOSYS && e != ENOTSUP) throw_errno("cannot replace " + quoted(to) + " with", from);
    // No RENAME_EXCHANGE on this filesystem: move the old tree aside first, and back again
    // should the second rename fail.
    std::string old = temp_name_for(to);
    rename_path(to, old, false);
    try {
        rename_path(from, to, false);
    } catch (...) {
        ::renameat2(AT_FDCWD, old.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE);
        throw;
    }
    remove_old(old);
}

void fsync_dir(const std::string& dir) {
    if (dry_run::active()) return;  // (what it would sync was not made)
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    ::fsync(fd);
    ::close(fd);
}

void mkdir_p(const std::string& dir, mode_t mode) {
    if (dir.empty() || dir == "/") return;
    struct stat st {};
    if (::stat(dir.c_str(), &st) == 0) {
        if (!S_ISDIR(st.st_mode)) throw DriverError(quoted(dir) + " exists and is not a directory");
        return;
    }
    if (dry_run::skip(render({"mkdir", "-p", "--", dir}))) return;
    mkdir_p(dirname_of(dir), mode);
    if (::mkdir(dir.c_str(), mode) != 0 && errno != EEXIST) throw_errno("cannot create directory", dir);
}

bool exists(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

namespace {

// Removes `name` in the directory `dirfd`: a symlink or a file is unlinked, a directory is
// opened with O_NOFOLLOW (a symlink swapped in is never followed) and emptied through its
// own descriptor, then removed. `shown` names it in errors.
void remove_at(int dirfd, const std::string& name, const std::string& shown) {
    if (::unlinkat(dirfd, name.c_str(), 0) == 0 || errno == ENOENT) return;
    if (errno != EISDIR && errno != EPERM) throw_errno("cannot remove", shown);
    int fd = ::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && (errno == ELOOP || errno == ENOTDIR) && ::unlinkat(dirfd, name.c_str(), 0) == 0)
        return;  // no longer a directory (a symlink swapped in): removed as what it is now
    if (fd < 0) {
        if (errno == ENOENT) return;
        throw_errno("cannot open directory", shown);
    }
    DIR* d = ::fdopendir(fd);
    if (!d) {
        ::close(fd);
        throw_errno("cannot open directory", shown);
    }
    std::vector<std::string> names;
    while (auto* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n != "." && n != "..") names.push_back(n);
    }
    try {
        for (const auto& n : names) remove_at(::dirfd(d), n, join_path(shown, n));
    } catch (...) {
        ::closedir(d);
        throw;
    }
    ::closedir(d);
    if (::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) throw_errno("cannot remove directory", shown);
}

}  // namespace

void remove_tree(const std::string& path) {
    if (path.empty()) return;
    std::string dir = dirname_of(path), name = basename_of(path);
    if (name.empty() || name == "/" || name == "." || name == "..") throw DriverError("cannot remove " + quoted(path));
    if (dry_run::skip(render({"rm", "-rf", "--", path}))) return;
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        if (errno == ENOENT || errno == ENOTDIR) return;
        throw_errno("cannot open directory", dir);
    }
    File hold(dfd);
    remove_at(dfd, name, path);
}

bool is_temp_name(const std::string& name) {
    // ".<name>.onestor-tmp.<pid>.<8 hex digits>", exactly as temp_name_for() makes them.
    const std::string mark = ".onestor-tmp.";
    size_t m = name.rfind(mark);
    if (name.size() < 2 || name[0] != '.' || m == std::string::npos || m < 2) return false;
    std::string tail = name.substr(m + mark.size());
    size_t dot = tail.find('.');
    if (dot == 0 || dot == std::string::npos || dot > 10 || tail.size() - dot - 1 != 8) return false;
    for (size_t i = 0; i < tail.size(); ++i) {
        char c = tail[i];
        bool ok = i < dot ? (c >= '0' && c <= '9') : i == dot || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
        if (!ok) return false;
    }
    return true;
}

namespace {

// Whether the process named in a temp name still runs here (then it is never swept, even
// should it write the temp with a program that holds no lock).
bool writer_alive(const std::string& name) {
    size_t m = name.rfind(".onestor-tmp.") + 13;
    long pid = std::strtol(name.c_str() + m, nullptr, 10);
    if (pid <= 0 || pid > INT_MAX) return false;
    return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

}  // namespace

int sweep_temps(const std::string& dir, const std::string& prefix) {
    if (dry_run::skip("sweep " + shell_quote(join_path(dir, prefix)) + "*, what dead writers left", false)) return 0;
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return 0;
    File hold(dfd);
    DIR* d = ::fdopendir(::dup(dfd));
    if (!d) return 0;
    std::vector<std::string> names;
    while (auto* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (is_temp_name(n) && n.rfind(prefix, 0) == 0) names.push_back(n);
    }
    ::closedir(d);
    int removed = 0;
    for (const auto& n : names) {
        if (writer_alive(n)) continue;
        // O_NOFOLLOW: a symlink is never followed (nor swept); O_NONBLOCK: a FIFO never blocks.
        int fd = ::openat(dfd, n.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (fd < 0) continue;
        File f(fd);
        struct stat st {
        }, again{};
        if (::fstat(fd, &st) != 0 || !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))) continue;
        // A writer holds LOCK_EX on its temp for as long as it lives: taken means alive.
        if (::flock(fd, LOCK_EX | LOCK_NB) != 0) continue;
        if (::fstatat(dfd, n.c_str(), &again, AT_SYMLINK_NOFOLLOW) != 0 || again.st_ino != st.st_ino || again.st_dev != st.st_dev)
            continue;
        try {
            remove_at(dfd, n, join_path(dir, n));
            log::info("removed " + quoted(join_path(dir, n)) + ", left by a writer that died");
            ++removed;
        } catch (const DriverError& e) {
            log::info(std::string("a dead writer's temporary was not removed: ") + e.what());
        }
    }
    if (removed) ::fsync(dfd);
    return removed;
}

int hold_temp(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) throw_errno("cannot open", path);
    ::flock(fd, LOCK_EX);
    return fd;
}

unsigned long long allocated_bytes(const std::string& path) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) return 0;
    unsigned long long total = static_cast<unsigned long long>(st.st_blocks) * 512;
    if (S_ISDIR(st.st_mode)) {
        if (DIR* d = ::opendir(path.c_str())) {
            while (auto* e = ::readdir(d)) {
                std::string n = e->d_name;
                if (n != "." && n != "..") total += allocated_bytes(join_path(path, n));
            }
            ::closedir(d);
        }
    }
    return total;
}

unsigned long long mib_ceil(unsigned long long bytes) { return (bytes + (1ull << 20) - 1) >> 20; }

}  // namespace onestor::io
