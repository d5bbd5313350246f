// Numbers and input hygiene: the one number parser and its ranges (argv, XML fields,
// settings, transfer rates), characters of oned's XML, the stdin cap, what an import may
// read, and the mode of a new image file.
#include "onestor/args.hpp"
#include "onestor/error.hpp"
#include "onestor/io.hpp"
#include "onestor/numbers.hpp"
#include "onestor/stream.hpp"
#include "onestor/xml.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <filesystem>

using namespace onestor;
namespace fs = std::filesystem;

namespace {

std::string what_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const DriverError& e) {
        return e.what();
    }
    return "(no error)";
}

// A DS dump for datastore 1 with one IMAGE field (or DATASTORE field) replaced.
std::string dump(const std::string& image_fields, const std::string& ds_fields = "<TYPE>0</TYPE>") {
    return "<DS_DRIVER_ACTION_DATA><IMAGE><ID>7</ID><PATH>/var/tmp/x</PATH>" + image_fields +
           "</IMAGE><DATASTORE><ID>1</ID><DS_MAD>fs</DS_MAD>" + ds_fields + "</DATASTORE></DS_DRIVER_ACTION_DATA>";
}

struct Dir {
    fs::path p = fs::temp_directory_path() / ("onestor-num-" + std::to_string(getpid()) + "-" + std::to_string(rand()));
    Dir() { fs::create_directories(p); }
    ~Dir() { fs::remove_all(p); }
    std::string operator/(const std::string& n) const { return (p / n).string(); }
};

}  // namespace

TEST_CASE("to_number: decimal, in range, one spelling per number") {
    CHECK(to_number("0", 0, kMaxId) == 0);
    CHECK(to_number("1", 0, kMaxId) == 1);
    CHECK(to_number("2147483647", 0, kMaxId) == INT32_MAX);
    CHECK(to_number("-1", -1, kMaxId) == -1);
    CHECK(to_number("9223372036854775807", 0, LLONG_MAX) == LLONG_MAX);
    CHECK(to_number("-9223372036854775808", LLONG_MIN, 0) == LLONG_MIN);
    for (const char* bad : {"2147483648",           // INT32_MAX + 1
                            "4294967297",           // 2^32 + 1: an int would read 1
                            "9223372036854775808",  // 2^63: beyond long long
                            "99999999999999999999999999",
                            "-1",
                            "-2147483648",  // below the range
                            "",
                            "-",
                            "+1",
                            "0x10",
                            "010",
                            "00",
                            "-0",
                            " 1",
                            "1 ",
                            "1\n",
                            "\t1",
                            "1e3",
                            "1.0",
                            "1,000",
                            "1_000",
                            "--1",
                            "0-1"}) {
        CAPTURE(bad);
        CHECK_FALSE(to_number(bad, 0, kMaxId).has_value());
    }
    CHECK_FALSE(to_number("-2", -1, kMaxId).has_value());
    CHECK_FALSE(to_number("-0", -1, kMaxId).has_value());
    CHECK_FALSE(to_number(std::string_view("1\0", 2), 0, kMaxId).has_value());
    std::string msg = what_of([] { parse_number("4294967297", 0, kMaxId, "vmid"); });
    CHECK(msg == "vmid must be an integer from 0 to 2147483647, not '4294967297'");
    msg = what_of([] { parse_number(std::string(5000, '9'), 0, kMaxId, "id"); });
    CHECK(msg.size() < 120);  // a hostile number is not echoed whole
}

TEST_CASE("sizes in MiB: 1 .. 2^40, so that size << 20 fits off_t") {
    static_assert(kMaxSizeMb == (1LL << 40));
    static_assert((kMaxSizeMb << 20) < (LLONG_MAX >> 2));  // room for sums of a few sizes
    CHECK(to_number("1099511627776", 1, kMaxSizeMb) == kMaxSizeMb);
    CHECK_FALSE(to_number("1099511627777", 1, kMaxSizeMb).has_value());
    CHECK_FALSE(to_number("17592186044417", 1, kMaxSizeMb).has_value());  // 2^44 + 1: << 20 wraps to 1 MiB
    CHECK_FALSE(to_number("0", 1, kMaxSizeMb).has_value());
}

