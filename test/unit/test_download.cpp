// The download pipeline on real data: the sparse writer, magic detection, decompression of
// data made by the real gzip/bzip2/xz/zstd, archives made by tar and zip, checksums, the
// size limit against a real gzip bomb. (HTTP(S) is the e2e suite's: test_download.sh.)
#include "onestor/config.hpp"
#include "onestor/download.hpp"
#include "onestor/error.hpp"
#include "onestor/log.hpp"

#include <doctest/doctest.h>

#include "scratch.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cstdlib>
#include <filesystem>
#include <fstream>

using namespace onestor;
using namespace onestor::download;
namespace fs = std::filesystem;

namespace {
using scratch::Dir;
using scratch::slurp;

void sh(const std::string& cmd) { REQUIRE_MESSAGE(std::system(cmd.c_str()) == 0, cmd); }

unsigned long long allocated(const std::string& p) {
    struct stat st {};
    REQUIRE(::stat(p.c_str(), &st) == 0);
    return static_cast<unsigned long long>(st.st_blocks) * 512;
}

// Runs the pipeline on a local file into `out`; returns the result.
DownloadResult fetch_local(const std::string& in, const std::string& out, DownloadOptions o = {}) {
    int ifd = ::open(in.c_str(), O_RDONLY);
    REQUIRE(ifd >= 0);
    int ofd = ::open(out.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
    REQUIRE(ofd >= 0);
    o.url = in;
    o.local_fd = ifd;
    o.progress = false;
    struct Close {
        int a, b;
        ~Close() {
            ::close(a);
            ::close(b);
        }
    } c{ifd, ofd};
    return download_to_fd(o, ofd);
}

// A 12 MiB image: 1 MiB random, 8 MiB zeros, 3 MiB random and a short unaligned tail.
std::string make_image(const Dir& d) {
    std::string img = d / "img";
    sh("{ head -c 1M /dev/urandom; head -c 8M /dev/zero; head -c 3M /dev/urandom; printf tail; } > " + img);
    return img;
}
}  // namespace

TEST_CASE("sparse writer: zero blocks become holes, bytes and size exact") {
    Dir d;
    std::string p = d / "out";
    int fd = ::open(p.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
    REQUIRE(fd >= 0);
    std::string want;
    {
        SparseWriter w(fd);
        // Odd chunk sizes, so blocks straddle writes: data, 5 MiB of zeros, data, zeros at the end.
        auto put = [&](const std::string& s) {
            for (size_t i = 0; i < s.size(); i += 3001) {
                size_t k = std::min<size_t>(3001, s.size() - i);
                w.write(s.data() + i, k);
            }
            want += s;
        };
        put(std::string(10000, 'a'));
        put(std::string(5u << 20, '\0'));
        put(std::string(70000, 'b'));
        put(std::string(1u << 20, '\0'));  // trailing zeros: only the size records them
        w.finish();
        CHECK(w.size() == want.size());
    }
    ::close(fd);
    CHECK(slurp(p) == want);
    CHECK(allocated(p) <= 128 * 1024);  // ~80 KB of data, 6 MiB of holes
}

TEST_CASE("sparse writer: reset starts an empty file") {
    Dir d;
    std::string p = d / "out";
    int fd = ::open(p.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
    SparseWriter w(fd);
    std::string junk(3u << 20, 'x');
    w.write(junk.data(), junk.size());
    w.reset();
    w.write("hello", 5);
    w.finish();
    ::close(fd);
    CHECK(slurp(p) == "hello");
}

TEST_CASE("magic detection on files made by the real tools") {
    Dir d;
    std::string img = make_image(d);
    sh("cd " + d.p.string() +
       " && gzip -k img && bzip2 -k img && xz -T1 -k img && zstd -q img -o img.zst"
       " && tar cf img.tar img && zip -q img.zip img");
    auto head = [&](const std::string& f) { return slurp(d / f).substr(0, 512); };
    auto comp = [&](const std::string& f) {
        std::string h = head(f);
        return detect_compression(reinterpret_cast<const unsigned char*>(h.data()), h.size());
    };
    auto arch = [&](const std::string& f) {
        std::string h = head(f);
        return detect_archive(reinterpret_cast<const unsigned char*>(h.data()), h.size());
    };
    CHECK(comp("img.gz") == "gzip");
    CHECK(comp("img.bz2") == "bzip2");
    CHECK(comp("img.xz") == "xz");
    CHECK(comp("img.zst") == "zstd");
    CHECK(comp("img") == "");
    CHECK(arch("img.tar") == "tar");
    CHECK(arch("img.zip") == "zip");
    CHECK(arch("img") == "");
    // Most raw disks begin with a zero block: libarchive would bid for an empty tar there.
    std::string zeros(512, '\0');
    CHECK(detect_archive(reinterpret_cast<const unsigned char*>(zeros.data()), zeros.size()) == "");
    // "ustar" at 257 with a wrong checksum is not a tar either.
    std::string fake = head("img.tar");
    fake[150] = fake[150] == '1' ? '2' : '1';
    CHECK(detect_archive(reinterpret_cast<const unsigned char*>(fake.data()), fake.size()) == "");
}

TEST_CASE("pipeline: each compression and archive, from a local fd, sparse") {
    Dir d;
    std::string img = make_image(d);
    std::string want = slurp(img);
    sh("cd " + d.p.string() +
       " && gzip -k img && bzip2 -k img && xz -T1 -k img && zstd -q img -o img.zst"
       " && tar cf img.tar img && zip -q img.zip img && tar cJf img.txz img");
    struct Case {
        const char* file;
        const char* comp;
        const char* arch;
    };
    for (Case c :
         {Case{"img", "", ""}, Case{"img.gz", "gzip", ""}, Case{"img.bz2", "bzip2", ""}, Case{"img.xz", "xz", ""},
          Case{"img.zst", "zstd", ""}, Case{"img.tar", "", "tar"}, Case{"img.zip", "", "zip"}, Case{"img.txz", "xz", "tar"}}) {
        CAPTURE(c.file);
        DownloadResult r = fetch_local(d / c.file, d / "out");
        CHECK(r.compression == c.comp);
        CHECK(r.archive == c.arch);
        CHECK(r.bytes_in == fs::file_size(d / c.file));
        CHECK(r.bytes_out == want.size());
        CHECK(slurp(d / "out") == want);
        CHECK(r.allocated < (5u << 20));  // 4 MiB of data; the 8 MiB zero run is a hole
    }
    DownloadOptions raw;
    raw.no_decompress = true;
    DownloadResult r = fetch_local(d / "img.gz", d / "out", raw);
    CHECK(r.compression == "");
    CHECK(slurp(d / "out") == slurp(d / "img.gz"));
}

TEST_CASE("pipeline: archives must hold exactly one regular file") {
    Dir d;
    make_image(d);
    sh("cd " + d.p.string() +
       " && cp img b && tar cf two.tar img b && zip -q two.zip img b && mkdir sub && "
       "tar cf dir.tar sub && ln -s img l && tar cf link.tar l && tar cf empty.tar --files-from /dev/null");
    auto reason = [&](const std::string& f) {
        try {
            fetch_local(d / f, d / "out");
        } catch (const DriverError& e) {
            return std::string(e.what());
        }
        return std::string("accepted");
    };
    CHECK(reason("two.tar").find("holds more than one file") != std::string::npos);
    CHECK(reason("two.zip").find("holds more than one file") != std::string::npos);
    CHECK(reason("dir.tar").find("must hold one regular file, not a directory") != std::string::npos);
    CHECK(reason("link.tar").find("must hold one regular file") != std::string::npos);
    // An empty tar is 10 KiB of zeros: no ustar header, so it is taken as raw bytes.
    CHECK(reason("empty.tar") == "accepted");
}

TEST_CASE("checksums of the bytes as served; a mismatch is an error") {
    Dir d;
    sh("printf abc > " + d / "abc");
    CHECK(fetch_local(d / "abc", d / "out").md5.empty());  // none asked, none computed
    DownloadOptions all;
    all.all_digests = true;
    DownloadResult r = fetch_local(d / "abc", d / "out", all);
    CHECK(r.md5 == "900150983cd24fb0d6963f7d28e17f72");
    CHECK(r.sha1 == "a9993e364706816aba3e25717850c26c9cd0d89d");
    CHECK(r.sha256 == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    DownloadOptions o;
    o.md5 = "900150983CD24FB0D6963F7D28E17F72";  // upper case accepted
    o.sha1 = r.sha1;
    CHECK_NOTHROW(fetch_local(d / "abc", d / "out", o));
    o.sha256 = std::string(64, '0');
    CHECK_THROWS_WITH_AS(fetch_local(d / "abc", d / "out", o),
                         doctest::Contains(("checksum mismatch: SHA256 of '" + d / "abc" + "' is ba7816bf").c_str()),
                         DriverError);
    DownloadOptions bad;
    bad.sha1 = "12345";
    CHECK_THROWS_WITH_AS(fetch_local(d / "abc", d / "out", bad), doctest::Contains("bad SHA1"), DriverError);
}

TEST_CASE("size limit: a real gzip bomb stops at the limit") {
    Dir d;
    sh("head -c 1G /dev/zero | gzip -1 > " + d / "bomb.gz");
    CHECK(fs::file_size(d / "bomb.gz") < (8u << 20));  // ~4.5 MiB: a 230:1 bomb
    DownloadOptions o;
    o.limit = 64u << 20;
    o.limit_name = "MAX_DOWNLOAD_SIZE";
    CHECK_THROWS_WITH_AS(fetch_local(d / "bomb.gz", d / "out", o),
                         doctest::Contains("stopped at MAX_DOWNLOAD_SIZE (67108864 bytes)"), DriverError);
    CHECK(fs::file_size(d / "out") <= o.limit);
    // Exactly at the limit is fine.
    sh("head -c 1M /dev/zero | gzip > " + d / "one.gz");
    o.limit = 1u << 20;
    CHECK(fetch_local(d / "one.gz", d / "out", o).bytes_out == (1u << 20));
}

TEST_CASE("display_url hides credentials and signatures; limit_for") {
    CHECK(display_url("https://user:pw@example.com/a/b.img?X-Amz-Signature=s#f") == "https://example.com/a/b.img");
    CHECK(display_url("http://example.com/x@y") == "http://example.com/x@y");
    CHECK(display_url("s3://bucket/key") == "s3://bucket/key");
    CHECK(is_remote_url("HTTPS://x/y"));
    CHECK(is_remote_url("s3://b/k"));
    CHECK_FALSE(is_remote_url("/var/tmp/img"));
    Config c = Config::from_text("");
    CHECK(limit_for(c, 1000).bytes == 1000);
    c = Config::from_text("MAX_DOWNLOAD_SIZE=1K\n");
    CHECK(limit_for(c, 5000).bytes == 1024);
    CHECK(limit_for(c, 5000).name == "MAX_DOWNLOAD_SIZE");
    CHECK(limit_for(c, 100).bytes == 100);
}

TEST_CASE("unsupported sources and bad S3 sources are refused before any request") {
    Dir d;
    int fd = ::open((d / "out").c_str(), O_RDWR | O_CREAT, 0644);
    DownloadOptions o;
    o.http = HttpSettings{};
    o.url = "ftp://example.com/x";
    CHECK_THROWS_WITH_AS(download_to_fd(o, fd), doctest::Contains("unsupported download source"), DriverError);
    o.url = "s3://bucket";
    CHECK_THROWS_WITH_AS(download_to_fd(o, fd), doctest::Contains("expected s3://BUCKET/KEY"), DriverError);
    o.url = "s3://bucket/key";
    CHECK_THROWS_WITH_AS(download_to_fd(o, fd), doctest::Contains("needs a region"), DriverError);
    ::close(fd);
}

TEST_CASE("progress lines: bytes, total, rate and ETA") {
    using onestor::log::progress_line;
    CHECK(progress_line("copy", 10ull << 20, 40ull << 20, 2.0) == "copy: 10.0 MiB of 40.0 MiB, 5.0 MiB/s, ETA 6 s");
    CHECK(progress_line("download", 3ull << 20, 0, 1.0) == "download: 3.0 MiB, 3.0 MiB/s");  // total unknown: no ETA
    CHECK(progress_line("x", 5ull << 20, 5ull << 20, 1.0) == "x: 5.0 MiB of 5.0 MiB, 5.0 MiB/s");
}
