#include "onestor/xml.hpp"

#include "onestor/error.hpp"

#include <boost/beast/core/detail/base64.hpp>
#include <tinyxml2.h>

namespace onestor {

namespace b64 = boost::beast::detail::base64;
using tinyxml2::XMLElement;

std::string base64_decode(const std::string& text) {
    std::string clean;
    clean.reserve(text.size());
    for (char c : text) {
        if (c == '\n' || c == '\r' || c == ' ' || c == '\t') continue;
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
                  c == '/' || c == '=';
        if (!ok) throw DriverError("the action data is not valid base64");
    }
    for (char c : text)
        if (c != '\n' && c != '\r' && c != ' ' && c != '\t') clean += c;
    if (clean.empty() || clean.size() % 4 != 0) throw DriverError("the action data is not valid base64");
    auto pad = clean.find('=');
    if (pad != std::string::npos && pad < clean.size() - 2) throw DriverError("the action data is not valid base64");
    std::string out(b64::decoded_size(clean.size()), '\0');
    auto [written, read] = b64::decode(out.data(), clean.data(), clean.size());
    out.resize(written);
    (void)read;
    // Strict: only canonical base64 decodes (re-encoding gives back the input).
    if (base64_encode(out) != clean) throw DriverError("the action data is not valid base64");
    return out;
}

std::string base64_encode(const std::string& data) {
    std::string out(b64::encoded_size(data.size()), '\0');
    out.resize(b64::encode(out.data(), data.data(), data.size()));
    return out;
}

namespace {

std::string text(const XMLElement* parent, const char* name) {
    if (!parent) return {};
    const XMLElement* e = parent->FirstChildElement(name);
    return e && e->GetText() ? e->GetText() : "";
}

long number(const XMLElement* parent, const char* name, long dflt) {
    std::string t = text(parent, name);
    if (t.empty()) return dflt;
    try {
        size_t used = 0;
        long n = std::stol(t, &used);
        if (used == t.size()) return n;
    } catch (...) {
    }
    throw DriverError(std::string("field ") + name + " is not a number: " + quoted(t));
}

Attributes children(const XMLElement* e) {
    Attributes a;
    if (!e) return a;
    for (auto* c = e->FirstChildElement(); c; c = c->NextSiblingElement())
        a[c->Name()] = c->GetText() ? c->GetText() : "";
    return a;
}

Permissions perms(const XMLElement* e) {
    Permissions p;
    if (!e) return p;
    p.owner_u = number(e, "OWNER_U", 0), p.owner_m = number(e, "OWNER_M", 0), p.owner_a = number(e, "OWNER_A", 0);
    p.group_u = number(e, "GROUP_U", 0), p.group_m = number(e, "GROUP_M", 0), p.group_a = number(e, "GROUP_A", 0);
    p.other_u = number(e, "OTHER_U", 0), p.other_m = number(e, "OTHER_M", 0), p.other_a = number(e, "OTHER_A", 0);
    return p;
}

Image image_from(const XMLElement* e) {
    Image i;
    i.id = number(e, "ID", -1), i.uid = number(e, "UID", -1), i.gid = number(e, "GID", -1);
    i.uname = text(e, "UNAME"), i.gname = text(e, "GNAME"), i.name = text(e, "NAME");
    i.permissions = perms(e->FirstChildElement("PERMISSIONS"));
    i.type = number(e, "TYPE", 0), i.disk_type = number(e, "DISK_TYPE", 0);
    i.persistent = number(e, "PERSISTENT", 0) != 0;
    i.regtime = number(e, "REGTIME", 0);
    i.source = text(e, "SOURCE"), i.path = text(e, "PATH"), i.fstype = text(e, "FSTYPE");
    i.format = text(e, "FORMAT"), i.fs = text(e, "FS");
    i.size_mb = number(e, "SIZE", 0);
    i.state = number(e, "STATE", 0), i.running_vms = number(e, "RUNNING_VMS", 0);
    i.cloning_ops = number(e, "CLONING_OPS", 0), i.cloning_id = number(e, "CLONING_ID", -1);
    i.datastore_id = number(e, "DATASTORE_ID", -1), i.datastore = text(e, "DATASTORE");
    i.target_snapshot = number(e, "TARGET_SNAPSHOT", -1);
    i.tmpl = children(e->FirstChildElement("TEMPLATE"));
    return i;
}

Datastore datastore_from(const XMLElement* e) {
    Datastore d;
    d.id = number(e, "ID", -1), d.uid = number(e, "UID", -1), d.gid = number(e, "GID", -1);
    d.uname = text(e, "UNAME"), d.gname = text(e, "GNAME"), d.name = text(e, "NAME");
    d.permissions = perms(e->FirstChildElement("PERMISSIONS"));
    d.ds_mad = text(e, "DS_MAD"), d.tm_mad = text(e, "TM_MAD"), d.base_path = text(e, "BASE_PATH");
    d.type = number(e, "TYPE", 0), d.disk_type = number(e, "DISK_TYPE", 0);
    d.cluster_id = number(e, "CLUSTER_ID", -1), d.cluster = text(e, "CLUSTER");
    d.total_mb = number(e, "TOTAL_MB", 0), d.free_mb = number(e, "FREE_MB", 0), d.used_mb = number(e, "USED_MB", 0);
    d.tmpl = children(e->FirstChildElement("TEMPLATE"));
    return d;
}

void parse(tinyxml2::XMLDocument& doc, const std::string& xml, const char* what) {
    if (doc.Parse(xml.data(), xml.size()) != tinyxml2::XML_SUCCESS)
        throw DriverError(std::string(what) + " is not well-formed XML: " + doc.ErrorStr());
}

}  // namespace

std::string Datastore::attr(const std::string& name) const {
    auto it = tmpl.find(name);
    return it == tmpl.end() ? std::string{} : it->second;
}

Datastore Datastore::from_xml(const std::string& xml) {
    tinyxml2::XMLDocument doc;
    parse(doc, xml, "the datastore information");
    auto* root = doc.RootElement();
    if (!root || std::string(root->Name()) != "DATASTORE")
        throw DriverError("the datastore information has no DATASTORE element");
    return datastore_from(root);
}

DsDump DsDump::from_base64(const std::string& b64text) { return from_xml(base64_decode(b64text)); }

DsDump DsDump::from_xml(const std::string& xml) {
    tinyxml2::XMLDocument doc;
    parse(doc, xml, "the action data");
    auto* root = doc.RootElement();
    if (!root || std::string(root->Name()) != "DS_DRIVER_ACTION_DATA")
        throw DriverError("the action data has no DS_DRIVER_ACTION_DATA element");
    DsDump d;
    if (auto* img = root->FirstChildElement("IMAGE")) d.image = image_from(img);
    auto* ds = root->FirstChildElement("DATASTORE");
    if (!ds) throw DriverError("the action data has no DATASTORE element");
    d.datastore = datastore_from(ds);
    d.datastore_location = text(root, "DATASTORE_LOCATION");
    d.monitor_vm_disks = text(root, "MONITOR_VM_DISKS") == "1";
    for (auto* c = root->FirstChildElement(); c; c = c->NextSiblingElement()) {
        std::string n = c->Name();
        if (n != "IMAGE" && n != "DATASTORE") d.extras[n] = c->GetText() ? c->GetText() : "";
    }
    return d;
}

std::string DsDump::extra(const std::string& name) const {
    auto it = extras.find(name);
    return it == extras.end() ? std::string{} : it->second;
}

const Image& DsDump::img() const {
    if (!image) throw DriverError("the action data has no IMAGE element");
    return *image;
}

std::string VmDisk::get(const std::string& name) const {
    auto it = attrs.find(name);
    return it == attrs.end() ? std::string{} : it->second;
}

long VmDisk::size_mb(const std::string& name) const {
    std::string v = get(name);
    if (v.empty()) return 0;
    try {
        size_t used = 0;
        long n = std::stol(v, &used);
        if (used == v.size() && n >= 0) return n;
    } catch (...) {
    }
    throw DriverError("disk " + std::to_string(disk_id) + " has a bad " + name + ": " + quoted(v));
}

const VmDisk* VmInfo::disk(int id) const {
    for (const auto& d : disks)
        if (d.disk_id == id) return &d;
    return nullptr;
}

const VmDisk& VmInfo::require_disk(int id) const {
    if (auto* d = disk(id)) return *d;
    throw DriverError("VM " + std::to_string(this->id) + " has no disk " + std::to_string(id));
}

VmInfo VmInfo::from_xml(const std::string& xml) {
    tinyxml2::XMLDocument doc;
    parse(doc, xml, "the VM information");
    auto* root = doc.RootElement();
    if (!root || std::string(root->Name()) != "VM") throw DriverError("the VM information has no VM element");
    VmInfo vm;
    vm.id = number(root, "ID", -1);
    vm.name = text(root, "NAME"), vm.deploy_id = text(root, "DEPLOY_ID");
    vm.state = number(root, "STATE", -1), vm.lcm_state = number(root, "LCM_STATE", -1);
    if (auto* t = root->FirstChildElement("TEMPLATE")) {
        for (auto* d = t->FirstChildElement("DISK"); d; d = d->NextSiblingElement("DISK")) {
            VmDisk disk;
            disk.attrs = children(d);
            disk.disk_id = number(d, "DISK_ID", -1);
            vm.disks.push_back(std::move(disk));
        }
        if (auto* c = t->FirstChildElement("CONTEXT")) vm.context_disk_id = number(c, "DISK_ID", -1);
    }
    if (auto* hr = root->FirstChildElement("HISTORY_RECORDS")) {
        const XMLElement* last = nullptr;
        for (auto* h = hr->FirstChildElement("HISTORY"); h; h = h->NextSiblingElement("HISTORY")) last = h;
        if (last) {
            vm.hostname = text(last, "HOSTNAME");
            vm.system_tm_mad = text(last, "TM_MAD");
            vm.system_ds_id = number(last, "DS_ID", -1);
        }
    }
    return vm;
}

}  // namespace onestor