TEST_CASE("argv numbers: ids, snapshot ids and sizes in their ranges") {
    auto none = [] { return std::string(); };
    std::vector<ArgSpec> resize = {
        {"disk", ArgKind::HostPath}, {"size", ArgKind::SizeMb}, {"vmid", ArgKind::VmId}, {"dsid", ArgKind::DsId}};
    auto parse = [&](const std::vector<std::string>& w) { return Args::parse(resize, w, "resize", none); };
    CHECK(parse({"h:/v/0/4/disk.0", "1099511627776", "4", "0"}).num("size") == kMaxSizeMb);
    CHECK(parse({"h:/v/0/4/disk.0", "1", "2147483647", "0"}).num("vmid") == INT32_MAX);
    CHECK(what_of([&] {
              parse({"h:/v/0/4/disk.0", "17592186044417", "4", "0"});
          }).find("size must be an integer from 1 to 1099511627776") != std::string::npos);
    CHECK_THROWS_AS(parse({"h:/v/0/4/disk.0", "1099511627777", "4", "0"}), DriverError);
    CHECK_THROWS_AS(parse({"h:/v/0/4/disk.0", "0", "4", "0"}), DriverError);
    CHECK_THROWS_AS(parse({"h:/v/0/4/disk.0", "+10", "4", "0"}), DriverError);
    CHECK_THROWS_AS(parse({"h:/v/0/4/disk.0", "10", "4294967297", "0"}), DriverError);
    CHECK_THROWS_AS(parse({"h:/v/0/4/disk.0", "10", "2147483648", "0"}), DriverError);
    CHECK_THROWS_AS(parse({"h:/v/0/4/disk.0", "10", "4", "-1"}), DriverError);
    CHECK_THROWS_AS(parse({"h:/v/0/4/disk.0", "10", "0x4", "0"}), DriverError);
    CHECK_THROWS_AS(parse({"h:/v/0/4/disk.0", "10", " 4", "0"}), DriverError);

    std::vector<ArgSpec> cpds = {{"src", ArgKind::HostPath},
                                 {"dst", ArgKind::Path},
                                 {"snap", ArgKind::SaveSnapId},
                                 {"vmid", ArgKind::VmId},
                                 {"dsid", ArgKind::DsId}};
    CHECK(Args::parse(cpds, {"h:/v/0/4/disk.0", "/d/1/x", "-1", "4", "0"}, "cpds", none).num("snap") == -1);
    CHECK_THROWS_AS(Args::parse(cpds, {"h:/v/0/4/disk.0", "/d/1/x", "-2", "4", "0"}, "cpds", none), DriverError);
    CHECK_THROWS_AS(Args::parse(cpds, {"h:/v/0/4/disk.0", "/d/1/x", "4294967296", "4", "0"}, "cpds", none), DriverError);

    // The DS form's id, from argv or beside a dump on stdin.
    std::vector<ArgSpec> ds = {{"dump", ArgKind::DsDump}};
    std::string b64 = base64_encode(dump("<SIZE>1</SIZE>"));
    CHECK(Args::parse(ds, {b64, "2147483647"}, "cp", none).id() == INT32_MAX);
    CHECK_THROWS_AS(Args::parse(ds, {b64, "4294967303"}, "cp", none), DriverError);
    CHECK_THROWS_AS(Args::parse(ds, {"4294967303"}, "cp", [&] { return b64; }), DriverError);
}

