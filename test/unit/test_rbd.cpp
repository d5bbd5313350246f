// The rbd tools module: names refused before any command runs, the argv of each command,
// and the JSON that `rbd` and `ceph` print (the good samples are real Ceph 16.2 output; a
// malformed field is a DriverError, never a wrapped number or another exception).
#include "scratch.hpp"

#include "onestor/error.hpp"
#include "onestor/io.hpp"
#include "onestor/rbd.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <unistd.h>
#include <csignal>
#include <cstring>

using namespace onestor;

TEST_CASE("rbd names: upstream's naming, hostile names refused") {
    CHECK(rbd::image_of("one", 7).spec() == "one/one-7");
    CHECK(rbd::disk_of(rbd::parse_spec("one/one-7"), 42, 1).spec() == "one/one-7-42-1");
    CHECK(rbd::volatile_of("one", 42, 3).spec() == "one/one-sys-42-3");
    CHECK(rbd::parse_spec("one/one-7").snap(rbd::kCloneSnap) == "one/one-7@snap");
    CHECK(rbd::parse_spec("my_pool.x/img-1").pool == "my_pool.x");
    for (const char* bad : {"one", "/one-7", "one/", "one/one 7", "one/one;rm", "one/-rf", "-c/x", "one/one-7@snap", "one/a/b",
                            "one/.x", "one/$(id)", "one/\xc3\xa9", "one/x\n"})
        CHECK_THROWS_AS(rbd::parse_spec(bad), DriverError);
    CHECK_THROWS_AS(rbd::image_of("po ol", 1), DriverError);
    CHECK_THROWS_AS(rbd::image_of("one", -1), DriverError);
    CHECK_THROWS_AS(rbd::valid_name(std::string(101, 'a'), "x"), DriverError);
    CHECK(rbd::valid_name(std::string(100, 'a'), "x").size() == 100);
}

TEST_CASE("rbd argv: auth words first, then the command, nothing joined") {
    rbd::Auth a{"oneadmin", "/etc/ceph/one.key", "/etc/ceph/c.conf", 20};
    Argv v = rbd::rbd(a, {"info", "--format", "json", "one/one-7"});
    CHECK(v == Argv{"rbd", "-c", "/etc/ceph/c.conf", "--id", "oneadmin", "--keyfile", "/etc/ceph/one.key",
                    "--client_mount_timeout=20", "--rados_mon_op_timeout=20", "--rados_osd_op_timeout=20", "info", "--format",
                    "json", "one/one-7"});
    a.key = "/etc/ceph/ceph.client.oneadmin.keyring";
    CHECK(rbd::ceph(a, {"df"})[5] == "--keyring");
    Argv plain = rbd::rbd(rbd::Auth{}, {"ls"});
    CHECK(plain.front() == "rbd");
    CHECK(plain.back() == "ls");
    for (rbd::Auth bad : {rbd::Auth{"-x", "", "", 30}, rbd::Auth{"a b", "", "", 30}, rbd::Auth{"", "key", "", 30},
                          rbd::Auth{"", "/k/../etc/shadow", "", 30}, rbd::Auth{"", "", "-c", 30},
                          rbd::Auth{"", "", "/etc//ceph.conf", 30}, rbd::Auth{"", "", "", 0}})
        CHECK_THROWS_AS(rbd::rbd(bad, {"ls"}), DriverError);
}

TEST_CASE("rbd info JSON") {
    auto i = rbd::parse_info(
        R"({"name":"one-0-1-0","id":"1034f6ed262","size":5242880,"objects":2,"order":22,"object_size":4194304,)"
        R"("snapshot_count":0,"block_name_prefix":"rbd_data.1034f6ed262","format":2,"features":["layering"],)"
        R"("parent":{"pool":"one","pool_namespace":"","image":"one-0","id":"102c8d27aed1","snapshot":"snap","trash":false,"overlap":5242880}})");
    CHECK(i.name == "one-0-1-0");
    CHECK(i.size == 5242880);
    CHECK(i.format == 2);
    REQUIRE(i.parent);
    CHECK(i.parent->image == "one-0");
    CHECK(i.parent->snapshot == "snap");
    CHECK_FALSE(rbd::parse_info(R"({"name":"one-0","size":1,"format":2,"snapshot_count":3})").parent);
    for (const char* bad :
         {"", "[]", "{", R"({"name":"x","size":-1,"format":2})", R"({"name":"x","size":1.5e300,"format":2})",
          R"({"name":1,"size":1,"format":2})", R"({"name":"x","size":1,"format":3})",
          R"({"name":"x","size":1,"format":2,"parent":[]})", R"({"name":"x","size":1,"format":2,"parent":{"pool":"a"}})"})
        CHECK_THROWS_AS(rbd::parse_info(bad), DriverError);
}

