// Local data paths on real files: sparse copies, temp + rename, trees; qemu-img output parsing.
#include "onestor/error.hpp"
#include "onestor/io.hpp"
#include "onestor/qemu.hpp"
#include "onestor/stream.hpp"

#include <doctest/doctest.h>

#include "scratch.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

using namespace onestor;
namespace fs = std::filesystem;

namespace {
using scratch::Dir;
using scratch::slurp;

void write_at(const std::string& path, off_t off, const std::string& data) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(::pwrite(fd, data.data(), data.size(), off) == static_cast<ssize_t>(data.size()));
    ::close(fd);
}

unsigned long long blocks(const std::string& p) {
    struct stat st {};
    ::stat(p.c_str(), &st);
    return static_cast<unsigned long long>(st.st_blocks) * 512;
}
}  // namespace

TEST_CASE("copy_fd keeps the bytes and the holes of a sparse file") {
    Dir d;
    std::string src = d / "sparse", dst = d / "copy";
    std::ofstream(src).close();
    REQUIRE(::truncate(src.c_str(), 64 << 20) == 0);
    write_at(src, 0, std::string(4096, 'a'));
    write_at(src, 40 << 20, std::string(8192, 'b'));
    write_at(src, (64 << 20) - 10, "tail-bytes");
    io::File in = io::open_read(src);
    int out = ::open(dst.c_str(), O_RDWR | O_CREAT, 0644);
    io::CopyStats cs = io::copy_fd(in.fd(), out, "test");
    ::close(out);
    CHECK(cs.size == (64u << 20));
    CHECK(slurp(dst) == slurp(src));
    CHECK(blocks(dst) < (2u << 20));  // a few extents, not 64 MiB
}

TEST_CASE("copy_fd: empty and dense files") {
    Dir d;
    std::ofstream(d / "empty").close();
    std::string dense(3 << 20, '\0');
    std::mt19937 rng(7);
    for (auto& ch : dense) ch = static_cast<char>(rng());
    std::ofstream(d / "dense", std::ios::binary) << dense;
    for (const char* n : {"empty", "dense"}) {
        io::File in = io::open_read(d / n);
        int out = ::open((d / (std::string(n) + ".copy")).c_str(), O_RDWR | O_CREAT, 0644);
        io::copy_fd(in.fd(), out, n);
        ::close(out);
        CHECK(slurp(d / (std::string(n) + ".copy")) == slurp(d / n));
    }
}

TEST_CASE("TempFile: nothing carries the final name until commit") {
    Dir d;
    std::string target = d / "image";
    {
        io::TempFile t(target);
        REQUIRE(::write(t.fd(), "new", 3) == 3);
        CHECK_FALSE(fs::exists(target));
    }  // destroyed uncommitted: gone
    CHECK(fs::is_empty(d.p));
    {
        io::TempFile t(target);
        REQUIRE(::write(t.fd(), "new", 3) == 3);
        t.commit(true);
    }
    CHECK(slurp(target) == "new");
    CHECK(std::distance(fs::directory_iterator(d.p), fs::directory_iterator()) == 1);
    {
        io::TempFile t(target);
        REQUIRE(::write(t.fd(), "other", 5) == 5);
        CHECK_THROWS_WITH_AS(t.commit(false), doctest::Contains("already exists"), DriverError);
    }
    CHECK(slurp(target) == "new");
    CHECK(std::distance(fs::directory_iterator(d.p), fs::directory_iterator()) == 1);
}

TEST_CASE("mkdir_p, remove_tree never follows links, allocated_bytes, mib_ceil") {
    Dir d, outside;
    std::ofstream(outside / "keep") << "precious";
    io::mkdir_p(d / "a/b/c");
    CHECK(fs::is_directory(d / "a/b/c"));
    fs::create_symlink(outside.p, d / "a/b/link");
    std::ofstream(d / "a/b/c/f") << std::string(10000, 'x');
    CHECK(io::allocated_bytes(d / "a") >= 10000);
    io::remove_tree(d / "a");
    CHECK_FALSE(fs::exists(d / "a"));
    CHECK(slurp(outside / "keep") == "precious");
    io::remove_tree(d / "missing");  // fine
    CHECK(io::mib_ceil(0) == 0);
    CHECK(io::mib_ceil(1) == 1);
    CHECK(io::mib_ceil(1 << 20) == 1);
    CHECK(io::mib_ceil((1 << 20) + 1) == 2);
}

