// From argv to an action: the busybox and shell forms, the registry, argument kinds.
#include "onestor/cli.hpp"
#include "onestor/error.hpp"
#include "onestor/registry.hpp"

#include <doctest/doctest.h>

#include <set>

using namespace onestor;

namespace {
cli::Parsed parse(std::vector<std::string> argv) { return cli::parse(argv); }
const std::vector<ArgSpec>& spec(Kind k, const char* a) { return Registry::find(k, a)->args; }
Args args(Kind k, const char* a, std::vector<std::string> w, std::string in = "") {
    return Args::parse(spec(k, a), w, a, [&] { return in; });
}
}  // namespace

TEST_CASE("every action of the driver guide is registered") {
    for (const char* a : {"cp", "mkfs", "rm", "stat", "clone", "monitor", "snap_delete", "snap_flatten", "snap_revert"})
        CHECK_MESSAGE(Registry::find(Kind::Ds, a) != nullptr, a);
    for (const char* a : {"clone", "ln", "mvds", "cpds", "mv", "premigrate", "postmigrate", "snap_create", "snap_create_live",
                          "snap_delete", "snap_revert", "context", "delete", "mkimage", "mkswap", "monitor"})
        CHECK_MESSAGE(Registry::find(Kind::Tm, a) != nullptr, a);
    CHECK(find_ds_backend("fs") != nullptr);
    CHECK(find_tm_backend("shared") != nullptr);
    CHECK(find_tm_backend("nosuch") == nullptr);
}

TEST_CASE("busybox form: the symlink's path names kind, driver, action and suffix") {
    auto p = parse({"/var/lib/one/remotes/tm/shared/clone", "a", "b"});
    CHECK(p.what == cli::Parsed::What::Action);
    CHECK(p.inv.kind == Kind::Tm);
    CHECK(p.inv.driver == "shared");
    CHECK(p.inv.action == "clone");
    CHECK(p.inv.suffix.empty());
    CHECK(p.inv.args == std::vector<std::string>{"a", "b"});
    p = parse({"/var/tmp/one/tm/shared/ln.ssh"});
    CHECK(p.inv.action == "ln");
    CHECK(p.inv.suffix == "ssh");
    CHECK(p.inv.full_action() == "ln.ssh");
    p = parse({"/var/lib/one/remotes/datastore/fs/cp", "DUMP", "7"});
    CHECK(p.inv.kind == Kind::Ds);
    CHECK(p.inv.driver == "fs");
    CHECK_THROWS_WITH_AS(parse({"/r/tm/shared/bogus"}), doctest::Contains("unknown transfer action 'bogus'"), DriverError);
    CHECK_THROWS_WITH_AS(parse({"/r/tm/nosuch/clone"}), doctest::Contains("unknown transfer driver 'nosuch'"), DriverError);
    CHECK_THROWS_WITH_AS(parse({"/r/datastore/nosuch/cp"}), doctest::Contains("unknown datastore driver"), DriverError);
    CHECK_THROWS_WITH_AS(parse({"/usr/bin/clone"}), doctest::Contains("cannot tell the driver"), DriverError);
    CHECK(parse({"/r/tm/shared/clone", "--help"}).action_help);
}

TEST_CASE("shell form and meta commands") {
    auto p = parse({"onestor", "tm", "shared", "clone", "a", "b", "c", "d"});
    CHECK(p.inv.driver == "shared");
    CHECK(p.inv.args.size() == 4);
    p = parse({"/usr/bin/onestor", "ds", "cp", "DUMP", "7"});
    CHECK(p.inv.kind == Kind::Ds);
    CHECK(p.inv.driver.empty());  // from the dump's DS_MAD
    CHECK(p.inv.args == std::vector<std::string>{"DUMP", "7"});
    p = parse({"onestor", "ds", "fs", "cp", "DUMP", "7"});
    CHECK(p.inv.driver == "fs");
    p = parse({"onestor-0.1", "--version"});  // a renamed binary still works
    CHECK(p.what == cli::Parsed::What::Meta);
    for (const char* m : {"--help", "-h", "help", "actions", "install-remotes", "doctor", "send", "receive", "sweep", "fetch",
                          "bridge", "config-template", "man"})
        CHECK(parse({"onestor", m}).what == cli::Parsed::What::Meta);
    CHECK(parse({"onestor"}).what == cli::Parsed::What::Meta);
    std::string usage;
    CHECK(cli::run_meta({}, usage) == 2);  // bare `onestor`: the usage, and a failure
    CHECK(usage.find("Usage:") != std::string::npos);
    CHECK_THROWS_WITH_AS(cli::run_meta({"man", "x"}, usage), doctest::Contains("usage: onestor man"), DriverError);
    CHECK_THROWS_WITH_AS(parse({"onestor", "frobnicate"}), doctest::Contains("unknown command"), DriverError);
    // A dry run is of a driver action: never silently a real install-remotes, fetch or receive.
    for (const char* meta : {"install-remotes", "fetch", "receive", "sweep", "actions"})
        CHECK_THROWS_WITH_AS(parse({"onestor", "--dry-run", meta, "/tmp/x"}),
                             doctest::Contains("--dry-run is for driver actions"), DriverError);
    CHECK(parse({"onestor", "--dry-run", "tm", "shared", "delete", "h:/var/lib/one/datastores/0/5", "5", "0"}).dry_run);
    std::string out;
    CHECK(cli::run_meta({"actions"}, out) == 0);
    CHECK(out.find("snap_create_live") != std::string::npos);
    CHECK(out.find("shared") != std::string::npos);
}

