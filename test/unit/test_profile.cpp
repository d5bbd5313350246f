// Caller profiles: detection from remotes/VERSION, the PROTOCOL override, the fallback by
// the call's shape, and the forms each profile prints.
#include "onestor/error.hpp"
#include "onestor/profile.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

using namespace onestor;
using profile::Shape;

namespace {

// A remotes tree <tmp>/remotes with tm/shared/ and VERSION holding `version` (nullptr: none).
struct Tree {
    std::string root, remotes;
    explicit Tree(const char* version) {
        char t[] = "/tmp/onestor-profile.XXXXXX";
        root = ::mkdtemp(t);
        remotes = root + "/remotes";
        ::mkdir(remotes.c_str(), 0755);
        ::mkdir((remotes + "/tm").c_str(), 0755);
        ::mkdir((remotes + "/tm/shared").c_str(), 0755);
        if (version) std::ofstream(remotes + "/VERSION") << version;
    }
    ~Tree() { std::system(("rm -rf '" + root + "'").c_str()); }
    profile::Detection detect(Shape shape = Shape::Unknown, const std::string& setting = "") const {
        return profile::detect(setting, profile::remotes_dirs_of(remotes + "/tm/shared/clone", "/nonexistent/onestor"), shape);
    }
};

}  // namespace

TEST_CASE("profile: remotes/VERSION picks the release family") {
    auto d5 = Tree("5.12.0\n").detect();
    CHECK(d5.profile.family() == "5.x");
    CHECK(d5.profile.monitor_base64());
    CHECK_FALSE(d5.profile.source_format());
    CHECK_FALSE(d5.profile.plain_error());
    CHECK(d5.note.empty());
    auto d6 = Tree("6.10.0\n").detect(Shape::DumpOnStdin);
    CHECK(d6.profile.family() == "6.x");
    CHECK(d6.profile.source_format());
    CHECK(d6.profile.plain_error());
    CHECK(d6.profile.reason_is_all_stderr());
    CHECK(d6.note.empty());
    CHECK(d6.profile.origin.find("VERSION 6.10.0") != std::string::npos);
    auto d7 = Tree("7.4.0").detect(Shape::DumpOnArgv);  // VERSION wins over the shape
    CHECK(d7.profile.family() == "7.x");
    CHECK(d7.profile.plain_error());
    CHECK_FALSE(d7.profile.reason_is_all_stderr());
    CHECK(d7.note.empty());
    // Inside a family: 6.0 still reads the markers; 5.10 the POLL monitor form.
    CHECK_FALSE(Tree("6.0.0").detect().profile.plain_error());
    CHECK(Tree("6.0.0").detect().profile.source_format());
    CHECK_FALSE(Tree("5.10.1").detect().profile.monitor_base64());
}

TEST_CASE("profile: missing or garbage VERSION falls back to the newest the call allows, with a note") {
    auto none = Tree(nullptr).detect(Shape::DumpOnStdin);
    CHECK(none.profile.family() == "7.x");
    CHECK(none.note.find("no remotes/VERSION") != std::string::npos);
    CHECK(none.note.find("7.x") != std::string::npos);
    auto argv = Tree(nullptr).detect(Shape::DumpOnArgv);  // a dump on argv: before 6.8
    CHECK(argv.profile.family() == "6.x");
    CHECK(argv.profile.source_format());
    CHECK_FALSE(argv.note.empty());
    for (const char* garbage : {"garbage\n", "", "4.14.2", "8.0.0", "6.x", "6.10.a", "\x01\x02", "99999999999.1"}) {
        auto g = Tree(garbage).detect(Shape::Unknown);
        CHECK(g.profile.family() == "7.x");
        CHECK(g.note.find("names no release") != std::string::npos);
    }
}

TEST_CASE("profile: PROTOCOL overrides VERSION; an unknown value is refused") {
    Tree t("6.10.0");
    CHECK(t.detect(Shape::Unknown, "5").profile.family() == "5.x");
    CHECK_FALSE(t.detect(Shape::Unknown, "5").profile.monitor_base64());  // the seed's forms
    CHECK(t.detect(Shape::Unknown, "7").profile.family() == "7.x");
    CHECK(t.detect(Shape::Unknown, "5.12.0").profile.monitor_base64());
    CHECK(t.detect(Shape::Unknown, "7").note.empty());
    CHECK_THROWS_WITH_AS(t.detect(Shape::Unknown, "8"), doctest::Contains("PROTOCOL"), DriverError);
}

TEST_CASE("profile: the binary's own directory is a remotes tree too") {
    auto dirs = profile::remotes_dirs_of("/var/tmp/one/tm/ssh/monitor_ds", "/var/tmp/one/onestor");
    CHECK(dirs == std::vector<std::string>{"/var/tmp/one"});
    CHECK(profile::remotes_dirs_of("onestor", "/usr/bin/onestor") == std::vector<std::string>{"/usr/bin"});
    CHECK(profile::remotes_dirs_of("/r/datastore/fs/cp", "/x/onestor") == std::vector<std::string>{"/r", "/x"});
    CHECK(profile::remotes_dirs_of("build/onestor", "") == std::vector<std::string>{"build"});
    CHECK(profile::remotes_dirs_of("a/b", "") == std::vector<std::string>{"a"});
}

TEST_CASE("profile: forms of the monitor line and the error") {
    profile::Profile saved = profile::current();
    profile::current() = *profile::from_version("5.10.0");
    CHECK(profile::vm_monitor_line("7", "DISK_SIZE=[ID=0,SIZE=5] ") == "VM=[ID=7,POLL=\"DISK_SIZE=[ID=0,SIZE=5] \"]");
    CHECK(profile::error_text("bad\nthing", "d1\n", "tm/x/y") ==
          "ERROR: tm/x/y: d1\nERROR MESSAGE --8<------\nbad thing\nERROR MESSAGE ------>8--\n");
    profile::current() = *profile::from_version("5.12.0");
    CHECK(profile::vm_monitor_line("7", "DISK_SIZE=[ID=0,SIZE=5] ") == "VM=[ID=7,MONITOR=\"RElTS19TSVpFPVtJRD0wLFNJWkU9NV0g\"]");
    profile::current() = *profile::from_version("6.10.0");
    CHECK(profile::error_text("bad", "d1", "tm/x/y") == "bad\nERROR: tm/x/y: d1\n");
    profile::current() = *profile::from_version("7.4.0");
    CHECK(profile::error_text("bad", "d1", "tm/x/y") == "ERROR: tm/x/y: d1\nbad\n");
    profile::current() = saved;
}