TEST_CASE("rbd snap ls, ls, children JSON") {
    auto s =
        rbd::parse_snaps(R"([{"id":4,"name":"snap","size":5242880,"protected":"true","timestamp":"Thu Dec  3 02:48:53 2026"},)"
                         R"({"id":5,"name":"0","size":5242880,"protected":"false"}])");
    REQUIRE(s.size() == 2);
    CHECK(s[0].id == 4);
    CHECK(s[0].is_protected);
    CHECK(s[1].name == "0");
    CHECK_FALSE(s[1].is_protected);
    CHECK(rbd::parse_snaps("[]").empty());
    CHECK(rbd::parse_ls(R"(["one-0","one-0-1-0"])") == std::vector<std::string>{"one-0", "one-0-1-0"});
    CHECK(rbd::parse_children(R"([{"pool":"one","pool_namespace":"","image":"one-0-1-0"}])") ==
          std::vector<std::string>{"one/one-0-1-0"});
    for (const char* bad : {"{}", R"([{"id":-4,"name":"s","size":1}])", R"([{"id":4,"name":5,"size":1}])", "[1]"}) {
        CHECK_THROWS_AS(rbd::parse_snaps(bad), DriverError);
        CHECK_THROWS_AS(rbd::parse_children(bad), DriverError);
    }
    CHECK_THROWS_AS(rbd::parse_ls("[1]"), DriverError);
}

TEST_CASE("ceph df JSON: the pool's stored and available bytes") {
    const char* df =
        R"({"stats":{"total_bytes":10737418240,"total_avail_bytes":10433060864},"pools":[)"
        R"({"name":"one","id":1,"stats":{"stored":19,"objects":1,"kb_used":4,"bytes_used":4096,"max_avail":9896189952}},)"
        R"({"name":"one_ec","id":3,"stats":{"stored":0,"bytes_used":0,"max_avail":100}}]})";
    auto u = rbd::parse_df(df, "one");
    CHECK(u.used == 19);
    CHECK(u.avail == 9896189952ull);
    CHECK(rbd::parse_df(df, "one_ec").avail == 100);
    CHECK_THROWS_WITH_AS(rbd::parse_df(df, "other"), doctest::Contains("no pool 'other'"), DriverError);
    CHECK_THROWS_AS(rbd::parse_df(R"({"pools":[{"name":"one","stats":{"stored":-1,"max_avail":1}}]})", "one"), DriverError);
    CHECK_THROWS_AS(rbd::parse_df(R"({"pools":{}})", "one"), DriverError);
}

TEST_CASE("rbd du JSON: each image's and snapshot's used bytes") {
    // (as Ceph 16 prints it: a snapshot's entry before its image's)
    auto u = rbd::parse_du(
        R"({"images":[{"name":"one-3","id":"102d","snapshot":"snap","snapshot_id":4,"provisioned_size":67108864,"used_size":0},)"
        R"({"name":"one-3","id":"102d","provisioned_size":67108864,"used_size":4194304},)"
        R"({"name":"one-sys-5-2","id":"1037","provisioned_size":8388608,"used_size":8388608}],)"
        R"("total_provisioned_size":142606336,"total_used_size":0})");
    REQUIRE(u.size() == 3);
    CHECK((u[0].image == "one-3" && u[0].snapshot == "snap" && u[0].used == 0));
    CHECK((u[1].image == "one-3" && u[1].snapshot.empty() && u[1].used == 4194304));
    CHECK((u[2].image == "one-sys-5-2" && u[2].used == 8388608));
    CHECK(rbd::parse_du(R"({"images":[]})").empty());
    CHECK_THROWS_AS(rbd::parse_du(R"({"images":[{"name":"x","used_size":-1}]})"), DriverError);
    CHECK_THROWS_AS(rbd::parse_du(R"({"images":{}})"), DriverError);
    CHECK_THROWS_AS(rbd::parse_du("rbd: error"), DriverError);
}

