// The one audited quoting function, checked against a real POSIX shell; and the runner.
#include "onestor/config.hpp"
#include "onestor/error.hpp"
#include "onestor/exec.hpp"
#include "onestor/lock.hpp"

#include <doctest/doctest.h>

#include <csignal>

#include <fcntl.h>
#include <unistd.h>
#include <cstdlib>
#include <filesystem>

using namespace onestor;
namespace fs = std::filesystem;

TEST_CASE("shell_quote: every hostile word comes back from /bin/sh unchanged and runs nothing") {
    fs::path dir = fs::temp_directory_path() / ("onestor-quote-" + std::to_string(getpid()));
    fs::create_directories(dir);
    std::string canary = (dir / "PWNED").string();
    Argv words = {"plain",
                  "with space",
                  "it's",
                  "\"double\"",
                  "$(touch " + canary + ")",
                  "`touch " + canary + "`",
                  "; touch " + canary,
                  "&& touch " + canary,
                  "| touch " + canary,
                  "line\nbreak",
                  "tab\there",
                  "*",
                  "?",
                  "[a]",
                  "~",
                  "-rf",
                  "--",
                  "",
                  "back\\slash",
                  "!bang",
                  "'''",
                  "$HOME",
                  "${IFS}",
                  "ünïcødé"};
    Result r = run({"/bin/sh", "-c", "cd " + shell_quote(dir.string()) + " && printf '%s\\0' " + shell_join(words)});
    Argv back;
    size_t start = 0;
    for (size_t i = 0; i < r.out.size(); ++i)
        if (r.out[i] == '\0') {
            back.push_back(r.out.substr(start, i - start));
            start = i + 1;
        }
    CHECK(back == words);
    CHECK_FALSE(fs::exists(canary));
    fs::remove_all(dir);
}

TEST_CASE("shell_quote and render") {
    CHECK(shell_quote("a") == "'a'");
    CHECK(shell_quote("it's") == "'it'\\''s'");
    CHECK(shell_join({"a b", "c"}) == "'a b' 'c'");
    CHECK(render({"qemu-img", "info", "/var/lib/one/x"}) == "qemu-img info /var/lib/one/x");
    CHECK(render({"rm", "a b"}) == "rm 'a b'");
}

TEST_CASE("run: output, status, failures with a reason") {
    Result r = run({"sh", "-c", "echo out; echo err >&2; exit 3"}, {.check = false});
    CHECK(r.status == 3);
    CHECK(r.out == "out\n");
    CHECK(r.err == "err\n");
    CHECK_THROWS_WITH_AS(run({"sh", "-c", "echo first >&2; echo 'the reason' >&2; exit 1"}, {.what = "cannot do it"}),
                         "cannot do it: the reason", DriverError);
    CHECK_THROWS_WITH_AS(run({"/nonexistent/program"}), doctest::Contains("cannot run"), DriverError);
    CHECK_THROWS_WITH_AS(run({"sleep", "5"}, {.timeout_s = 1}), doctest::Contains("timed out"), DriverError);
    // The reason inside a remote onestor's error block is the one that counts...
    CHECK(failure_reason("INFO: x\nERROR MESSAGE --8<------\ndisk full\nERROR MESSAGE ------>8--\n", true) == "disk full");
    // ...but only from onestor: a tool's stderr is data. qemu-img echoes a backing name read
    // from a guest-written header, and the guest wrote a block into that name.
    std::string forged =
        "qemu-img: Could not open 'x\nERROR MESSAGE --8<------\nyour account is suspended\n"
        "ERROR MESSAGE ------>8--\ny': Could not open backing file: No such file or directory\n";
    CHECK(failure_reason(forged) == "y': Could not open backing file: No such file or directory");
    CHECK_THROWS_WITH_AS(run({"sh", "-c", "printf '%s' \"$1\" >&2; exit 1", "sh", forged}, {.what = "cannot read"}),
                         "cannot read: y': Could not open backing file: No such file or directory", DriverError);
    CHECK_THROWS_WITH_AS(run({"sh", "-c", "printf '%s' \"$1\" >&2; exit 1", "sh", forged}, {.what = "x", .error_blocks = true}),
                         "x: your account is suspended", DriverError);
    CHECK(failure_reason("a\nlast line\n\n") == "last line");
    // a trailing warning does not hide the error before it
    CHECK(failure_reason("  Volume group \"vg\" has insufficient free space\n  WARNING: not backed up.\n") ==
          "Volume group \"vg\" has insufficient free space");
    CHECK(failure_reason("  WARNING: only a warning\n") == "WARNING: only a warning");
}

TEST_CASE("run: rlimits are set in the child before it execs") {
    Result r = run({"sh", "-c", "ulimit -v; ulimit -t"}, {.limits = {.address_space = 256ull << 20, .cpu_s = 7}});
    CHECK(r.out == std::to_string(256 << 10) + "\n7\n");
    CHECK(run({"sh", "-c", "ulimit -t"}).out == "unlimited\n");  // and only there
    // two malloc arenas under an address-space limit (threads reserve 64 MiB each otherwise)
    CHECK(run({"sh", "-c", "echo $MALLOC_ARENA_MAX"}, {.limits = {.address_space = 1ull << 30}}).out == "2\n");
    // A program that wants more memory than allowed fails, one that spins is stopped.
    CHECK(run({"sh", "-c", "x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo ${#x}"},
              {.check = false, .limits = {.address_space = 64ull << 20}})
              .status != 0);
    int st = run({"sh", "-c", "while :; do :; done"}, {.timeout_s = 20, .check = false, .limits = {.cpu_s = 1}}).status;
    CHECK((st == 128 + SIGXCPU || st == 128 + SIGKILL));  // (long before the 20 s timeout, which would throw)
}

TEST_CASE("run_pipe: producer | consumer, and the producer's failure is named") {
    Result r = run_pipe({"printf", "a\\nb\\nc\\n"}, {"wc", "-l"});
    CHECK(r.out == "3\n");
    CHECK_THROWS_WITH_AS(run_pipe({"sh", "-c", "echo 'producer broke' >&2; exit 2"}, {"cat"}),
                         doctest::Contains("producer broke"), DriverError);
    CHECK_THROWS_WITH_AS(run_pipe({"echo", "x"}, {"sh", "-c", "cat >/dev/null; echo 'consumer broke' >&2; exit 4"}),
                         doctest::Contains("consumer broke"), DriverError);
}

TEST_CASE("Lock: a second holder times out with a clear error; other names do not wait") {
    fs::path dir = fs::temp_directory_path() / ("onestor-lock-" + std::to_string(getpid()));
    config().set("LOCK_DIR", dir.string());
    {
        Lock a("vm-42", 1);
        // flock locks belong to the open file description: a second open in this process
        // contends like another process would.
        CHECK_THROWS_WITH_AS(Lock("vm-42", 1), doctest::Contains("timed out after 1 s waiting for lock"), DriverError);
        Lock b("vm-43", 1);
    }
    Lock again("vm-42", 1);  // released with its holder
    CHECK_THROWS_AS(Lock("bad/name", 1), DriverError);
    fs::remove_all(dir);
}