TEST_CASE("unsupported actions answer from one place") {
    Invocation inv;
    inv.kind = Kind::Tm;
    inv.driver = "fs_lvm";
    inv.action = "snap_create_live";
    Call c{inv, Args{}, {}};
    CHECK_FALSE(find_tm_backend("fs_lvm")->features().count("snap_create_live"));
    CHECK_THROWS_WITH_AS(c.tm(), "fs_lvm: snap_create_live is not supported", DriverError);
}

TEST_CASE("argument kinds: counts first, then typed values") {
    Args a =
        args(Kind::Tm, "clone", {"fe:/var/lib/one/datastores/1/abc", "host01:/var/lib/one/datastores/0/42/disk.0", "42", "1"});
    CHECK(a.path("src").host == "fe");
    CHECK(a.path("dst").path == "/var/lib/one/datastores/0/42/disk.0");
    CHECK(a.num("vmid") == 42);
    CHECK_THROWS_WITH_AS(args(Kind::Tm, "clone", {"a", "b"}), doctest::Contains("expected 4 arguments, got 2"), DriverError);
    CHECK_THROWS_WITH_AS(args(Kind::Tm, "clone", {"/var/lib/one/datastores/1/abc", "host01:/x", "1", "1"}),
                         doctest::Contains("host:/path"), DriverError);
    for (const char* bad : {"-1", "1x", "", "99999999999999999999", "4 2"})
        CHECK_THROWS_AS(args(Kind::Tm, "clone", {"fe:/a", "h:/b", bad, "1"}), DriverError);
    // mvds' destination: a bare SOURCE path (5.x) or host:path
    CHECK(args(Kind::Tm, "mvds", {"h:/var/lib/one/datastores/0/42/disk.1", "/var/lib/one/datastores/1/abc", "42", "1"})
              .path("dst")
              .host.empty());
    // cpds takes -1 (the current state); snapshot actions do not
    CHECK(args(Kind::Tm, "cpds", {"h:/var/lib/one/datastores/0/42/disk.1", "/var/lib/one/datastores/1/new", "-1", "42", "1"})
              .num("snap") == -1);
    CHECK_THROWS_AS(args(Kind::Tm, "snap_create", {"h:/var/lib/one/datastores/0/42/disk.0", "-1", "42", "1"}), DriverError);
    CHECK(args(Kind::Tm, "mkimage", {"512", "qcow2", "h:/var/lib/one/datastores/0/42/disk.2", "42", "0"}).word("format") ==
          "qcow2");
    CHECK_THROWS_AS(args(Kind::Tm, "mkimage", {"0", "raw", "h:/var/lib/one/datastores/0/42/disk.2", "42", "0"}), DriverError);
    CHECK_THROWS_AS(args(Kind::Tm, "mkimage", {"5", "raw;rm", "h:/var/lib/one/datastores/0/42/disk.2", "42", "0"}), DriverError);
}

TEST_CASE("context files: path or path:'name', variadic before the last three") {
    Args a = args(Kind::Tm, "context",
                  {"/var/lib/one/vms/42/context.sh", "/var/lib/one/datastores/2/c0ffee:'init script.sh'",
                   "h:/var/lib/one/datastores/0/42/disk.4", "42", "0"});
    REQUIRE(a.files().size() == 2);
    CHECK(a.files()[0].name == "context.sh");
    CHECK(a.files()[1].path == "/var/lib/one/datastores/2/c0ffee");
    CHECK(a.files()[1].name == "init script.sh");
    CHECK_THROWS_AS(Args::parse_context_file("/var/lib/one/datastores/2/x:'../../etc'"), DriverError);
    // URLs (downloaded by the TM): named by the last segment of their path, as wget -P names them.
    ContextFile u = Args::parse_context_file("https://example.org/a/b.sh?sig=1");
    CHECK(u.url == "https://example.org/a/b.sh?sig=1");
    CHECK(u.path.empty());
    CHECK(u.name == "b.sh");
    CHECK(Args::parse_context_file("http://example.org/x:'my name'").name == "my name");
    CHECK_THROWS_AS(Args::parse_context_file("http://example.org/"), DriverError);
    CHECK_THROWS_AS(Args::parse_context_file("http://example.org"), DriverError);
    CHECK_THROWS_AS(Args::parse_context_file("http://example.org/x:'../../etc'"), DriverError);
    CHECK_THROWS_WITH_AS(args(Kind::Tm, "context", {"h:/var/lib/one/datastores/0/42/disk.4", "42", "0"}),
                         doctest::Contains("at least 4"), DriverError);
}

