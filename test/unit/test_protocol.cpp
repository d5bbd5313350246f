// Decoding of what oned sends: base64, the DS action document, the VM and datastore XML.
#include "onestor/error.hpp"
#include "onestor/xml.hpp"

#include <doctest/doctest.h>

using namespace onestor;

namespace {
// The decoded example of storage-driver.rst (abridged only in whitespace).
const char* kSeed = R"(<DS_DRIVER_ACTION_DATA>
  <IMAGE><ID>0</ID><UID>0</UID><GID>0</GID><UNAME>oneadmin</UNAME><GNAME>oneadmin</GNAME><NAME>ttylinux</NAME>
    <PERMISSIONS><OWNER_U>1</OWNER_U><OWNER_M>1</OWNER_M><OWNER_A>0</OWNER_A><GROUP_U>0</GROUP_U><GROUP_M>0</GROUP_M>
      <GROUP_A>0</GROUP_A><OTHER_U>0</OTHER_U><OTHER_M>0</OTHER_M><OTHER_A>0</OTHER_A></PERMISSIONS>
    <TYPE>0</TYPE><DISK_TYPE>0</DISK_TYPE><PERSISTENT>0</PERSISTENT><REGTIME>1385145541</REGTIME><SOURCE/>
    <PATH>/tmp/ttylinux.img</PATH><FSTYPE/><SIZE>40</SIZE><STATE>4</STATE><RUNNING_VMS>0</RUNNING_VMS>
    <CLONING_OPS>0</CLONING_OPS><CLONING_ID>-1</CLONING_ID><DATASTORE_ID>1</DATASTORE_ID><DATASTORE>default</DATASTORE>
    <VMS/><CLONES/><TEMPLATE><DEV_PREFIX><![CDATA[hd]]></DEV_PREFIX><PUBLIC><![CDATA[YES]]></PUBLIC></TEMPLATE></IMAGE>
  <DATASTORE><ID>1</ID><UID>0</UID><GID>0</GID><UNAME>oneadmin</UNAME><GNAME>oneadmin</GNAME><NAME>default</NAME>
    <PERMISSIONS><OWNER_U>1</OWNER_U><OWNER_M>1</OWNER_M><OWNER_A>0</OWNER_A><GROUP_U>1</GROUP_U><GROUP_M>0</GROUP_M>
      <GROUP_A>0</GROUP_A><OTHER_U>1</OTHER_U><OTHER_M>0</OTHER_M><OTHER_A>0</OTHER_A></PERMISSIONS>
    <DS_MAD>fs</DS_MAD><TM_MAD>shared</TM_MAD><TYPE>0</TYPE><DISK_TYPE>0</DISK_TYPE><CLUSTER_ID>-1</CLUSTER_ID><CLUSTER/>
    <TOTAL_MB>86845</TOTAL_MB><FREE_MB>20777</FREE_MB><USED_MB>1000</USED_MB><IMAGES/>
    <TEMPLATE><CLONE_TARGET><![CDATA[SYSTEM]]></CLONE_TARGET><DISK_TYPE><![CDATA[FILE]]></DISK_TYPE>
      <DS_MAD><![CDATA[fs]]></DS_MAD><LN_TARGET><![CDATA[NONE]]></LN_TARGET><TM_MAD><![CDATA[shared]]></TM_MAD>
      <TYPE><![CDATA[IMAGE_DS]]></TYPE></TEMPLATE></DATASTORE>
</DS_DRIVER_ACTION_DATA>)";

