// The rbd tools module: names refused before any command runs, the argv of each command,
// and the JSON that `rbd` and `ceph` print (the good samples are real Ceph 16.2 output; a
// malformed field is a DriverError, never a wrapped number or another exception).
#include "scratch.hpp"

#include "onestor/download.hpp"
#include "onestor/error.hpp"
#include "onestor/io.hpp"
#include "onestor/rbd.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <unistd.h>
#include <csignal>
#include <cstring>
#include <vector>

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

// Reads an "rbd diff v1" stream back (as `rbd import-diff` does: each 's' record resizes
// the image, 'z' zeroes a range) into the file `img`; `writes`: the 'w' records' total
// length, `sizes`: the 's' records. Fails the test on any malformed record.
void apply_diff_to(const std::string& d, const std::string& img, unsigned long long& writes,
                   std::vector<unsigned long long>* sizes = nullptr) {
    auto le64 = [&](size_t at) {
        unsigned long long v = 0;
        for (int i = 7; i >= 0; --i) v = v << 8 | static_cast<unsigned char>(d.at(at + i));
        return v;
    };
    io::File f(::open(img.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644));
    REQUIRE(f);
    REQUIRE(d.rfind("rbd diff v1\n", 0) == 0);
    size_t at = 12;
    REQUIRE(d.at(at) == 's');
    unsigned long long size = 0;
    writes = 0;
    for (;;) {
        char tag = d.at(at);
        if (tag == 's') {
            size = le64(at + 1);
            REQUIRE(::ftruncate(f.fd(), static_cast<off_t>(size)) == 0);
            if (sizes) sizes->push_back(size);
            at += 9;
            continue;
        }
        if (tag != 'w' && tag != 'z') break;
        unsigned long long off = le64(at + 1), len = le64(at + 9);
        REQUIRE(off + len <= size);
        if (tag == 'z') {  // (as librbd's discard of the range: it reads back as zeros)
            REQUIRE(::fallocate(f.fd(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(off),
                                static_cast<off_t>(len)) == 0);
            at += 17;
            continue;
        }
        REQUIRE(at + 17 + len <= d.size());
        REQUIRE(::pwrite(f.fd(), d.data() + at + 17, len, static_cast<off_t>(off)) == static_cast<ssize_t>(len));
        writes += len;
        at += 17 + len;
    }
    REQUIRE(d.at(at) == 'e');
    CHECK(at + 1 == d.size());
}

std::string apply_diff(const std::string& d, unsigned long long& writes) {
    scratch::Dir dir;
    apply_diff_to(d, dir / "applied", writes);
    return scratch::slurp(dir / "applied");
}

// Whether two files hold the same bytes (read in chunks: they may be large and sparse).
bool same_files(const std::string& a, const std::string& b) {
    io::File x = io::open_read(a), y = io::open_read(b);
    std::vector<char> p(1 << 20), q(1 << 20);
    for (off_t off = 0;; off += static_cast<off_t>(p.size())) {
        ssize_t m = ::pread(x.fd(), p.data(), p.size(), off), n = ::pread(y.fd(), q.data(), q.size(), off);
        if (m != n || m < 0) return false;
        if (m == 0) return true;
        if (std::memcmp(p.data(), q.data(), static_cast<size_t>(m)) != 0) return false;
    }
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

TEST_CASE("rbd diff stream of a download: grows by GiB as data arrives, ends at the real size, data alone") {
    scratch::Dir dir;
    std::string out = dir / "diff", want = dir / "want";
    io::File o(::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644));
    io::File wf(::open(want.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644));
    REQUIRE(o);
    REQUIRE(wf);
    rbd::DiffWriter diff(o.fd(), 0);
    {
        download::SparseWriter w(diff);
        download::SparseWriter expect(wf.fd());
        auto put = [&](const std::string& s, bool keep = true) {
            for (size_t i = 0; i < s.size(); i += 70001) w.write(s.data() + i, std::min<size_t>(70001, s.size() - i));
            if (keep) expect.write(s.data(), s.size());
        };
        // A first attempt, given up (a download begun again): what it wrote is zeroed.
        put(std::string(300000, 'x'), false);
        w.reset();
        put("QFI");
        put(std::string(5000, 'a'));
        std::string zeros(1 << 20, '\0');
        for (int i = 0; i < 1025; ++i) put(zeros);  // past the first GiB in zeros: never sent
        put(std::string(7000, 'b'));
        put(std::string(3000, '\0'));  // trailing zeros: only the size says them
        w.finish();
        expect.finish();
    }
    // Nothing ends the stream before end() (after the checksums): import-diff would fail it.
    CHECK(scratch::slurp(out).back() != 'e');
    diff.end();
    o = io::File();
    std::string d = scratch::slurp(out);
    unsigned long long writes = 0;
    std::vector<unsigned long long> sizes;
    apply_diff_to(d, dir / "applied", writes, &sizes);
    CHECK(same_files(dir / "applied", want));
    // 0 (created empty), 1 GiB (the first data), 2 GiB (data past 1 GiB), the real size.
    unsigned long long real = 3 + 5000 + (1025ull << 20) + 7000 + 3000;
    REQUIRE(sizes.size() == 4);
    CHECK(sizes[0] == 0);
    CHECK(sizes[1] == 1ull << 30);
    CHECK(sizes[2] == 2ull << 30);
    CHECK(sizes[3] == real);
    CHECK(writes == (256u << 10) + diff.sent());  // (the first attempt sent its first 256 KiB buffer)
    CHECK(diff.sent() <= 4 * 4096);               // the blocks of "QFI"+a and of b, not the GiB of zeros
    CHECK(d.size() < 300000 + 32 * 1024);
    CHECK(diff.head().compare(0, 3, "QFI") == 0);
    CHECK(d.find(std::string("z") + std::string(8, '\0')) != std::string::npos);  // the restart zeroes from 0
}
