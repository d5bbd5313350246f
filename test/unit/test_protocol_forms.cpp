// The text oned reads, in each form a profile can choose (protocol.hpp).
#include "onestor/protocol.hpp"
#include "onestor/xml.hpp"

#include <doctest/doctest.h>

using namespace onestor;
using namespace onestor::protocol;

TEST_CASE("protocol: profiles choose the result and error forms") {
    Profile p5 = profile_named("5"), p6 = profile_named("6");
    CHECK(source_line("/ds/1/abc", "qcow2", p5) == "/ds/1/abc\n");
    CHECK(source_line("/ds/1/abc", "qcow2", p6) == "/ds/1/abc qcow2\n");
    CHECK(source_line("/ds/1/abc", "", p6) == "/ds/1/abc\n");
    CHECK(profile_named("").name == "5");
    CHECK(error_block("disk\nfull", p5.error) == "ERROR MESSAGE --8<------\ndisk full\nERROR MESSAGE ------>8--\n");
    CHECK(error_block("disk full", p6.error) == "disk full\n");
    CHECK(first_error_block("x\n" + error_block("disk full", ErrorForm::Markers) + error_block("echo", ErrorForm::Markers)) ==
          "disk full");
    CHECK_FALSE(first_error_block("disk full\n"));
    // a pipeline's sender may complain first: its broken pipe is the echo, not the cause
    CHECK(first_error_block(error_block("cannot send the stream 'pipe': Broken pipe", ErrorForm::Markers) +
                            error_block("No space left on device", ErrorForm::Markers)) == "No space left on device");
    CHECK(first_error_block(error_block("x: Broken pipe", ErrorForm::Markers)) == "x: Broken pipe");
}

TEST_CASE("protocol: monitor lines in both VM forms") {
    MonitorResult m{.used_mb = 1, .total_mb = 3, .free_mb = 2};
    VmDiskUsage u{"42", {}};
    u.disk(0, 10);
    u.snapshot("1", 0, 5);
    m.vms.push_back(u);
    CHECK(monitor_lines(m, VmLineForm::Poll) ==
          "USED_MB=1\nTOTAL_MB=3\nFREE_MB=2\n"
          "VM=[ID=42,POLL=\"DISK_SIZE=[ID=0,SIZE=10] SNAPSHOT_SIZE=[ID=1,DISK_ID=0,SIZE=5] \"]\n");
    CHECK(vm_line(u, VmLineForm::Monitor) ==
          "VM = [ ID = 42, MONITOR = \"" + base64_encode("DISK_SIZE=[ID=0,SIZE=10] SNAPSHOT_SIZE=[ID=1,DISK_ID=0,SIZE=5] ") +
              "\" ]");
}

TEST_CASE("protocol: pre/postmigrate words: the template, then the caller") {
    std::string tpl = base64_encode("<VM><ID>1</ID></VM>");
    MigrateInput in = migrate_input({tpl, "qcow2"});
    CHECK(in.template_b64 == tpl);
    CHECK(in.caller_tm == "qcow2");
}