TEST_CASE("XML numbers: every field in the range of what it means") {
    CHECK(DsDump::from_xml(dump("<SIZE>1099511627776</SIZE>")).img().size_mb == kMaxSizeMb);
    CHECK(DsDump::from_xml(dump("<TYPE>1</TYPE>")).img().type == 1);
    CHECK(DsDump::from_xml(dump("<TYPE>6</TYPE><DISK_TYPE>255</DISK_TYPE>")).img().disk_type == 255);
    CHECK(DsDump::from_xml(dump("<TARGET_SNAPSHOT>-1</TARGET_SNAPSHOT>")).img().target_snapshot == -1);
    CHECK(DsDump::from_xml(dump("", "<TYPE>3</TYPE>")).datastore.type == 3);
    CHECK(what_of([] {
              DsDump::from_xml(dump("<SIZE>17592186044417</SIZE>"));
          }).find("field SIZE must be an integer from 0 to 1099511627776") != std::string::npos);
    CHECK(what_of([] { DsDump::from_xml(dump("<TYPE>4294967297</TYPE>")); }).find("field TYPE must be an integer from 0 to 6") !=
          std::string::npos);
    for (const char* bad :
         {"<TYPE>7</TYPE>", "<TYPE>-1</TYPE>", "<TYPE> 1</TYPE>", "<TYPE>+1</TYPE>", "<TYPE>0x1</TYPE>",
          "<DISK_TYPE>10</DISK_TYPE>", "<DISK_TYPE>256</DISK_TYPE>", "<PERSISTENT>2</PERSISTENT>", "<SIZE>-1</SIZE>",
          "<SIZE>9223372036854775808</SIZE>", "<TARGET_SNAPSHOT>-2</TARGET_SNAPSHOT>",
          "<TARGET_SNAPSHOT>4294967296</TARGET_SNAPSHOT>", "<DATASTORE_ID>2147483648</DATASTORE_ID>", "<UID>4294967296</UID>",
          "<STATE>4294967300</STATE>", "<REGTIME>-5</REGTIME>", "<PERMISSIONS><OWNER_U>4294967297</OWNER_U></PERMISSIONS>"}) {
        CAPTURE(bad);
        CHECK_THROWS_AS(DsDump::from_xml(dump(bad)), DriverError);
    }
    for (const char* bad : {"<TYPE>4</TYPE>", "<TYPE>4294967296</TYPE>", "<TYPE>0</TYPE><TOTAL_MB>-1</TOTAL_MB>",
                            "<TYPE>0</TYPE><CLUSTER_ID>2147483648</CLUSTER_ID>"}) {
        CAPTURE(bad);
        CHECK_THROWS_AS(DsDump::from_xml(dump("", bad)), DriverError);
    }
    auto vm = [](const std::string& disk) { return "<VM><ID>42</ID><TEMPLATE><DISK>" + disk + "</DISK></TEMPLATE></VM>"; };
    CHECK(VmInfo::from_xml(vm("<DISK_ID>2147483647</DISK_ID>")).disks.at(0).disk_id == INT32_MAX);
    CHECK_THROWS_AS(VmInfo::from_xml(vm("<DISK_ID>4294967297</DISK_ID>")), DriverError);  // an int would read 1
    CHECK_THROWS_AS(VmInfo::from_xml("<VM><ID>4294967338</ID></VM>"), DriverError);
    VmInfo big =
        VmInfo::from_xml(vm("<DISK_ID>0</DISK_ID><SIZE>17592186044417</SIZE><ORIGINAL_SIZE>1099511627776</ORIGINAL_SIZE>"));
    CHECK(big.disks.at(0).size_mb("ORIGINAL_SIZE") == kMaxSizeMb);
    CHECK_THROWS_AS(big.disks.at(0).size_mb("SIZE"), DriverError);
}

