// The XML documents oned hands the drivers, as typed models:
//  - DsDump: <DS_DRIVER_ACTION_DATA> (IMAGE, DATASTORE, extras), base64 in argv or stdin;
//  - VmInfo: `onevm show -x VMID` (disks, history, states);
//  - Datastore: `onedatastore show -x DSID` or the DATASTORE inside a dump.
// Decoding is strict: garbage base64 or malformed XML is refused before anything is touched.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tinyxml2 {
class XMLElement;
}

namespace onestor {

std::string base64_decode(const std::string& text);  // throws DriverError on garbage
std::string base64_encode(const std::string& data);

using Attributes = std::map<std::string, std::string>;  // TEMPLATE: attribute name -> text

struct Permissions {
    int owner_u = 0, owner_m = 0, owner_a = 0, group_u = 0, group_m = 0, group_a = 0, other_u = 0, other_m = 0, other_a = 0;
};

struct Image {
    long id = -1, uid = -1, gid = -1;
    std::string uname, gname, name;
    Permissions permissions;
    int type = 0, disk_type = 0;
    bool persistent = false;
    long regtime = 0;
    std::string source, path, fstype, format, fs;
    long size_mb = 0;
    int state = 0, running_vms = 0, cloning_ops = 0;
    long cloning_id = -1, datastore_id = -1;
    std::string datastore;
    long target_snapshot = -1;
    Attributes tmpl;
};

struct Datastore {
    long id = -1, uid = -1, gid = -1;
    std::string uname, gname, name;
    Permissions permissions;
    std::string ds_mad, tm_mad, base_path;
    int type = 0, disk_type = 0;
    long cluster_id = -1;
    std::string cluster;
    long total_mb = 0, free_mb = 0, used_mb = 0;
    Attributes tmpl;

    std::string attr(const std::string& name) const;    // TEMPLATE attribute or ""
    static Datastore from_xml(const std::string& xml);  // `onedatastore show -x`
};

struct DsDump {
    std::optional<Image> image;  // absent for MONITOR
    Datastore datastore;
    std::string datastore_location;  // system-DS MONITOR
    bool monitor_vm_disks = false;
    std::string extra(const std::string& name) const;  // any other root child's text
    Attributes extras;
    std::string xml;  // the document as received: what a BRIDGE_LIST host is handed

    static DsDump from_base64(const std::string& b64);
    static DsDump from_xml(const std::string& xml);
    const Image& img() const;  // throws "the action data holds no IMAGE"
};

struct VmDisk {
    int disk_id = -1;
    Attributes attrs;  // every child of DISK by name: SOURCE, CLONE, SIZE, FORMAT, ...
    std::string get(const std::string& name) const;
    long size_mb(const std::string& name) const;  // numeric attribute, 0 when absent
};

// The LCM states the drivers ask about (OpenNebula's VirtualMachine::LcmState).
namespace lcm {
enum : int {
    PrologResume = 9,
    EpilogStop = 10,
    HotplugSaveas = 26,  // a save-as of a running VM's disk
    EpilogUndeploy = 30,
    PrologUndeploy = 31,
    EpilogStopFailure = 41,
    EpilogUndeployFailure = 42,
    PrologResumeFailure = 49,
    PrologUndeployFailure = 50,
    PrologMigrateUnknown = 60,  // the source host is gone (fault tolerance)
    DiskResize = 62,            // a resize of a running VM's disk
};
}  // namespace lcm

struct VmInfo {
    long id = -1;
    std::string name, deploy_id;
    int state = -1, lcm_state = -1;  // lcm_state: lcm::
    std::vector<VmDisk> disks;
    int context_disk_id = -1;
    // HISTORY[last()]
    std::string hostname, system_tm_mad;
    long system_ds_id = -1;
    long previous_system_ds_id = -1;  // HISTORY[last()-1]: where a migration came from

    const VmDisk* disk(int id) const;
    const VmDisk& require_disk(int id) const;
    static VmInfo from_xml(const std::string& xml);
};

}  // namespace onestor