const char* kVm = R"(<VM><ID>42</ID><NAME>web-42</NAME><STATE>3</STATE><LCM_STATE>3</LCM_STATE><DEPLOY_ID>one-42</DEPLOY_ID>
  <TEMPLATE>
    <DISK><CLONE>YES</CLONE><DISK_ID>0</DISK_ID><FORMAT>qcow2</FORMAT><ORIGINAL_SIZE>2252</ORIGINAL_SIZE><SIZE>10240</SIZE>
      <SOURCE>/var/lib/one//datastores/1/5f1c</SOURCE><TARGET>vda</TARGET><TM_MAD>qcow2</TM_MAD></DISK>
    <DISK><CLONE>NO</CLONE><DISK_ID>1</DISK_ID><SIZE>x12</SIZE><TM_MAD>qcow2</TM_MAD></DISK>
    <CONTEXT><DISK_ID>4</DISK_ID></CONTEXT>
  </TEMPLATE>
  <HISTORY_RECORDS>
    <HISTORY><SEQ>0</SEQ><HOSTNAME>node00</HOSTNAME><TM_MAD>ssh</TM_MAD><DS_ID>7</DS_ID></HISTORY>
    <HISTORY><SEQ>1</SEQ><HOSTNAME>node01</HOSTNAME><TM_MAD>shared</TM_MAD><DS_ID>0</DS_ID></HISTORY>
  </HISTORY_RECORDS></VM>)";
}  // namespace

TEST_CASE("base64 decodes the canonical alphabet and refuses garbage") {
    CHECK(base64_decode("aGVsbG8=") == "hello");
    CHECK(base64_decode("aGVs\nbG8=\n") == "hello");  // line-wrapped as base64(1) writes it
    CHECK(base64_decode(base64_encode(std::string("\0\xff\x10 bytes", 9))) == std::string("\0\xff\x10 bytes", 9));
    for (const char* bad : {"", "!!!!", "aGVsbG8", "aGV=bG8=", "aGVsbG8=$(x)", "====", "aGVsbG9="})
        CHECK_THROWS_WITH_AS(base64_decode(bad), doctest::Contains("not valid base64"), DriverError);
}

TEST_CASE("the DS dump of the driver guide lands field by field in the model") {
    DsDump d = DsDump::from_base64(base64_encode(kSeed));
    const Image& i = d.img();
    CHECK(i.id == 0);
    CHECK(i.uname == "oneadmin");
    CHECK(i.name == "ttylinux");
    CHECK(i.permissions.owner_u == 1);
    CHECK(i.permissions.owner_m == 1);
    CHECK(i.permissions.group_u == 0);
    CHECK(i.path == "/tmp/ttylinux.img");
    CHECK(i.source.empty());
    CHECK(i.size_mb == 40);
    CHECK(i.state == 4);
    CHECK(i.regtime == 1385145541);
    CHECK(i.cloning_id == -1);
    CHECK(i.datastore_id == 1);
    CHECK(i.datastore == "default");
    CHECK(i.tmpl.at("DEV_PREFIX") == "hd");
    CHECK(i.tmpl.at("PUBLIC") == "YES");
    CHECK(d.datastore.id == 1);
    CHECK(d.datastore.ds_mad == "fs");
    CHECK(d.datastore.tm_mad == "shared");
    CHECK(d.datastore.permissions.other_u == 1);
    CHECK(d.datastore.cluster_id == -1);
    CHECK(d.datastore.total_mb == 86845);
    CHECK(d.datastore.free_mb == 20777);
    CHECK(d.datastore.used_mb == 1000);
    CHECK(d.datastore.attr("CLONE_TARGET") == "SYSTEM");
    CHECK(d.datastore.attr("LN_TARGET") == "NONE");
    CHECK(d.datastore.attr("NOT_THERE").empty());
    CHECK(d.datastore.base_path.empty());
}