TEST_CASE("XML characters: references to control characters and non-characters are refused") {
    auto doc = [](const std::string& path) {
        return "<DS_DRIVER_ACTION_DATA><IMAGE><PATH>" + path +
               "</PATH></IMAGE><DATASTORE><ID>1</ID></DATASTORE></DS_DRIVER_ACTION_DATA>";
    };
    CHECK(DsDump::from_xml(doc("/a&#65;&#x42;&amp;&#9;&#10;&#xD;&#xe9;&#x1F600;")).img().path ==
          "/aAB&\t\n\r\xc3\xa9\xf0\x9f\x98\x80");
    CHECK(DsDump::from_xml(doc("<![CDATA[/x&#0;y]]>")).img().path == "/x&#0;y");  // text in CDATA, not a reference
    CHECK(DsDump::from_xml(doc("/ok<!-- &#0; -->")).img().path == "/ok");
    CHECK(what_of([&] {
              DsDump::from_xml(doc("/var/tmp/ok&#0;/../../etc/shadow"));
          }).find("character reference '&#0;' is not an XML character") != std::string::npos);
    for (const char* bad : {"&#0;",
                            "&#x0;",
                            "&#00;",
                            "&#1;",
                            "&#x1b;",
                            "&#27;",
                            "&#x7;",
                            "&#xFFFE;",
                            "&#xFFFF;",
                            "&#xD800;",
                            "&#xDFFF;",
                            "&#x110000;",
                            "&#1114112;",
                            "&#99999999999999999999;",
                            "&#xFFFFFFFF00000041;",
                            "&#;",
                            "&#x;",
                            "&#12a;",
                            "&#x41",
                            "&#-1;"}) {
        CAPTURE(bad);
        CHECK_THROWS_AS(DsDump::from_xml(doc(std::string("/a") + bad)), DriverError);
    }
    // Literal control characters, a NUL included (tinyxml2 would stop reading there).
    for (char c : {'\0', '\x01', '\x1b', '\x1f'}) {
        CAPTURE(int(c));
        CHECK_THROWS_AS(DsDump::from_xml(doc(std::string("/a") + c + "b")), DriverError);
    }
    // In attributes and in the VM template and the datastore document too.
    CHECK_THROWS_AS(
        DsDump::from_xml("<DS_DRIVER_ACTION_DATA a=\"&#0;\"><DATASTORE><ID>1</ID></DATASTORE></DS_DRIVER_ACTION_DATA>"),
        DriverError);
    CHECK_THROWS_AS(VmInfo::from_xml("<VM><ID>1</ID><TEMPLATE><DISK><SOURCE>/d&#0;x</SOURCE></DISK></TEMPLATE></VM>"),
                    DriverError);
    CHECK_THROWS_AS(Datastore::from_xml("<DATASTORE><ID>1</ID><BASE_PATH>/d&#x1;</BASE_PATH></DATASTORE>"), DriverError);
}

TEST_CASE("settings and transfer rates are numbers in range") {
    CHECK(stream::parse_rate("8G") == (8ull << 30));
    CHECK(stream::parse_rate("9223372036854775807") == 9223372036854775807ull);
    CHECK(stream::parse_rate("8589934591G") == (8589934591ull << 30));
    CHECK_THROWS_AS(stream::parse_rate("8589934592G"), DriverError);  // 2^63 bytes/s: wraps
    CHECK_THROWS_AS(stream::parse_rate("-1"), DriverError);           // stoull read 2^64 - 1
    CHECK_THROWS_AS(stream::parse_rate("+5M"), DriverError);
    CHECK_THROWS_AS(stream::parse_rate(" 5M"), DriverError);
    CHECK_THROWS_AS(stream::parse_rate("M"), DriverError);
}

