// Filesystem safety on real files: lock files and their directory, remove_tree against a
// symlink swapped in while it works, and the sweep of dead writers' temporaries.
#include "onestor/config.hpp"
#include "onestor/error.hpp"
#include "onestor/io.hpp"
#include "onestor/lock.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>

using namespace onestor;
namespace fs = std::filesystem;

namespace {
struct Scratch {
    fs::path p = fs::temp_directory_path() / ("onestor-fsafe-" + std::to_string(getpid()) + "-" + std::to_string(rand()));
    Scratch() { fs::create_directories(p); }
    ~Scratch() { fs::remove_all(p); }
    std::string operator/(const std::string& n) const { return (p / n).string(); }
};

mode_t mode_of(const std::string& p) {
    struct stat st {};
    REQUIRE(::lstat(p.c_str(), &st) == 0);
    return st.st_mode;
}

// A pid that ran and is gone (reaped), as in the name of a killed writer's temp.
pid_t dead_pid() {
    pid_t p = fork();
    if (p == 0) _exit(0);
    waitpid(p, nullptr, 0);
    return p;
}

std::string temp_for(const std::string& dir, const std::string& target, pid_t pid, const char* hex = "0badcafe") {
    return dir + "/." + target + ".onestor-tmp." + std::to_string(pid) + "." + hex;
}
}  // namespace

TEST_CASE("Lock: a missing LOCK_DIR is created 0700; unsafe directories and lock files are refused") {
    Scratch s;
    std::string dir = s / "locks";
    config().set("LOCK_DIR", dir);
    { Lock a("vm-1", 1); }
    CHECK((mode_of(dir) & 07777) == 0700);
    CHECK((mode_of(dir + "/vm-1") & 077) == 0);

    SUBCASE("a lock file that is a planted symlink: refused, its target not created") {
        fs::create_symlink(s / "victim", dir + "/vm-2");
        CHECK_THROWS_WITH_AS(Lock("vm-2", 1), doctest::Contains("is a symlink: refused"), DriverError);
        CHECK_FALSE(fs::exists(s / "victim"));
        std::ofstream(s / "victim") << "precious";
        CHECK_THROWS_WITH_AS(Lock("vm-2", 1), doctest::Contains("is a symlink: refused"), DriverError);
        std::ifstream in(s / "victim");
        std::string got;
        in >> got;
        CHECK(got == "precious");
    }
    SUBCASE("a lock file that is a FIFO or a directory: refused at once, nothing waits") {
        REQUIRE(::mkfifo((dir + "/vm-3").c_str(), 0600) == 0);
        CHECK_THROWS_WITH_AS(Lock("vm-3", 1), doctest::Contains("not a regular file: refused"), DriverError);
        fs::create_directory(dir + "/vm-4");
        CHECK_THROWS_AS(Lock("vm-4", 1), DriverError);
    }
    SUBCASE("a lock directory that others may write in: refused") {
        fs::permissions(dir, fs::perms(01777));
        CHECK_THROWS_WITH_AS(Lock("vm-1", 1), doctest::Contains("writable by other users: refused"), DriverError);
        fs::permissions(dir, fs::perms(0770));
        CHECK_THROWS_WITH_AS(Lock("vm-1", 1), doctest::Contains("writable by other users: refused"), DriverError);
    }
    SUBCASE("a lock directory that is a symlink: refused") {
        fs::create_directory(s / "real");
        fs::create_directory_symlink(s / "real", s / "linked");
        config().set("LOCK_DIR", s / "linked");
        CHECK_THROWS_WITH_AS(Lock("vm-1", 1), doctest::Contains("refused"), DriverError);
        CHECK(fs::is_empty(s / "real"));
    }
    SUBCASE("a lock directory owned by another user: refused (as root only: needs chown)") {
        if (geteuid() == 0) {
            REQUIRE(::chown(dir.c_str(), 65534, 65534) == 0);
            CHECK_THROWS_WITH_AS(Lock("vm-1", 1), doctest::Contains("not by this user: refused"), DriverError);
        }
    }
    config().set("LOCK_DIR", dir);
}

