// Path rules, host names, the RESTRICTED_DIRS/SAFE_DIRS policy, and settings.
#include "onestor/config.hpp"
#include "onestor/error.hpp"
#include "onestor/paths.hpp"
#include "onestor/protocol.hpp"

#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>
#include <cstdio>
#include <cstdlib>

using namespace onestor;

TEST_CASE("clean_path normalises and refuses what is unsafe") {
    CHECK(clean_path("/var/lib/one//datastores/1/") == "/var/lib/one/datastores/1");
    CHECK(clean_path("/a/./b") == "/a/b");
    CHECK(clean_path("/") == "/");
    CHECK(clean_path("//") == "/");
    CHECK_THROWS_WITH_AS(clean_path("/a/../etc"), doctest::Contains("'..'"), DriverError);
    CHECK_THROWS_WITH_AS(clean_path("relative/x"), doctest::Contains("not absolute"), DriverError);
    CHECK_THROWS_WITH_AS(clean_path(""), doctest::Contains("empty"), DriverError);
    CHECK_THROWS_WITH_AS(clean_path("/a\nb"), doctest::Contains("control character"), DriverError);
    CHECK(clean_path("/with space/it's $(x)") == "/with space/it's $(x)");  // literal, quoted later
}

TEST_CASE("path pieces and containment by components") {
    CHECK(dirname_of("/a/b/c") == "/a/b");
    CHECK(dirname_of("/a") == "/");
    CHECK(basename_of("/a/b/c") == "c");
    CHECK(join_path("/a", "b") == "/a/b");
    CHECK(join_path("/a/", "b") == "/a/b");
    CHECK(within("/var/tmp/x", "/var/tmp"));
    CHECK(within("/var/tmp", "/var/tmp"));
    CHECK_FALSE(within("/var/tmpfoo/x", "/var/tmp"));
    CHECK(within("/anything", "/"));
    CHECK(strictly_within("/var/tmp/x", "/var/tmp"));
    CHECK_FALSE(strictly_within("/var/tmp", "/var/tmp"));
}

TEST_CASE("host names and host:path arguments") {
    CHECK(valid_host("host01") == "host01");
    CHECK(valid_host("node-1.example.com") == "node-1.example.com");
    CHECK(valid_host("oneadmin@node1") == "oneadmin@node1");
    for (const char* bad : {"", "-oProxyCommand=x", "a b", "a'b", "$(x)", "a;b", "a`b`", "h\n"})
        CHECK_THROWS_AS(valid_host(bad), DriverError);
    HostPath hp = HostPath::parse("host01:/var/lib/one//datastores/0/42/disk.0");
    CHECK(hp.host == "host01");
    CHECK(hp.path == "/var/lib/one/datastores/0/42/disk.0");
    CHECK(hp.str() == "host01:/var/lib/one/datastores/0/42/disk.0");
    CHECK(HostPath::parse("/var/lib/one/datastores/1/abc").host.empty());
    CHECK_THROWS_AS(HostPath::parse("host01:"), DriverError);
    CHECK_THROWS_AS(HostPath::parse("host01:relative"), DriverError);
    CHECK_THROWS_AS(HostPath::parse("bad host:/x"), DriverError);
    CHECK(disk_id_of("/x/42/disk.0") == 0);
    CHECK(disk_id_of("/x/42/disk.12") == 12);
    CHECK(disk_id_of("/x/42/disk.x") == -1);
    CHECK(disk_id_of("/x/42/disk.") == -1);
    CHECK(disk_id_of("/x/42/mydisk.1") == -1);
    CHECK(disk_id_of("/x/42/disk.1.snap") == -1);
}

TEST_CASE("path policy: the most specific entry decides, deny wins ties, built-ins always deny") {
    PathPolicy dflt("/", "/var/tmp");  // oned's defaults
    CHECK(dflt.allowed("/var/tmp/image.qcow2"));
    CHECK_FALSE(dflt.allowed("/etc/passwd"));
    CHECK_FALSE(dflt.allowed("/var/tmpfoo/image"));  // components, not string prefixes
    PathPolicy nested("/var/secret", "/var");
    CHECK(nested.allowed("/var/x"));
    CHECK_FALSE(nested.allowed("/var/secret/x"));
    PathPolicy tie("/srv", "/srv");
    CHECK_FALSE(tie.allowed("/srv/x"));
    PathPolicy open_("", "");
    CHECK(open_.allowed("/srv/x"));
    PathPolicy unsafe_safe("", "/var/lib/one /etc/one /");
    CHECK_FALSE(unsafe_safe.allowed("/var/lib/one/datastores/1/x"));
    CHECK_FALSE(unsafe_safe.allowed("/etc/one/oned.conf"));
    if (const char* home = std::getenv("HOME"); home && std::string(home) != "/")
        CHECK_FALSE(unsafe_safe.allowed(std::string(home) + "/.ssh/id_rsa"));
    CHECK_THROWS_WITH_AS(dflt.check("/etc/shadow", "/etc/shadow"), doctest::Contains("check RESTRICTED_DIRS"), DriverError);
}