TEST_CASE("read_capped: the whole input up to the cap, refused beyond without reading it all") {
    int p[2];
    REQUIRE(::pipe(p) == 0);
    std::string data(100, 'x');
    REQUIRE(::write(p[1], data.data(), data.size()) == 100);
    ::close(p[1]);
    CHECK(io::read_capped(p[0], 100, "input") == data);
    ::close(p[0]);
    REQUIRE(::pipe(p) == 0);
    REQUIRE(::write(p[1], data.data(), data.size()) == 100);
    // The writer stays open: a reader that wanted everything would block here forever.
    CHECK(what_of([&] { io::read_capped(p[0], 99, "the action data on stdin"); }) ==
          "the action data on stdin is larger than 99 bytes; refused");
    ::close(p[0]);
    ::close(p[1]);
    CHECK(io::kMaxStdin == 16u << 20);
    Dir d;
    {
        int fd = ::open((d / "big").c_str(), O_RDWR | O_CREAT, 0600);
        REQUIRE(::ftruncate(fd, (17 << 20)) == 0);
        ::lseek(fd, 0, SEEK_SET);
        CHECK(what_of([&] { io::read_capped(fd, io::kMaxStdin, "the action data on stdin"); }) ==
              "the action data on stdin is larger than 16 MiB; refused");
        ::close(fd);
    }
}

TEST_CASE("require_image_file: regular, non-empty, not a kernel pseudo file") {
    Dir d;
    auto open_nb = [](const std::string& p) { return io::File(::open(p.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC)); };
    {
        std::FILE* f = std::fopen((d / "img").c_str(), "w");
        std::fputs("data", f);
        std::fclose(f);
    }
    CHECK_NOTHROW(io::require_image_file(open_nb(d / "img").fd(), d / "img"));
    std::fclose(std::fopen((d / "empty").c_str(), "w"));
    CHECK(what_of([&] { io::require_image_file(open_nb(d / "empty").fd(), d / "empty"); }).find("is empty") != std::string::npos);
    REQUIRE(::mkfifo((d / "fifo").c_str(), 0600) == 0);
    CHECK(what_of([&] { io::require_image_file(open_nb(d / "fifo").fd(), d / "fifo"); }).find("not a regular file") !=
          std::string::npos);
    CHECK(what_of([&] { io::require_image_file(open_nb(d.p.string()).fd(), d.p.string()); }).find("not a regular file") !=
          std::string::npos);
    CHECK(what_of([&] {
              io::require_image_file(open_nb("/proc/self/status").fd(), "/proc/self/status");
          }).find("kernel pseudo filesystem") != std::string::npos);
    if (::access("/sys/kernel/mm/transparent_hugepage/enabled", R_OK) == 0)  // sysfs: st_size 4096, not 0
        CHECK(what_of([&] {
                  io::require_image_file(open_nb("/sys/kernel/mm/transparent_hugepage/enabled").fd(), "x");
              }).find("kernel pseudo filesystem") != std::string::npos);
    CHECK(what_of([&] { io::require_image_file(open_nb("/dev/null").fd(), "/dev/null"); }).find("not a regular file") !=
          std::string::npos);
}

TEST_CASE("TempFile: the committed file has its mode whatever the umask and whoever wrote the inode") {
    Dir d;
    mode_t old = ::umask(077);
    {
        io::TempFile t(d / "a");
        t.commit();
    }
    {
        io::TempFile t(d / "b");
        // a tool replaces the inode with its own (qemu-img creates 0644 & ~umask)
        REQUIRE(::unlink(t.path().c_str()) == 0);
        ::close(::open(t.path().c_str(), O_WRONLY | O_CREAT, 0600));
        t.commit();
    }
    {
        io::TempFile t(d / "c", 0755);
        t.commit();
    }
    ::umask(old);
    struct stat a {
    }, b{}, c{};
    REQUIRE(::stat((d / "a").c_str(), &a) == 0);
    REQUIRE(::stat((d / "b").c_str(), &b) == 0);
    REQUIRE(::stat((d / "c").c_str(), &c) == 0);
    CHECK((a.st_mode & 07777) == io::kImageMode);
    CHECK((b.st_mode & 07777) == io::kImageMode);
    CHECK((c.st_mode & 07777) == 0755);
    CHECK(io::kImageMode == 0644);
}