TEST_CASE("remove_tree: a symlink swapped in for a directory while it works is never followed") {
    Scratch s, outside;
    for (int i = 0; i < 50; ++i) std::ofstream(outside / ("o" + std::to_string(i))) << "precious";
    std::string victim = s / "victim", swap = s / "swap";
    std::atomic<bool> stop{false};
    // Exchanges the two names as fast as it can: `victim` is a directory one moment and a
    // symlink to `outside` the next.
    std::thread swapper([&] {
        while (!stop) ::renameat2(AT_FDCWD, victim.c_str(), AT_FDCWD, swap.c_str(), RENAME_EXCHANGE);
    });
    for (int round = 0; round < 3000; ++round) {
        if (!fs::exists(fs::symlink_status(victim)) && !fs::exists(fs::symlink_status(swap))) {
            ::mkdir(victim.c_str(), 0755);
            for (int i = 0; i < 50; ++i) std::ofstream(victim + "/o" + std::to_string(i)) << "x";
            [[maybe_unused]] int made = ::symlink(outside.p.c_str(), swap.c_str());  // (or the racer made it)
        }
        try {
            io::remove_tree(victim);
        } catch (const DriverError&) {}
        if (round % 2) {
            try {
                io::remove_tree(swap);
            } catch (const DriverError&) {}
        }
    }
    stop = true;
    swapper.join();
    int kept = 0;
    for (int i = 0; i < 50; ++i) kept += fs::exists(outside / ("o" + std::to_string(i)));
    CHECK(kept == 50);
    CHECK(fs::is_directory(outside.p));
}

TEST_CASE("sweep_temps: a dead writer's temporary is removed, a live writer's never") {
    Scratch s;
    std::string d = s.p.string();
    pid_t gone = dead_pid();
    std::string dead_file = temp_for(d, "img", gone, "00000001");
    std::string dead_dir = temp_for(d, "disk.0", gone, "00000002");
    std::string held = temp_for(d, "img", gone, "00000003");      // its writer's pid reused: the lock decides
    std::string mine = temp_for(d, "img", getpid(), "00000004");  // a writer that runs (this process)
    std::ofstream(dead_file) << "half";
    fs::create_directories(dead_dir + "/sub");
    std::ofstream(dead_dir + "/sub/f") << "half";
    std::ofstream(held) << "being written";
    std::ofstream(mine) << "being written";
    // Look-alikes and a symlink with a temp's name: never touched, never followed.
    Scratch outside;
    std::ofstream(outside / "secret") << "precious";
    std::string link = temp_for(d, "lnk", gone, "00000005");
    fs::create_directory_symlink(outside.p, link);
    for (const char* n : {"img", ".img.onestor-tmp.x", ".img.onestor-tmp.12.0badcafe.conv", "img.onestor-tmp.12.0badcafe",
                          ".img.onestor-tmp.12.0BADCAFE"})
        std::ofstream(s / n) << "not a temp";

    // A live writer: a child process holding the lock of `held`.
    int ready[2];
    REQUIRE(pipe(ready) == 0);
    pid_t child = fork();
    if (child == 0) {
        int fd = ::open(held.c_str(), O_RDWR);
        ::flock(fd, LOCK_EX);
        (void)!::write(ready[1], "x", 1);
        pause();
        _exit(0);
    }
    char c;
    REQUIRE(::read(ready[0], &c, 1) == 1);

    CHECK(io::sweep_temps(d) == 2);
    CHECK_FALSE(fs::exists(dead_file));
    CHECK_FALSE(fs::exists(dead_dir));
    CHECK(fs::exists(held));
    CHECK(fs::exists(mine));
    CHECK(fs::is_symlink(link));
    CHECK(fs::exists(outside / "secret"));
    for (const char* n : {"img", ".img.onestor-tmp.x", ".img.onestor-tmp.12.0badcafe.conv", "img.onestor-tmp.12.0badcafe",
                          ".img.onestor-tmp.12.0BADCAFE"})
        CHECK(fs::exists(s / n));

    // Its writer dies: now it is swept.
    ::kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
    CHECK(io::sweep_temps(d, ".img.onestor-tmp.") == 1);
    CHECK_FALSE(fs::exists(held));
    CHECK(fs::exists(mine));
    ::close(ready[0]);
    ::close(ready[1]);
}

TEST_CASE("sweep_temps: a conversion's output beside an import's temp (a temp of a temp) is swept too") {
    Scratch s;
    std::string d = s.p.string();
    std::string conv = io::temp_name_for(temp_for(d, "img", dead_pid(), "00000001"));
    CHECK(io::is_temp_name(fs::path(conv).filename().string()));
    std::ofstream(conv) << "half converted";
    // Not ours by name (a temp's name carries its writer's pid): rename it as a dead one's.
    std::string dead = conv.substr(0, conv.rfind(".onestor-tmp.") + 13) + std::to_string(dead_pid()) + ".0000000a";
    fs::rename(conv, dead);
    CHECK(io::sweep_temps(d) == 1);
    CHECK_FALSE(fs::exists(dead));
}

TEST_CASE("TempFile: its writer holds the lock, so a sweep leaves it alone") {
    Scratch s;
    io::TempFile t(s / "target");
    int fd = ::open(t.path().c_str(), O_RDONLY);
    REQUIRE(fd >= 0);
    CHECK(::flock(fd, LOCK_EX | LOCK_NB) != 0);
    ::close(fd);
}
