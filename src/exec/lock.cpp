#include "onestor/lock.hpp"

#include "onestor/config.hpp"
#include "onestor/dry_run.hpp"
#include "onestor/error.hpp"
#include "onestor/exec.hpp"
#include "onestor/io.hpp"
#include "onestor/log.hpp"
#include "onestor/paths.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cerrno>

namespace onestor {
namespace {

// LOCK_DIR, opened without following a symlink and created 0700 when missing, refused
// unless it is ours (or root's) and no one else may write in it: /var/lock is world-
// writable, and another user who could put names there could point our lock files at
// files of ours, or hold our locks.
io::File open_lock_dir(const std::string& dir) {
    io::mkdir_p(dirname_of(dir));
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) throw_errno("cannot create lock directory", dir);
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && (errno == ELOOP || errno == ENOTDIR))
        throw DriverError("lock directory " + quoted(dir) + " is not a directory (a symlink?): refused");
    if (fd < 0) throw_errno("cannot open lock directory", dir);
    io::File f(fd);
    struct stat st {};
    if (::fstat(fd, &st) != 0) throw_errno("cannot stat lock directory", dir);
    if (st.st_uid != ::geteuid() && st.st_uid != 0)
        throw DriverError("lock directory " + quoted(dir) + " is owned by uid " + std::to_string(st.st_uid) +
                          ", not by this user: refused");
    if (st.st_mode & (S_IWGRP | S_IWOTH))
        throw DriverError("lock directory " + quoted(dir) + " is writable by other users: refused");
    return f;
}

}  // namespace

Lock::Lock(const std::string& name, int timeout_s) {
    if (timeout_s < 0) timeout_s = static_cast<int>(config().get_int("LOCK_TIMEOUT"));
    for (char c : name)
        if (c == '/' || c == '\0') throw DriverError("internal error: bad lock name " + quoted(name));
    if (dry_run::active()) return;  // a dry run changes nothing that needs one
    std::string dir = config().get("LOCK_DIR");
    std::string path = dir + "/" + name;
    io::File d = open_lock_dir(dir);
    // O_NOFOLLOW: a link planted in the directory is refused, never followed to create or
    // truncate its target; O_NONBLOCK: a FIFO planted there does not hang the open.
    fd_ = ::openat(d.fd(), name.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0600);
    if (fd_ < 0 && errno == ELOOP) throw DriverError("lock file " + quoted(path) + " is a symlink: refused");
    if (fd_ < 0) throw_errno("cannot open lock file", path);
    struct stat st {};
    if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd_);
        fd_ = -1;
        throw DriverError("lock file " + quoted(path) + " is not a regular file: refused");
    }
    timespec start{}, now{};
    clock_gettime(CLOCK_MONOTONIC, &start);
    bool waited = false;
    while (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK && errno != EINTR) {
            ::close(fd_);
            throw_errno("cannot lock", path);
        }
        if (!waited) log::info("waiting for lock " + quoted(name));
        waited = true;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec >= timeout_s || interrupted()) {
            ::close(fd_);
            fd_ = -1;
            check_interrupted();
            throw DriverError("timed out after " + std::to_string(timeout_s) + " s waiting for lock " + quoted(path));
        }
        usleep(50000);
    }
}

Lock::~Lock() {
    if (fd_ >= 0) ::close(fd_);
}

}  // namespace onestor