TEST_CASE("malformed action data is refused with a reason") {
    CHECK_THROWS_WITH_AS(DsDump::from_xml("<DS_DRIVER_ACTION_DATA><IMAGE>"), doctest::Contains("not well-formed"), DriverError);
    CHECK_THROWS_WITH_AS(DsDump::from_xml("<OTHER/>"), doctest::Contains("DS_DRIVER_ACTION_DATA"), DriverError);
    CHECK_THROWS_WITH_AS(DsDump::from_xml("<DS_DRIVER_ACTION_DATA><IMAGE/></DS_DRIVER_ACTION_DATA>"),
                         doctest::Contains("no DATASTORE"), DriverError);
    CHECK_THROWS_WITH_AS(
        DsDump::from_xml("<DS_DRIVER_ACTION_DATA><IMAGE><SIZE>12x</SIZE></IMAGE><DATASTORE/></DS_DRIVER_ACTION_DATA>"),
        doctest::Contains("SIZE"), DriverError);
}

TEST_CASE("a monitor dump has no IMAGE and carries the system datastore extras") {
    DsDump d = DsDump::from_xml(
        "<DS_DRIVER_ACTION_DATA><DATASTORE><ID>0</ID><BASE_PATH>/var/lib/one//datastores/0</BASE_PATH></DATASTORE>"
        "<DATASTORE_LOCATION>/var/lib/one//datastores</DATASTORE_LOCATION><MONITOR_VM_DISKS>1</MONITOR_VM_DISKS>"
        "</DS_DRIVER_ACTION_DATA>");
    CHECK_FALSE(d.image.has_value());
    CHECK_THROWS_WITH_AS(d.img(), doctest::Contains("no IMAGE"), DriverError);
    CHECK(d.datastore_location == "/var/lib/one//datastores");
    CHECK(d.monitor_vm_disks);
    CHECK(d.datastore.base_path == "/var/lib/one//datastores/0");
    CHECK(d.extra("DATASTORE_LOCATION") == "/var/lib/one//datastores");
}

TEST_CASE("onevm show -x: disks by id, states, the last history record") {
    VmInfo vm = VmInfo::from_xml(kVm);
    CHECK(vm.id == 42);
    CHECK(vm.deploy_id == "one-42");
    CHECK(vm.lcm_state == 3);
    REQUIRE(vm.disks.size() == 2);
    CHECK(vm.require_disk(0).get("SOURCE") == "/var/lib/one//datastores/1/5f1c");
    CHECK(vm.require_disk(0).size_mb("SIZE") == 10240);
    CHECK(vm.require_disk(0).size_mb("ABSENT") == 0);
    CHECK(vm.require_disk(1).get("CLONE") == "NO");
    CHECK_THROWS_WITH_AS(vm.require_disk(1).size_mb("SIZE"), doctest::Contains("disk 1 SIZE (MiB) must be an integer"),
                         DriverError);
    CHECK(vm.disk(7) == nullptr);
    CHECK_THROWS_WITH_AS(vm.require_disk(7), doctest::Contains("no disk 7"), DriverError);
    CHECK(vm.context_disk_id == 4);
    CHECK(vm.hostname == "node01");
    CHECK(vm.system_tm_mad == "shared");
    CHECK(vm.system_ds_id == 0);
    CHECK(vm.previous_system_ds_id == 7);  // where a migration came from
    CHECK(VmInfo::from_xml("<VM><ID>1</ID><HISTORY_RECORDS><HISTORY><DS_ID>3</DS_ID></HISTORY></HISTORY_RECORDS></VM>")
              .previous_system_ds_id == -1);
    CHECK_THROWS_AS(VmInfo::from_xml("<DATASTORE/>"), DriverError);
}

TEST_CASE("onedatastore show -x") {
    Datastore d = Datastore::from_xml(
        "<DATASTORE><ID>0</ID><NAME>system</NAME><TM_MAD>shared</TM_MAD><BASE_PATH>/var/lib/one//datastores/0</BASE_PATH>"
        "<TYPE>1</TYPE><TEMPLATE><SHARED>YES</SHARED><BRIDGE_LIST>node01 node02</BRIDGE_LIST></TEMPLATE></DATASTORE>");
    CHECK(d.type == 1);
    CHECK(d.attr("BRIDGE_LIST") == "node01 node02");
    CHECK_THROWS_AS(Datastore::from_xml("<VM/>"), DriverError);
}