TEST_CASE("path policy: decided as given and canonically, one answer whether the path exists or not") {
    PathPolicy p("/", "/tmp");
    std::string why_missing, why_there;
    try {
        p.resolve("/root/nonexistent");
    } catch (const DriverError& e) {
        why_missing = e.what();
    }
    try {
        p.resolve("/etc/hostname");
    } catch (const DriverError& e) {
        why_there = e.what();
    }
    CHECK(why_missing ==
          "Not allowed to copy image from '/root/nonexistent' (it is restricted or does not exist), check RESTRICTED_DIRS in "
          "your datastore");
    CHECK(why_there ==
          "Not allowed to copy image from '/etc/hostname' (it is restricted or does not exist), check RESTRICTED_DIRS in your "
          "datastore");
    // A link in an allowed directory is refused by its target, the message names the link.
    char dir[] = "/tmp/onestor-unit.XXXXXX";
    REQUIRE(mkdtemp(dir));
    std::string link = std::string(dir) + "/l", missing = std::string(dir) + "/nothing";
    REQUIRE(symlink("/etc/hostname", link.c_str()) == 0);
    CHECK_THROWS_WITH_AS(p.resolve(link),
                         ("Not allowed to copy image from '" + link +
                          "' (it is restricted or does not exist), check RESTRICTED_DIRS in your datastore")
                             .c_str(),
                         DriverError);
    CHECK_THROWS_WITH_AS(p.resolve(missing),
                         doctest::Contains(("'" + missing + "' (it is restricted or does not exist)").c_str()), DriverError);
    std::string plain = std::string(dir) + "/f";
    FILE* f = std::fopen(plain.c_str(), "w");
    REQUIRE(f);
    std::fclose(f);
    CHECK(p.resolve(plain).find("/onestor-unit.") != std::string::npos);
    ::unlink(plain.c_str());
    ::unlink(link.c_str());
    ::rmdir(dir);
}

TEST_CASE("confine: TM paths lie where oned puts them") {
    const std::string L = "/var/lib/one//datastores/";
    auto ok = [&](const std::string& p, Confine c, long vm, long ds) { return confine(clean_path(p), c, vm, ds, L, p); };
    auto bad = [&](const std::string& p, Confine c, long vm, long ds) {
        CHECK_THROWS_WITH_AS(ok(p, c, vm, ds), doctest::Contains(("'" + p + "'").c_str()), DriverError);
    };
    const std::string D = "/var/lib/one/datastores";
    // image side: strictly inside <loc>/<n>/
    CHECK(ok(D + "/1/5f1c", Confine::Image, 42, 1) == D + "/1");
    CHECK(ok(D + "/2/k/kernel", Confine::Image, 42, 1) == D + "/2");
    bad("/etc/shadow", Confine::Image, 46, 0);
    bad(D + "/1", Confine::Image, 42, 1);
    bad(D, Confine::Image, 42, 1);
    bad(D + "/x/img", Confine::Image, 42, 1);
    bad(D + "/01/img", Confine::Image, 42, 1);
    bad("/var/lib/one/datastoresX/1/img", Confine::Image, 42, 1);
    // VM disks: any datastore id (oned gives disk actions the image's DSID)
    CHECK(ok(D + "/0/42/disk.0", Confine::VmDisk, 42, 1) == D + "/0");
    ok(D + "/0/42/disk.0.snap/1", Confine::VmDisk, 42, 1);
    bad(D + "/0/43/disk.0", Confine::VmDisk, 42, 1);
    bad(D + "/0/42", Confine::VmDisk, 42, 0);
    bad("/var/tmp/elsewhere/x/42/disk.0", Confine::VmDisk, 42, 0);
    // system datastore actions: the DSID's
    ok(D + "/0/42/disk.2", Confine::VmDiskSys, 42, 0);
    bad(D + "/5/42/disk.2", Confine::VmDiskSys, 42, 0);
    // delete / mv's destination: a disk, or the VM directory of the DSID's datastore
    ok(D + "/0/42", Confine::VmDiskOrDir, 42, 0);
    ok(D + "/5/42/disk.1", Confine::VmDiskOrDir, 42, 0);
    bad(D + "/5/42", Confine::VmDiskOrDir, 42, 0);
    bad(D + "/0", Confine::VmDiskOrDir, 42, 0);
    bad(D, Confine::VmDiskOrDir, 42, 0);
    bad("/", Confine::VmDiskOrDir, 42, 0);
    bad("/var/tmp/elsewhere/x/42", Confine::VmDiskOrDir, 42, 0);
    // mv's source: the VM directory in any (the previous) system datastore
    ok(D + "/7/42", Confine::VmDiskOrAnyDir, 42, 0);
    bad(D + "/7/43", Confine::VmDiskOrAnyDir, 42, 0);
    // pre/postmigrate: exactly the VM directory in the DSID's datastore
    ok(D + "/0/42", Confine::VmDir, 42, 0);
    bad(D + "/0/42/disk.0", Confine::VmDir, 42, 0);
    bad(D + "/1/42", Confine::VmDir, 42, 0);
    // monitor_ds: a datastore directory itself
    CHECK(ok(D + "/0", Confine::Datastore, -1, -1) == D + "/0");
    bad(D, Confine::Datastore, -1, -1);
    bad(D + "/0/42", Confine::Datastore, -1, -1);
    bad("/etc", Confine::Datastore, -1, -1);
}