TEST_CASE("DS dump: argv (5.x) or stdin (6.8+); premigrate's optional template") {
    std::string b64 = base64_encode("<DS_DRIVER_ACTION_DATA><DATASTORE><ID>3</ID></DATASTORE></DS_DRIVER_ACTION_DATA>");
    CHECK(args(Kind::Ds, "monitor", {b64, "3"}).dump().datastore.id == 3);
    CHECK(args(Kind::Ds, "monitor", {"3"}, b64).dump().datastore.id == 3);
    CHECK_THROWS_AS(args(Kind::Ds, "monitor", {}), DriverError);
    CHECK_THROWS_AS(args(Kind::Ds, "monitor", {b64, "3", "x"}), DriverError);
    CHECK_THROWS_AS(args(Kind::Ds, "monitor", {b64, "x"}), DriverError);
    CHECK(args(Kind::Tm, "premigrate", {"h1", "h2", "/var/lib/one/datastores/0/42", "42", "0"}).extra().empty());
    CHECK(args(Kind::Tm, "premigrate", {"h1", "h2", "/var/lib/one/datastores/0/42", "42", "0", "TPL", "qcow2"}).extra().size() ==
          2);
    CHECK_THROWS_AS(args(Kind::Tm, "premigrate", {"h1", "h2", "/var/lib/one/datastores/0/42", "42", "0", "a", "b", "c"}),
                    DriverError);
}

TEST_CASE("TM paths are confined by their argument kinds, for every driver") {
    const std::string D = "/var/lib/one/datastores";
    // issue 9 item 4: delete of a <x>/<y>/<vmid> tree outside the datastores
    CHECK_THROWS_WITH_AS(
        args(Kind::Tm, "delete", {"h:/var/tmp/elsewhere/x/42", "42", "0"}),
        ("'h:/var/tmp/elsewhere/x/42' is not a disk of VM 42 nor its directory (expected " + D + "/0/42[/disk.N])").c_str(),
        DriverError);
    CHECK_THROWS_AS(args(Kind::Tm, "delete", {"h:" + D + "/0", "42", "0"}), DriverError);
    CHECK_THROWS_AS(args(Kind::Tm, "delete", {"h:" + D + "/5/42", "42", "0"}), DriverError);  // not the DSID's
    CHECK(args(Kind::Tm, "delete", {"h:" + D + "/0/42", "42", "0"}).path("dst").path == D + "/0/42");
    // item 5: an image from outside the datastores, a disk written back outside them
    CHECK_THROWS_WITH_AS(args(Kind::Tm, "clone", {"h:/etc/shadow", "h:" + D + "/0/46/disk.0", "46", "0"}),
                         doctest::Contains("'h:/etc/shadow' is not an image of a datastore"), DriverError);
    CHECK_THROWS_AS(args(Kind::Tm, "mvds", {"h:" + D + "/0/46/disk.0", "/var/tmp/x", "46", "1"}), DriverError);
    CHECK_THROWS_AS(args(Kind::Tm, "cpds", {"h:" + D + "/0/46/disk.0", D + "/1", "-1", "46", "1"}), DriverError);
    CHECK_THROWS_AS(args(Kind::Tm, "snap_create", {"h:" + D + "/0/45/disk.0", "0", "46", "1"}), DriverError);
    CHECK_THROWS_AS(args(Kind::Tm, "mkswap", {"8", "h:" + D + "/1/46/disk.3", "46", "0"}), DriverError);
    CHECK_THROWS_AS(args(Kind::Tm, "premigrate", {"h1", "h2", "/var/tmp/46", "46", "0"}), DriverError);
    // mv: the disk anywhere in the datastores, the VM directory into the DSID's
    CHECK_NOTHROW(args(Kind::Tm, "mv", {"h1:" + D + "/0/46", "h2:" + D + "/7/46", "46", "7"}));
    CHECK_THROWS_AS(args(Kind::Tm, "mv", {"h1:" + D + "/0/46", "h2:" + D + "/7/46", "46", "0"}), DriverError);
    CHECK_THROWS_AS(args(Kind::Tm, "mv", {"h1:" + D + "/0/46/disk.0", "h2:/tmp/46/disk.0", "46", "0"}), DriverError);
}

TEST_CASE("driver names read from templates: [a-z0-9_]+, registered or installed") {
    CHECK(valid_tm_name("qcow2") == "qcow2");
    for (const char* bad : {"../../../../tmp/evil", "", "Shared", "a b", "x/y", "nosuch_tm"})
        CHECK_THROWS_WITH_AS(valid_tm_name(bad), doctest::Contains("invalid transfer driver"), DriverError);
}
