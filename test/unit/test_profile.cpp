// Caller profiles: detection from remotes/VERSION, the PROTOCOL override, the fallback by
// the call's shape, and the forms each profile chooses.
#include "onestor/error.hpp"
#include "onestor/protocol.hpp"

#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

using namespace onestor;
using namespace onestor::protocol;

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
    ~Tree() { std::filesystem::remove_all(root); }
    Detection detect(Shape shape = Shape::Unknown, const std::string& setting = "") const {
        return protocol::detect(setting, remotes_dirs_of(remotes + "/tm/shared/clone", "/nonexistent/onestor"), shape);
    }
};

}  // namespace

TEST_CASE("profile: remotes/VERSION picks the release family") {
    auto d5 = Tree("5.12.0\n").detect();
    CHECK(d5.profile.name == "5");
    CHECK(d5.profile.monitor_vms == VmLineForm::Monitor);
    CHECK_FALSE(d5.profile.source_format);
    CHECK(d5.profile.error == ErrorForm::Markers);
    CHECK(d5.note.empty());
    auto d6 = Tree("6.10.0\n").detect(Shape::DumpOnStdin);
    CHECK(d6.profile.name == "6");
    CHECK(d6.profile.source_format);
    CHECK(d6.profile.error == ErrorForm::PlainFirst);
    CHECK(d6.profile.monitor_vms == VmLineForm::Monitor);
    CHECK(d6.note.empty());
    CHECK(d6.profile.origin.find("VERSION 6.10.0") != std::string::npos);
    auto d7 = Tree("7.4.0").detect(Shape::DumpOnArgv);  // VERSION wins over the shape
    CHECK(d7.profile.name == "7");
    CHECK(d7.profile.error == ErrorForm::Plain);
    CHECK(d7.profile.describe() == "7.x (7.4 forms)");
    CHECK(d7.note.empty());
    // Inside a family: 6.0 still reads the markers; 5.10 the POLL lines.
    CHECK(Tree("6.0.0").detect().profile.error == ErrorForm::Markers);
    CHECK(Tree("6.0.0").detect().profile.source_format);
    CHECK(Tree("5.10.1").detect().profile.monitor_vms == VmLineForm::Poll);
}

TEST_CASE("profile: missing or garbage VERSION falls back to the newest the call allows, with a note") {
    auto none = Tree(nullptr).detect(Shape::DumpOnStdin);
    CHECK(none.profile.name == "7");
    CHECK(none.note.find("no remotes/VERSION") != std::string::npos);
    CHECK(none.note.find("7.x") != std::string::npos);
    auto argv = Tree(nullptr).detect(Shape::DumpOnArgv);  // a dump on argv: before 6.8
    CHECK(argv.profile.name == "6");
    CHECK(argv.profile.source_format);
    CHECK_FALSE(argv.note.empty());
    for (const char* garbage : {"garbage\n", "", "4.14.2", "8.0.0", "6.x", "6.10.a", "\x01\x02", "99999999999.1", "-6.10"}) {
        auto g = Tree(garbage).detect(Shape::Unknown);
        CHECK(g.profile.name == "7");
        CHECK(g.note.find("names no release") != std::string::npos);
    }
}

TEST_CASE("profile: PROTOCOL overrides VERSION; an unknown value is refused") {
    Tree t("6.10.0");
    CHECK(t.detect(Shape::Unknown, "5").profile.name == "5");
    CHECK(t.detect(Shape::Unknown, "5").profile.monitor_vms == VmLineForm::Poll);  // the seed's forms
    CHECK(t.detect(Shape::Unknown, "7").profile.name == "7");
    CHECK(t.detect(Shape::Unknown, "5.12.0").profile.monitor_vms == VmLineForm::Monitor);
    CHECK(t.detect(Shape::Unknown, "7").note.empty());
    CHECK_THROWS_WITH_AS(t.detect(Shape::Unknown, "8"), doctest::Contains("PROTOCOL"), DriverError);
}

TEST_CASE("profile: where VERSION is looked for") {
    CHECK(remotes_dirs_of("/var/tmp/one/tm/ssh/monitor_ds", "/var/tmp/one/onestor") == std::vector<std::string>{"/var/tmp/one"});
    CHECK(remotes_dirs_of("onestor", "/usr/bin/onestor") == std::vector<std::string>{"/usr/bin"});
    CHECK(remotes_dirs_of("/r/datastore/fs/cp", "/x/onestor") == std::vector<std::string>{"/r", "/x"});
    CHECK(remotes_dirs_of("build/onestor", "") == std::vector<std::string>{"build"});
    CHECK(remotes_dirs_of("a/b", "") == std::vector<std::string>{"a"});
}

TEST_CASE("profile: the error form of each family") {
    CHECK(error_block("bad\nthing", profile_named("5.12").error) ==
          "ERROR MESSAGE --8<------\nbad thing\nERROR MESSAGE ------>8--\n");
    CHECK(error_block("bad\nthing", profile_named("6.10").error) == "bad thing\n");
    CHECK(error_block("bad", profile_named("7.4.0").error) == "bad\n");
}

TEST_CASE("protocol: export's IMPORT_INFO") {
    CHECK(import_info("/d/1/x", "0123", 64, "raw") ==
          "<IMPORT_INFO><IMPORT_SOURCE><![CDATA[/d/1/x]]></IMPORT_SOURCE><MD5><![CDATA[0123]]></MD5>"
          "<SIZE><![CDATA[64]]></SIZE><FORMAT><![CDATA[raw]]></FORMAT><DISPOSE>NO</DISPOSE></IMPORT_INFO>\n");
    CHECK_THROWS_AS(import_info("/d/1/]]>x", "0123", 1, "raw"), DriverError);
}

TEST_CASE("profile: DS clone takes the datastore's DRIVER from 6.6, as oned then records it") {
    CHECK_FALSE(profile_of_release(5, 12)->clone_to_driver);
    CHECK_FALSE(profile_of_release(6, 4)->clone_to_driver);
    CHECK(profile_of_release(6, 6)->clone_to_driver);
    CHECK(profile_named("6").clone_to_driver);
    CHECK(profile_named("7").clone_to_driver);
}

TEST_CASE("profile: live migration with local disks (6.0+), storage live migration (7.2+)") {
    CHECK_FALSE(profile_of_release(5, 12)->migrate_local_disks);
    CHECK(profile_of_release(6, 0)->migrate_local_disks);
    CHECK_FALSE(profile_of_release(7, 0)->storage_migration);
    CHECK(profile_of_release(7, 2)->storage_migration);
    CHECK_FALSE(profile_named("6").storage_migration);
    CHECK(profile_named("7").storage_migration);
}
