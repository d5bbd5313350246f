// `onestor receive`: arbitrary bytes as the transfer stream, received in-process from a
// memfd into a scratch directory this target makes (on /dev/shm when it can: the receiver
// fsyncs) and removes at exit. Beyond "only DriverError escapes", a refused stream must
// leave nothing behind: not the target, not a temporary beside it.
#include "onestor/error.hpp"
#include "onestor/io.hpp"
#include "onestor/stream.hpp"

#include <dirent.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cstdint>
#include <cstdlib>
#include <string>

using namespace onestor;

static std::string scratch;

static void remove_scratch() {
    if (!scratch.empty()) io::remove_tree(scratch);
}

static bool empty_dir(const std::string& dir) {
    DIR* d = ::opendir(dir.c_str());
    if (!d) std::abort();
    int n = 0;
    while (dirent* e = ::readdir(d))
        if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") n++;
    ::closedir(d);
    return n == 0;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    std::string base = ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    std::string tmpl = base + "/onestor-fuzz-receive.XXXXXX";
    if (!::mkdtemp(tmpl.data())) std::abort();
    scratch = tmpl;
    std::atexit(remove_scratch);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    int fd = ::memfd_create("stream", MFD_CLOEXEC);
    if (fd < 0) std::abort();
    for (size_t w = 0; w < size;) {
        ssize_t n = ::write(fd, data + w, size - w);
        if (n <= 0) std::abort();
        w += static_cast<size_t>(n);
    }
    ::lseek(fd, 0, SEEK_SET);
    const std::string dst = scratch + "/dst";
    try {
        stream::receive(fd, dst);
        io::remove_tree(dst);
    } catch (const DriverError&) {}
    ::close(fd);
    if (!empty_dir(scratch)) std::abort();  // a refused stream left something; or the clean-up failed
    return 0;
}
