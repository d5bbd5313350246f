#include "onestor/xml.hpp"

#include "onestor/error.hpp"
#include "onestor/numbers.hpp"

#include <tinyxml2.h>
#include <boost/beast/core/detail/base64.hpp>

#include <cctype>

namespace onestor {

namespace b64 = boost::beast::detail::base64;
using tinyxml2::XMLElement;

std::string base64_decode(const std::string& text) {
    std::string clean;
    clean.reserve(text.size());
    for (char c : text) {
        if (c == '\n' || c == '\r' || c == ' ' || c == '\t') continue;
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '=';
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

// A numeric field in the range of what it means (numbers.hpp), as type T; `dflt` when the
// field is absent or empty.
template <class T>
T number(const XMLElement* parent, const char* name, T dflt, long long min, long long max) {
    std::string t = text(parent, name);
    if (t.empty()) return dflt;
    return static_cast<T>(parse_number(t, min, max, std::string("field ") + name));  // in T's range: checked
}
long id_field(const XMLElement* e, const char* name) { return number<long>(e, name, -1L, -1, kMaxId); }
long size_field(const XMLElement* e, const char* name) { return number<long>(e, name, 0L, 0, kMaxSizeMb); }
int int_field(const XMLElement* e, const char* name, int dflt) { return number<int>(e, name, dflt, -1, kMaxId); }
int flag_field(const XMLElement* e, const char* name) { return number<int>(e, name, 0, 0, 1); }
// DISK_TYPE: FILE (0) .. ISCSI (9), or NONE (255)
int disk_type_field(const XMLElement* e) {
    int t = number<int>(e, "DISK_TYPE", 0, 0, 255);
    if (t > 9 && t != 255) throw DriverError("field DISK_TYPE is not a disk type: " + std::to_string(t));
    return t;
}

Attributes children(const XMLElement* e) {
    Attributes a;
    if (!e) return a;
    for (auto* c = e->FirstChildElement(); c; c = c->NextSiblingElement()) a[c->Name()] = c->GetText() ? c->GetText() : "";
    return a;
}

Permissions perms(const XMLElement* e) {
    Permissions p;
    if (!e) return p;
    p.owner_u = flag_field(e, "OWNER_U"), p.owner_m = flag_field(e, "OWNER_M"), p.owner_a = flag_field(e, "OWNER_A");
    p.group_u = flag_field(e, "GROUP_U"), p.group_m = flag_field(e, "GROUP_M"), p.group_a = flag_field(e, "GROUP_A");
    p.other_u = flag_field(e, "OTHER_U"), p.other_m = flag_field(e, "OTHER_M"), p.other_a = flag_field(e, "OTHER_A");
    return p;
}

Image image_from(const XMLElement* e) {
    Image i;
    i.id = id_field(e, "ID"), i.uid = id_field(e, "UID"), i.gid = id_field(e, "GID");
    i.uname = text(e, "UNAME"), i.gname = text(e, "GNAME"), i.name = text(e, "NAME");
    i.permissions = perms(e->FirstChildElement("PERMISSIONS"));
    // Enums in their range: TYPE OS (0) .. BACKUP (6)
    i.type = number<int>(e, "TYPE", 0, 0, 6), i.disk_type = disk_type_field(e);
    i.persistent = flag_field(e, "PERSISTENT") != 0;
    i.regtime = number<long>(e, "REGTIME", 0L, 0, LLONG_MAX);
    i.source = text(e, "SOURCE"), i.path = text(e, "PATH"), i.fstype = text(e, "FSTYPE");
    i.format = text(e, "FORMAT"), i.fs = text(e, "FS");
    i.size_mb = size_field(e, "SIZE");
    i.state = int_field(e, "STATE", 0), i.running_vms = int_field(e, "RUNNING_VMS", 0);
    i.cloning_ops = int_field(e, "CLONING_OPS", 0), i.cloning_id = id_field(e, "CLONING_ID");
    i.datastore_id = id_field(e, "DATASTORE_ID"), i.datastore = text(e, "DATASTORE");
    i.target_snapshot = id_field(e, "TARGET_SNAPSHOT");
    i.tmpl = children(e->FirstChildElement("TEMPLATE"));
    return i;
}

Datastore datastore_from(const XMLElement* e) {
    Datastore d;
    d.id = id_field(e, "ID"), d.uid = id_field(e, "UID"), d.gid = id_field(e, "GID");
    d.uname = text(e, "UNAME"), d.gname = text(e, "GNAME"), d.name = text(e, "NAME");
    d.permissions = perms(e->FirstChildElement("PERMISSIONS"));
    d.ds_mad = text(e, "DS_MAD"), d.tm_mad = text(e, "TM_MAD"), d.base_path = text(e, "BASE_PATH");
    // TYPE IMAGE_DS, SYSTEM_DS, FILE_DS, BACKUP_DS
    d.type = number<int>(e, "TYPE", 0, 0, 3), d.disk_type = disk_type_field(e);
    d.cluster_id = id_field(e, "CLUSTER_ID"), d.cluster = text(e, "CLUSTER");
    d.total_mb = size_field(e, "TOTAL_MB"), d.free_mb = size_field(e, "FREE_MB"), d.used_mb = size_field(e, "USED_MB");
    d.tmpl = children(e->FirstChildElement("TEMPLATE"));
    return d;
}

// XML 1.0 allows only these characters, literal or referenced ("Char", a well-formedness
// constraint tinyxml2 does not check). tinyxml2 decodes "&#0;" into a NUL that silently
// ends the field (a PATH "/ok&#0;/../x" reads as "/ok"), and passes "&#x1b;", "&#xD800;" or
// "&#x110000;" on as they are: such a document is refused, not partly read.
bool xml_char(unsigned long c) {
    return c == 0x9 || c == 0xA || c == 0xD || (c >= 0x20 && c <= 0xD7FF) || (c >= 0xE000 && c <= 0xFFFD) ||
           (c >= 0x10000 && c <= 0x10FFFF);
}

void check_characters(const std::string& xml, const char* what) {
    auto refuse = [&](const std::string& why) { throw DriverError(std::string(what) + " is not well-formed XML: " + why); };
    for (size_t i = 0; i < xml.size(); ++i) {
        auto c = static_cast<unsigned char>(xml[i]);
        if (c < 0x20 && !xml_char(c))
            refuse("it holds the control character " + std::to_string(c) + " at byte " + std::to_string(i));
    }
    // Character references: everywhere but in CDATA sections, comments and processing
    // instructions, where "&#" is text.
    static const std::pair<std::string, std::string> kLiteral[] = {{"<![CDATA[", "]]>"}, {"<!--", "-->"}, {"<?", "?>"}};
    for (size_t i = 0; i < xml.size(); ++i) {
        if (xml[i] == '<') {
            for (const auto& [open, close] : kLiteral) {
                if (xml.compare(i, open.size(), open) != 0) continue;
                size_t end = xml.find(close, i + open.size());
                i = end == std::string::npos ? xml.size() : end + close.size() - 1;  // unclosed: tinyxml2 refuses it
                break;
            }
            continue;
        }
        if (xml[i] != '&' || xml.compare(i, 2, "&#") != 0) continue;
        bool hex = xml.compare(i, 3, "&#x") == 0;
        size_t j = i + (hex ? 3 : 2), first = j;
        unsigned long code = 0;
        for (; j < xml.size() && std::isxdigit(static_cast<unsigned char>(xml[j])); ++j) {
            int d = std::isdigit(static_cast<unsigned char>(xml[j])) ? xml[j] - '0' : (std::tolower(xml[j]) - 'a' + 10);
            if (!hex && d > 9) break;
            if (code <= 0x10FFFF) code = code * (hex ? 16 : 10) + static_cast<unsigned long>(d);  // else stays invalid
        }
        std::string ref = xml.substr(i, std::min<size_t>(j + 1 - i, 16));
        if (j == first || j >= xml.size() || xml[j] != ';') refuse("malformed character reference " + quoted(ref));
        if (!xml_char(code)) refuse("character reference " + quoted(ref) + " is not an XML character");
        i = j;
    }
}

void parse(tinyxml2::XMLDocument& doc, const std::string& xml, const char* what) {
    check_characters(xml, what);
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
        if (n == "MARKETPLACE")  // an app's import: MARKETPLACE/TEMPLATE/<X> as "MARKETPLACE/<X>" (S3 keys)
            if (auto* t = c->FirstChildElement("TEMPLATE"))
                for (auto* e = t->FirstChildElement(); e; e = e->NextSiblingElement())
                    d.extras["MARKETPLACE/" + std::string(e->Name())] = e->GetText() ? e->GetText() : "";
    }
    d.xml = xml;
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
    return static_cast<long>(parse_number(v, 0, kMaxSizeMb, "disk " + std::to_string(disk_id) + " " + name + " (MiB)"));
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
    vm.id = id_field(root, "ID");
    vm.name = text(root, "NAME"), vm.deploy_id = text(root, "DEPLOY_ID");
    vm.state = int_field(root, "STATE", -1), vm.lcm_state = int_field(root, "LCM_STATE", -1);
    if (auto* t = root->FirstChildElement("TEMPLATE")) {
        for (auto* d = t->FirstChildElement("DISK"); d; d = d->NextSiblingElement("DISK")) {
            VmDisk disk;
            disk.attrs = children(d);
            disk.disk_id = int_field(d, "DISK_ID", -1);
            vm.disks.push_back(std::move(disk));
        }
        if (auto* c = t->FirstChildElement("CONTEXT")) vm.context_disk_id = int_field(c, "DISK_ID", -1);
    }
    if (auto* hr = root->FirstChildElement("HISTORY_RECORDS")) {
        const XMLElement *last = nullptr, *before = nullptr;
        for (auto* h = hr->FirstChildElement("HISTORY"); h; h = h->NextSiblingElement("HISTORY")) before = last, last = h;
        if (before) vm.previous_system_ds_id = id_field(before, "DS_ID");
        if (last) {
            vm.hostname = text(last, "HOSTNAME");
            vm.system_tm_mad = text(last, "TM_MAD");
            vm.system_ds_id = id_field(last, "DS_ID");
        }
    }
    return vm;
}

}  // namespace onestor
