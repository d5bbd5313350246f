// What lvs, vgs and qemu-img info print, as onestor reads it (the good lines are real output;
// the bad ones came from the lvs and qemu_info fuzz targets): a malformed size is a
// DriverError, never a wrapped number, undefined behaviour, or another exception escaping
// to "internal error".
#include "onestor/error.hpp"
#include "onestor/lvm.hpp"
#include "onestor/qemu.hpp"

#include <doctest/doctest.h>

using namespace onestor;

TEST_CASE("lvs output: sizes, activation, pools") {
    auto lvs = lvm::parse_lvs(
        "  lv-one-42-0|8388608|-wi-ao----|\n"
        "  lv-one-43-0|8388608|Vwi-XXtz--|lv-one-43-pool\n"
        "  lv-one-43-pool|8388608|twi---tz--|\n",
        "vg-one-0");
    REQUIRE(lvs.size() == 3);
    CHECK(lvs["lv-one-42-0"].bytes == 8388608);
    CHECK(lvs["lv-one-42-0"].active);
    CHECK_FALSE(lvs["lv-one-43-0"].active);
    CHECK(lvs["lv-one-43-0"].pool == "lv-one-43-pool");
    CHECK(lvs["lv-one-43-pool"].is_pool);
    for (const char* bad : {"  lv-one-42-0|-8388608|-wi-ao----|\n", "  lv-one-42-0|99999999999999999999999|-wi-ao----|\n",
                            "  lv-one-42-0|8m|-wi-ao----|\n", "  lv-one-42-0||-wi-ao----|\n"})
        CHECK_THROWS_WITH_AS(lvm::parse_lvs(bad, "vg-one-0"), doctest::Contains("unexpected size"), DriverError);
}

TEST_CASE("vgs output: MiB, the fraction cut") {
    auto u = lvm::parse_vgs("  60.00|36.99\n", "vg-one-0");
    CHECK(u.total_mb == 60);
    CHECK(u.free_mb == 36);
    for (const char* bad : {"  60.00|-36.00\n", "  lv-one-42-0|8388608|-wi-ao----|\n", "  1e30|0\n", "  60.|1\n"})
        CHECK_THROWS_WITH_AS(lvm::parse_vgs(bad, "vg-one-0"), doctest::Contains("unexpected size"), DriverError);
    CHECK_THROWS_AS(lvm::parse_vgs("garbage\n", "vg-one-0"), DriverError);
}

TEST_CASE("qemu-img info: the virtual size is a byte count") {
    CHECK(qemu::parse_info(R"({"virtual-size": 16777216, "format": "raw"})").virtual_size == 16777216);
    CHECK(qemu::parse_info(R"({"format": "raw"})").virtual_size == 0);
    for (const char* bad : {R"({"virtual-size": 1e79, "format": "raw"})", R"({"virtual-size": -1, "format": "raw"})",
                            R"({"virtual-size": 1.5, "format": "raw"})", R"({"virtual-size": "1", "format": "raw"})"})
        CHECK_THROWS_WITH_AS(qemu::parse_info(bad), doctest::Contains("not a byte count"), DriverError);
    CHECK_THROWS_AS(qemu::parse_chain(R"([{"virtual-size": 99999999999999999999999, "format": "qcow2"}])"), DriverError);
}
