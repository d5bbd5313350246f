// Host::batch: several steps in one remote command. The "remote" host here is a stand-in ssh
// that runs the command it is given with /bin/sh, as sshd does, so the script the batch
// builds meets a real shell; the same steps on the front-end run as syscalls.
#include "onestor/config.hpp"
#include "onestor/error.hpp"
#include "onestor/host.hpp"

#include <doctest/doctest.h>

#include <unistd.h>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

using namespace onestor;
namespace fs = std::filesystem;

namespace {

struct Sandbox {
    fs::path dir = fs::temp_directory_path() / ("onestor-batch-" + std::to_string(getpid()));
    Sandbox() {
        fs::create_directories(dir);
        std::ofstream ssh(dir / "ssh");
        // A master (-N) or its end (-O) succeeds at once; a command runs in /bin/sh.
        ssh << "#!/bin/sh\nfor a; do last=$a; done\ncase \" $* \" in *\" -N \"*|*\" -O \"*) exit 0;; esac\n"
               "exec /bin/sh -c \"$last\"\n";
        ssh.close();
        fs::permissions(dir / "ssh", fs::perms::owner_all);
        config().set("SSH", (dir / "ssh").string());
    }
    ~Sandbox() {
        Host::close_all();  // before the statics it logs through are gone
        config().set("SSH", "ssh");
        fs::remove_all(dir);
    }
    std::string path(const std::string& name) const { return (dir / name).string(); }
};

}  // namespace

TEST_CASE("batch: one command for every step; outputs apart; hostile names stay literal") {
    Sandbox s;
    std::string odd = s.path("it's $(touch PWNED) `x` ; a b\nc");
    for (Host* h : {&Host::get("batchhost"), &Host::local_host()}) {
        CAPTURE(h->name());
        fs::remove_all(odd);
        auto out = h->batch({h->mkdir_step(odd), h->run_step({"printf", "%s", "first\nout"}, "cannot print"),
                             h->symlink_step("target with 'quotes'", odd + "/link"), h->readlink_step(odd + "/link", "no link"),
                             h->list_step(odd)});
        REQUIRE(out.size() == 5);
        CHECK(out[0].empty());
        CHECK(out[1] == "first\nout");
        CHECK(out[3] == "target with 'quotes'");
        CHECK(Host::parse_list(out[4]) == std::vector<std::string>{"link"});
        CHECK(fs::is_symlink(odd + "/link"));
        CHECK_FALSE(fs::exists(s.path("PWNED")));
        CHECK_FALSE(fs::exists(fs::current_path() / "PWNED"));
        CHECK(h->batch({}).empty());
    }
}

TEST_CASE("batch: the first failing step stops it, with its own reason; its undo runs") {
    Sandbox s;
    for (Host* h : {&Host::get("batchhost"), &Host::local_host()}) {
        CAPTURE(h->name());
        std::string a = s.path("a"), b = s.path("b"), later = s.path("later");
        fs::remove_all(a), fs::remove_all(b), fs::remove_all(later);
        std::ofstream(a) << "x";
        std::ofstream(b) << "y";
        // rename without replacing onto an existing name: refused, and `a` stays
        CHECK_THROWS_WITH_AS(h->batch({h->sync_step(a), h->rename_step(a, b, false), h->mkdir_step(later)}),
                             doctest::Contains("already exists"), DriverError);
        CHECK(fs::exists(a));
        CHECK_FALSE(fs::exists(later));  // nothing after the failure ran
        CHECK_THROWS_WITH_AS(h->batch({h->present_step(s.path("missing"), "the snapshot does not exist")}),
                             "the snapshot does not exist", DriverError);
        CHECK_THROWS_WITH_AS(h->batch({h->run_step({"sh", "-c", "echo 'disk full' >&2; exit 3"}, "cannot write")}),
                             "cannot write: disk full", DriverError);
        // a symlink whose rename fails leaves no temporary link behind (the undo)
        fs::create_directories(s.path("dir/sub"));
        std::ofstream(s.path("dir/sub/file")) << "z";
        CHECK_THROWS_AS(h->batch({h->symlink_step("t", s.path("dir/sub"))}), DriverError);
        for (const auto& e : fs::directory_iterator(s.path("dir"))) CHECK(e.path().filename() == "sub");
    }
}

TEST_CASE("batch: the step that reads stdin gets the batch's, on a host and here") {
    Sandbox sb;
    std::ofstream(sb.path("in")) << "the image's bytes\n";
    for (Host* h : {&Host::get("batchhost"), &Host::local_host()}) {
        CAPTURE(h->name());
        FILE* in = std::fopen(sb.path("in").c_str(), "r");
        REQUIRE(in);
        auto out = h->batch({h->mkdir_step(sb.path("made")), h->run_step({"cat"}, "cannot read stdin")}, fileno(in));
        std::fclose(in);
        CHECK(out.at(1) == "the image's bytes\n");
        CHECK(fs::is_directory(sb.path("made")));
        fs::remove(sb.path("made"));
    }
}

TEST_CASE("the front-end knows itself by its addresses, not by an address merely routed to it") {
    CHECK(Host::get("127.0.0.1").local());
    // ::1 where the kernel lists it on an interface (a container may have IPv6 off)
    bool has_v6_loopback = std::system("grep -q '^00000000000000000000000000000001 ' /proc/net/if_inet6 2>/dev/null") == 0;
    CHECK(Host::get("::1").local() == has_v6_loopback);
    CHECK_FALSE(Host::get("127.0.0.2").local());  // lo routes 127/8; only .1 is assigned (the test hosts live there)
    CHECK_FALSE(Host::get("192.0.2.7").local());  // TEST-NET-1: nobody's
    // Every IPv4 address `ip` lists for this machine (a host oned was given by IP); the
    // container image has no iproute2: there, 127.0.0.1 above is the one address.
    if (std::system("command -v ip >/dev/null") != 0) return;
    FILE* p = ::popen("ip -4 -o addr show | awk '{print $4}' | cut -d/ -f1", "r");
    REQUIRE(p != nullptr);
    char line[64];
    int seen = 0;
    while (std::fgets(line, sizeof line, p)) {
        std::string a(line);
        a.erase(a.find_last_not_of("\n") + 1);
        CAPTURE(a);
        CHECK(Host::get(a).local());
        ++seen;
    }
    ::pclose(p);
    CHECK(seen >= 1);
    Host::close_all();
}
