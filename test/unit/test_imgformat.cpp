// The magic-byte format decision: headers built byte by byte (truncated, huge sizes, garbage,
// names of other files), and real images made by qemu-img.
#include "onestor/error.hpp"
#include "onestor/imgformat.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <unistd.h>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

using namespace onestor;
using Bytes = std::vector<unsigned char>;

namespace {

imgformat::Image decide(const Bytes& b) {
    return imgformat::decide(
        [&b](unsigned char* buf, size_t n, unsigned long long off) {
            if (off >= b.size()) return size_t{0};
            size_t k = std::min<size_t>(n, b.size() - off);
            std::memcpy(buf, b.data() + off, k);
            return k;
        },
        b.size(), "img");
}

std::string refusal(const Bytes& b) {
    try {
        decide(b);
    } catch (const DriverError& e) {
        return e.what();
    }
    return "";
}

void put_be(Bytes& b, size_t at, unsigned long long v, int n) {
    for (int i = n - 1; i >= 0; --i, v >>= 8) b[at + i] = static_cast<unsigned char>(v);
}
void put_le(Bytes& b, size_t at, unsigned long long v, int n) {
    for (int i = 0; i < n; ++i, v >>= 8) b[at + i] = static_cast<unsigned char>(v);
}

// A qcow2 v3 header (no backing file, 64 KiB clusters) of `size` bytes, in a 4 KiB buffer.
Bytes qcow2(unsigned long long size, int version = 3) {
    Bytes b(4096);
    std::memcpy(b.data(), "QFI\xfb", 4);
    put_be(b, 4, version, 4);
    put_be(b, 20, 16, 4);
    put_be(b, 24, size, 8);
    if (version == 3) put_be(b, 100, 104, 4);
    return b;
}

Bytes vmdk(unsigned long long sectors) {
    Bytes b(4096);
    std::memcpy(b.data(), "KDMV", 4);
    put_le(b, 4, 1, 4);
    put_le(b, 12, sectors, 8);
    put_le(b, 20, 128, 8);
    put_le(b, 28, 1, 8);
    put_le(b, 36, 20, 8);
    return b;
}

}  // namespace

TEST_CASE("imgformat: qcow2 headers") {
    auto i = decide(qcow2(100ull << 20));
    CHECK(i.format == "qcow2");
    CHECK(i.virtual_size == 100ull << 20);
    CHECK(decide(qcow2(1ull << 30, 2)).virtual_size == 1ull << 30);

    Bytes backed = qcow2(1 << 20);
    put_be(backed, 8, 512, 8);
    put_be(backed, 16, 11, 4);
    std::memcpy(&backed[512], "/etc/passwd", 11);
    CHECK(refusal(backed).find("has a backing file") != std::string::npos);
    CHECK(refusal(backed).find("/etc/passwd") == std::string::npos);  // nothing of the image is quoted
    Bytes empty_name = qcow2(1 << 20);
    put_be(empty_name, 8, 512, 8);  // an offset without a length: no backing file (as qemu reads it)
    CHECK(decide(empty_name).format == "qcow2");

    Bytes data_file = qcow2(1 << 20);
    put_be(data_file, 72, 4, 8);
    CHECK(refusal(data_file).find("external data file") != std::string::npos);
    Bytes unknown = qcow2(1 << 20);
    put_be(unknown, 72, 1ull << 40, 8);
    CHECK(refusal(unknown).find("unknown incompatible features") != std::string::npos);
    Bytes dirty = qcow2(1 << 20);
    put_be(dirty, 72, 1 | 8 | 16, 8);  // dirty, compression type, extended L2: still self-contained
    CHECK(decide(dirty).format == "qcow2");
    Bytes encrypted = qcow2(1 << 20);
    put_be(encrypted, 32, 1, 4);
    CHECK(refusal(encrypted).find("encrypted") != std::string::npos);
    Bytes v4 = qcow2(1 << 20);
    put_be(v4, 4, 4, 4);
    CHECK(refusal(v4).find("version 4") != std::string::npos);
    Bytes clusters = qcow2(1 << 20);
    put_be(clusters, 20, 40, 4);
    CHECK(refusal(clusters).find("cluster size") != std::string::npos);
}

TEST_CASE("imgformat: truncated headers and out-of-range sizes are refused") {
    for (size_t n : {4, 5, 40, 71, 100}) {
        Bytes b = qcow2(1 << 20);
        b.resize(n);
        CHECK_MESSAGE(refusal(b).find("truncated") != std::string::npos, n);
    }
    Bytes v2 = qcow2(1 << 20, 2);
    v2.resize(72);
    CHECK(decide(v2).format == "qcow2");  // a version 2 header is 72 bytes
    CHECK(refusal(qcow2(0)).find("out of range") != std::string::npos);
    CHECK(refusal(qcow2(~0ull)).find("out of range") != std::string::npos);
    CHECK(refusal(qcow2(imgformat::kMaxVirtualSize + 1)).find("out of range") != std::string::npos);
    CHECK(decide(qcow2(imgformat::kMaxVirtualSize)).virtual_size == imgformat::kMaxVirtualSize);
    CHECK(refusal(vmdk(~0ull)).find("out of range") != std::string::npos);
    CHECK(refusal(vmdk(imgformat::kMaxVirtualSize / 512 + 1)).find("out of range") != std::string::npos);
    Bytes k = vmdk(1);
    k.resize(50);
    CHECK(refusal(k).find("truncated") != std::string::npos);
    Bytes vhdx(300 * 1024);
    std::memcpy(vhdx.data(), "vhdxfile", 8);
    CHECK(refusal(vhdx).find("no region table") != std::string::npos);
    vhdx.resize(100);
    CHECK(refusal(vhdx).find("no region table") != std::string::npos);
}