TEST_CASE("the transfer stream: a tree arrives whole, sparse, checksummed; damage is refused") {
    Dir d;
    std::string src = d / "vm";
    io::mkdir_p(src + "/disk.0.snap");
    std::ofstream(src + "/disk.0").close();
    REQUIRE(::truncate((src + "/disk.0").c_str(), 32 << 20) == 0);
    write_at(src + "/disk.0", 20 << 20, "data in the middle");
    std::ofstream(src + "/disk.0.snap/0") << "snapshot";
    fs::create_symlink("disk.0", src + "/disk.1");
    std::string stream_file = d / "stream";
    {
        int out = ::open(stream_file.c_str(), O_WRONLY | O_CREAT, 0644);
        stream::send(src, out);
        ::close(out);
    }
    int in = ::open(stream_file.c_str(), O_RDONLY);
    stream::Stats st = stream::receive(in, d / "copy");
    ::close(in);
    CHECK(st.files == 2);
    CHECK(slurp(d / "copy/disk.0") == slurp(src + "/disk.0"));
    CHECK(slurp(d / "copy/disk.0.snap/0") == "snapshot");
    CHECK(fs::read_symlink(d / "copy/disk.1") == "disk.0");
    CHECK(blocks(d / "copy/disk.0") < (1u << 20));
    // One flipped byte in the middle: refused, nothing under the final name.
    std::string s = slurp(stream_file);
    s[s.size() / 2] ^= 0x40;
    std::ofstream(stream_file, std::ios::binary | std::ios::trunc) << s;
    in = ::open(stream_file.c_str(), O_RDONLY);
    CHECK_THROWS_AS(stream::receive(in, d / "damaged"), DriverError);
    ::close(in);
    CHECK_FALSE(fs::exists(d / "damaged"));
    CHECK(stream::parse_rate("10M") == (10u << 20));
    CHECK_THROWS_AS(stream::parse_rate("fast"), DriverError);
}

TEST_CASE("the transfer stream through a pipe: extents larger than a read arrive whole") {
    // Through a real pipe the receiver gets each extent in many pieces (what one read
    // returns), and writes each where it belongs; the sender writes from its read buffer.
    Dir d;
    std::string src = d / "disk";
    std::ofstream(src).close();
    REQUIRE(::truncate(src.c_str(), 64 << 20) == 0);
    std::mt19937 rng(7);
    for (off_t at : {off_t(0), off_t(6 << 20) + 4096, off_t(40 << 20), off_t(64 << 20) - 70000}) {
        std::string data(at == 0 ? (5 << 20) + 123 : 70000, '\0');
        for (auto& c : data) c = static_cast<char>(rng() | 1);
        write_at(src, at, data);
    }
    int p[2];
    REQUIRE(::pipe(p) == 0);
    std::thread sender([&] {
        stream::send(src, p[1]);
        ::close(p[1]);
    });
    stream::Stats st = stream::receive(p[0], d / "copy");
    sender.join();
    ::close(p[0]);
    CHECK(st.files == 1);
    CHECK(st.data >= (5u << 20) + 123 + 3 * 70000);  // all of it (to whole blocks), holes not
    CHECK(st.data < (6u << 20));
    CHECK(slurp(d / "copy") == slurp(src));
    CHECK(blocks(d / "copy") < (6u << 20));
}

TEST_CASE("qemu-img info JSON") {
    auto i = qemu::parse_info(R"({"virtual-size": 1073741824, "filename": "disk.0", "format": "qcow2",
        "backing-filename": "/etc/shadow", "full-backing-filename": "/etc/shadow", "backing-filename-format": "raw",
        "format-specific": {"type": "qcow2", "data": {"compat": "1.1", "data-file": "/etc/hostname"}}})");
    CHECK(i.format == "qcow2");
    CHECK(i.virtual_size == 1073741824ull);
    CHECK(i.backing_file == "/etc/shadow");
    CHECK(i.backing_format == "raw");
    CHECK(i.data_file == "/etc/hostname");
    CHECK_THROWS_AS(qemu::parse_info("not json"), DriverError);
    CHECK_THROWS_AS(qemu::parse_info("{}"), DriverError);
    auto ch = qemu::parse_chain(
        R"([{"filename": "a", "format": "qcow2", "backing-filename": "b"}, {"filename": "b", "format": "raw"}])");
    REQUIRE(ch.size() == 2);
    CHECK(ch[1].format == "raw");
}