// Reads an "rbd diff v1" stream back (as `rbd import-diff` does) into an image of its size;
// `writes`: the 'w' records' total length. Fails the test on any malformed record.
std::string apply_diff(const std::string& d, unsigned long long& writes) {
    auto le64 = [&](size_t at) {
        unsigned long long v = 0;
        for (int i = 7; i >= 0; --i) v = v << 8 | static_cast<unsigned char>(d.at(at + i));
        return v;
    };
    REQUIRE(d.rfind("rbd diff v1\n", 0) == 0);
    size_t at = 12;
    REQUIRE(d.at(at) == 's');
    std::string img(le64(at + 1), '\0');
    at += 9;
    writes = 0;
    while (d.at(at) == 'w') {
        unsigned long long off = le64(at + 1), len = le64(at + 9);
        REQUIRE(off + len <= img.size());
        REQUIRE(at + 17 + len <= d.size());
        img.replace(off, len, d.substr(at + 17, len));
        writes += len;
        at += 17 + len;
    }
    REQUIRE(d.at(at) == 'e');
    CHECK(at + 1 == d.size());
    return img;
}

TEST_CASE("rbd diff stream: a sparse file's data alone, holes and zero blocks left out, the same bytes back") {
    scratch::Dir dir;
    std::string f = dir / "img", out = dir / "diff";
    {
        io::File w(::open(f.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644));
        REQUIRE(w);
        REQUIRE(::ftruncate(w.fd(), (64 << 20) + 1000) == 0);  // 64 MiB and a ragged tail, holes
        std::string a(3 * 4096, 'a'), z(8192, '\0'), b(5000, 'b');
        a.replace(4096, 4096, std::string(4096, '\0'));  // a zero block inside the data
        REQUIRE(::pwrite(w.fd(), a.data(), a.size(), 0) == static_cast<ssize_t>(a.size()));
        REQUIRE(::pwrite(w.fd(), z.data(), z.size(), 1 << 20) == static_cast<ssize_t>(z.size()));  // allocated zeros
        REQUIRE(::pwrite(w.fd(), b.data(), b.size(), (64 << 20) + 1000 - 5000) == static_cast<ssize_t>(b.size()));
    }
    io::File in = io::open_read(f);
    io::File o(::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644));
    unsigned long long sent = rbd::write_diff(in.fd(), o.fd(), "test");
    unsigned long long writes = 0;
    std::string img = apply_diff(scratch::slurp(out), writes);
    CHECK(img == scratch::slurp(f));
    CHECK(writes == sent);
    // a, b; not the zero block between a's, not the allocated zeros, not the holes (b's blocks
    // are those its 4 KiB-aligned span touches, up to the end of the file)
    CHECK(sent == 2 * 4096 + ((64 << 20) + 1000 - (((64 << 20) + 1000 - 5000) / 4096 * 4096)));
    CHECK(scratch::slurp(out).size() < 64 * 1024);
}

TEST_CASE("rbd diff stream: a reader that stopped is an error, never a short stream taken for whole") {
    scratch::Dir dir;
    std::string f = dir / "img";
    {
        io::File w(::open(f.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644));
        std::string a(1 << 20, 'a');
        REQUIRE(::pwrite(w.fd(), a.data(), a.size(), 0) == static_cast<ssize_t>(a.size()));
    }
    struct IgnorePipe {  // (onestor's main ignores SIGPIPE: a broken pipe is an error return)
        void (*was)(int) = std::signal(SIGPIPE, SIG_IGN);
        ~IgnorePipe() { std::signal(SIGPIPE, was); }
    } ignore;
    int p[2];
    REQUIRE(::pipe(p) == 0);
    ::close(p[0]);
    io::File wr(p[1]);
    io::File in = io::open_read(f);
    CHECK_THROWS_WITH_AS(rbd::write_diff(in.fd(), wr.fd(), "test"), "the rbd diff stream was closed by its reader",
                         io::ReaderGone);
}