TEST_CASE("imgformat: vmdk: monolithic sparse only") {
    CHECK(decide(vmdk(2048)).format == "vmdk");
    CHECK(decide(vmdk(2048)).virtual_size == 1 << 20);
    CHECK(refusal(vmdk(0)).find("names extent files") != std::string::npos);
    Bytes delta = vmdk(2048);
    const char* d = "# Disk DescriptorFile\nparentFileNameHint=\"/etc/passwd\"\n";
    std::memcpy(&delta[512], d, std::strlen(d));
    CHECK(refusal(delta).find("names a parent") != std::string::npos);
    auto text = [](const std::string& s) { return Bytes(s.begin(), s.end()); };
    CHECK(refusal(text("# Disk DescriptorFile\nversion=1\nRW 2048 FLAT \"/dev/sda\" 0\n")).find("vmdk descriptor") !=
          std::string::npos);
    CHECK(refusal(text("\n# comment\n  version=3\nRW 8 FLAT \"x\" 0\n")).find("vmdk descriptor") != std::string::npos);
    CHECK(decide(text("# just a text file\nhello\n")).format == "raw");
}

TEST_CASE("imgformat: vdi") {
    Bytes b(4096);
    put_le(b, 0x40, 0xbeda107f, 4);
    put_le(b, 0x4c, 1, 4);
    put_le(b, 0x170, 64ull << 20, 8);
    CHECK(decide(b).format == "vdi");
    CHECK(decide(b).virtual_size == 64ull << 20);
    put_le(b, 0x4c, 4, 4);  // differencing: names a parent
    CHECK(refusal(b).find("differencing") != std::string::npos);
}

TEST_CASE("imgformat: anything else is raw, of its file size") {
    CHECK(decide(Bytes{}).format == "raw");
    CHECK(decide(Bytes{}).virtual_size == 0);
    std::mt19937 rng(9);
    for (int round = 0; round < 2000; ++round) {
        Bytes b(rng() % 5000);
        for (auto& c : b) c = static_cast<unsigned char>(rng());
        if (round % 4 == 1 && b.size() >= 4) std::memcpy(b.data(), "QFI\xfb", 4);  // garbage behind a magic
        if (round % 4 == 2 && b.size() >= 4) std::memcpy(b.data(), "KDMV", 4);
        if (round % 4 == 3 && b.size() >= 8) std::memcpy(b.data(), "vhdxfile", 8);
        try {
            auto i = decide(b);
            CHECK((i.format == "raw" || i.virtual_size <= imgformat::kMaxVirtualSize));
            if (i.format == "raw") CHECK(i.virtual_size == b.size());
        } catch (const DriverError& e) {
            CHECK(std::string(e.what()).find('\n') == std::string::npos);
        }
    }
}

TEST_CASE("imgformat: images made by qemu-img") {
    char dir[] = "/tmp/onestor-imgformat.XXXXXX";
    REQUIRE(mkdtemp(dir));
    std::string d = dir;
    auto make = [&](const std::string& args) {
        return std::system(("qemu-img create -q " + args + " >/dev/null 2>&1").c_str()) == 0;
    };
    auto of = [&](const std::string& name) {
        int fd = ::open((d + "/" + name).c_str(), O_RDONLY);
        REQUIRE(fd >= 0);
        struct Close {
            int fd;
            ~Close() { ::close(fd); }
        } c{fd};
        return imgformat::decide_fd(fd, name);
    };
    REQUIRE(make("-f qcow2 " + d + "/q 100M"));
    CHECK((of("q").format == "qcow2" && of("q").virtual_size == 100ull << 20));
    REQUIRE(make("-f qcow2 -o compat=0.10 " + d + "/q2 3M"));
    CHECK(of("q2").virtual_size == 3ull << 20);
    REQUIRE(make("-f raw " + d + "/r 5M"));
    CHECK((of("r").format == "raw" && of("r").virtual_size == 5ull << 20));
    REQUIRE(make("-f qcow2 -F raw -b " + d + "/r " + d + "/backed"));
    CHECK_THROWS_WITH_AS(of("backed"), doctest::Contains("has a backing file"), DriverError);
    REQUIRE(make("-f qcow2 -o data_file=" + d + "/data " + d + "/df 1M"));
    CHECK_THROWS_WITH_AS(of("df"), doctest::Contains("external data file"), DriverError);
    REQUIRE(make("-f vmdk " + d + "/v 7M"));
    CHECK((of("v").format == "vmdk" && of("v").virtual_size == 7ull << 20));
    REQUIRE(make("-f vmdk -o subformat=monolithicFlat " + d + "/flat.vmdk 1M"));
    CHECK_THROWS_WITH_AS(of("flat.vmdk"), doctest::Contains("vmdk descriptor"), DriverError);
    REQUIRE(make("-f vdi " + d + "/i 9M"));
    CHECK((of("i").format == "vdi" && of("i").virtual_size == 9ull << 20));
    REQUIRE(make("-f vhdx " + d + "/x 11M"));
    CHECK((of("x").format == "vhdx" && of("x").virtual_size == 11ull << 20));
    std::filesystem::remove_all(d);
}

TEST_CASE("imgformat: the declared format") {
    CHECK(imgformat::declared("qcow2", "raw") == "qcow2");
    CHECK(imgformat::declared("", "qcow2") == "qcow2");
    CHECK(imgformat::declared("", "") == "raw");
}
