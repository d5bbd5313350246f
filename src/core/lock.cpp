#include "onestor/lock.hpp"

#include "onestor/config.hpp"
#include "onestor/error.hpp"
#include "onestor/exec.hpp"
#include "onestor/io.hpp"
#include "onestor/log.hpp"

#include <cerrno>
#include <fcntl.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

namespace onestor {

Lock::Lock(const std::string& name, int timeout_s) {
    if (timeout_s < 0) timeout_s = static_cast<int>(config().get_int("LOCK_TIMEOUT"));
    for (char c : name)
        if (c == '/' || c == '\0') throw DriverError("internal error: bad lock name " + quoted(name));
    std::string dir = config().get("LOCK_DIR");
    io::mkdir_p(dir);
    std::string path = dir + "/" + name;
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw_errno("cannot open lock file", path);
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