TEST_CASE("confine_resolved: a symlinked directory does not lead outside") {
    char dir[] = "/tmp/onestor-unit.XXXXXX";
    REQUIRE(mkdtemp(dir));
    std::string root = std::string(dir) + "/0", out = std::string(dir) + "/outside";
    REQUIRE(::mkdir(root.c_str(), 0755) == 0);
    REQUIRE(::mkdir(out.c_str(), 0755) == 0);
    REQUIRE(::mkdir((root + "/42").c_str(), 0755) == 0);
    REQUIRE(symlink(out.c_str(), (root + "/43").c_str()) == 0);
    REQUIRE(symlink((root + "/42/disk.0.snap/0").c_str(), (root + "/42/disk.0").c_str()) == 0);
    CHECK_NOTHROW(confine_resolved(root + "/42/disk.0", root, "a"));      // the disk may be a link
    CHECK_NOTHROW(confine_resolved(root + "/44/sub/disk.0", root, "b"));  // not there yet
    CHECK_NOTHROW(confine_resolved(root + "/43", root, "c"));             // the directory itself
    CHECK_THROWS_WITH_AS(confine_resolved(root + "/43/disk.0", root, "host:/x"), doctest::Contains("'host:/x' leads outside"),
                         DriverError);
    CHECK_THROWS_AS(confine_resolved(root + "/43/new/disk.0", root, "d"), DriverError);
    ::unlink((root + "/42/disk.0").c_str());
    ::unlink((root + "/43").c_str());
    ::rmdir((root + "/42").c_str());
    ::rmdir(root.c_str());
    ::rmdir(out.c_str());
    ::rmdir(dir);
}

TEST_CASE("configuration: KEY=VALUE text, defaults, typed reads") {
    auto m = Config::parse("# comment\n\nexport SSH=\"ssh -p 2222\"\n QEMU_IMG = /usr/bin/qemu-img \nX='y z'\n");
    CHECK(m.at("SSH") == "ssh -p 2222");
    CHECK(m.at("QEMU_IMG") == "/usr/bin/qemu-img");
    CHECK(m.at("X") == "y z");
    CHECK_THROWS_WITH_AS(Config::parse("novalue\n"), doctest::Contains("line 1"), DriverError);
    Config c = Config::from_text("PROTOCOL=6\nLOCK_TIMEOUT=abc\nDEBUG=Yes\n");
    CHECK(protocol::profile_named(c.get("PROTOCOL")).source_format);
    CHECK(c.get("SSH") == "ssh");  // defaults stay
    CHECK(c.get_bool("DEBUG"));
    CHECK_THROWS_WITH_AS(c.get_int("LOCK_TIMEOUT"), doctest::Contains("must be an integer"), DriverError);
    CHECK(Config::from_text("SSH=ssh -F /x/cfg -o A=b").get_words("SSH") ==
          std::vector<std::string>{"ssh", "-F", "/x/cfg", "-o", "A=b"});
    CHECK_FALSE(protocol::profile_named(Config::from_text("").get("PROTOCOL")).source_format);
}

TEST_CASE("configuration: file named by ONESTOR_CONF, environment overrides") {
    char path[] = "/tmp/onestor-conf.XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    std::string text = "LOCK_TIMEOUT=7\nSSH=ssh -F /etc/x\n";
    REQUIRE(write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
    close(fd);
    setenv("ONESTOR_CONF", path, 1);
    setenv("ONESTOR_LOCK_TIMEOUT", "9", 1);
    Config c = Config::load();
    CHECK(c.get_int("LOCK_TIMEOUT") == 9);
    CHECK(c.get("SSH") == "ssh -F /etc/x");
    unsetenv("ONESTOR_LOCK_TIMEOUT");
    setenv("ONESTOR_CONF", "/nonexistent/onestor.conf", 1);
    CHECK_THROWS_WITH_AS(Config::load(), doctest::Contains("cannot read configuration"), DriverError);
    unsetenv("ONESTOR_CONF");
    unlink(path);
}
