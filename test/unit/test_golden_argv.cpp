// Over 400 lines: the golden test and its world in one file (the scratch tree, the answers a
// hypervisor, a SAN and a Ceph cluster would give, each action's arguments as oned sends them);
// the world exists for this test alone.
//
// Golden argv tests: every registered action of every driver (and each .ssh variant) runs
// in-process through the registry, as oned calls it, with the recording runner installed;
// the commands each host receives, in order, must equal test/golden/<kind>/<driver>/<action>.argv
// (libvirt's .argv files). ONESTOR_GOLDEN_UPDATE=1 rewrites the files. Each file also states the
// number of remote commands per host: what issue 11 drives down, so it cannot creep back up.
//
// The world: a scratch datastore tree stands for the shared storage every host sees. A remote
// command a host would run on it (coreutils, qemu-img) runs here for real against that tree;
// what needs a hypervisor or a SAN (virsh, LVM, onestor on the host, oned's onevm) gets a
// canned answer, and rbd and ceph one from a small model of a Ceph cluster (CephCluster).
// Paths in the files are shown under /var/lib/one/datastores; temp names are numbered in
// order of appearance.
#include "recorder.hpp"

#include "onestor/cli.hpp"
#include "onestor/config.hpp"
#include "onestor/dry_run.hpp"
#include "onestor/error.hpp"
#include "onestor/host.hpp"
#include "onestor/protocol.hpp"
#include "onestor/registry.hpp"
#include "onestor/scripts.hpp"

#include <doctest/doctest.h>

#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>

using namespace onestor;
namespace fs = std::filesystem;

#ifndef ONESTOR_SOURCE_DIR
#error "ONESTOR_SOURCE_DIR must name the source tree (test/CMakeLists.txt)"
#endif

namespace {

const std::string kShownDs = "/var/lib/one/datastores";
const std::string kRemoteOnestor = "/var/tmp/one/onestor";

std::string b64(const std::string& s) {
    static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string o;
    size_t i = 0;
    for (; i + 2 < s.size(); i += 3) {
        unsigned v = (unsigned char)s[i] << 16 | (unsigned char)s[i + 1] << 8 | (unsigned char)s[i + 2];
        for (int k = 18; k >= 0; k -= 6) o += t[(v >> k) & 63];
    }
    if (i + 1 == s.size()) {
        unsigned v = (unsigned char)s[i] << 16;
        o += t[(v >> 18) & 63], o += t[(v >> 12) & 63], o += "==";
    } else if (i + 2 == s.size()) {
        unsigned v = (unsigned char)s[i] << 16 | (unsigned char)s[i + 1] << 8;
        o += t[(v >> 18) & 63], o += t[(v >> 12) & 63], o += t[(v >> 6) & 63], o += '=';
    }
    return o;
}

std::string self_exe() {
    char buf[PATH_MAX];
    ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    return n < 0 ? std::string() : std::string(buf, static_cast<size_t>(n));
}

// The Ceph cluster of the ceph cases, which `rbd` and `ceph` on a bridge or hypervisor ask:
// its volumes (pool/name -> size, the parent snapshot of a clone, snapshots in the order
// made), answered in the JSON shapes rbd.cpp parses and changed as the commands say, with
// rbd's own refusals where a driver reads them (ENOENT of a missing image, a clone of an
// unprotected snapshot, rm of an image with snapshots); an export into a file (the .ssh
// variants) makes that file, of the volume's size. Auth, timeout and progress words
// carry nothing it needs: they are dropped before the command is read.
struct CephCluster {
    struct Snap {
        int id;
        std::string name;
        bool is_protected = false;
    };
    struct Volume {
        unsigned long long size = 1 << 20;
        std::string parent;  // "pool/image@snap" of a clone, "" otherwise
        std::vector<Snap> snaps;
    };
    std::map<std::string, Volume> vols;
    int next_snap_id = 4;

    static std::string q(const std::string& s) { return "\"" + s + "\""; }
    static std::pair<std::string, std::string> split(const std::string& spec, char c) {
        auto at = spec.find(c);
        return at == std::string::npos ? std::pair{spec, std::string()} : std::pair{spec.substr(0, at), spec.substr(at + 1)};
    }
    Snap* snap_of(const std::string& spec) {  // pool/image@snap
        auto [img, name] = split(spec, '@');
        if (!vols.count(img)) return nullptr;
        for (auto& s : vols.at(img).snaps)
            if (s.name == name) return &s;
        return nullptr;
    }
    static Result enoent(const std::string& spec) {
        return {2, "", "rbd: error opening image " + split(spec, '/').second + ": (2) No such file or directory\n"};
    }
    static Result refuse(const std::string& why) { return {22, "", "rbd: " + why + "\n"}; }

    Result respond(const Argv& argv) {
        Argv a;  // the command's own words: the tool, then what it is asked
        for (size_t i = 0; i < argv.size(); ++i) {
            const std::string& w = argv[i];
            if (w == "-c" || w == "--id" || w == "--keyfile" || w == "--keyring" || w == "--format" || w == "--data-pool")
                ++i;
            else if (w.rfind("--", 0) != 0 || w == "--size")
                a.push_back(w);
        }
        if (a[0] == "ceph")  // `ceph df`: the pool "one" (2 GiB stored, 8 GiB left) and another
            return {0,
                    R"({"stats":{"total_bytes":21474836480,"total_avail_bytes":10737418240},"pools":[)"
                    R"({"name":"one","id":1,"stats":{"stored":2147483648,"objects":512,"bytes_used":6442450944,)"
                    R"("max_avail":8589934592}},{"name":"other","id":2,"stats":{"stored":0,"bytes_used":0,"max_avail":100}}]})",
                    ""};
        if (a.size() < 3) return refuse("the test's cluster has no answer to: " + render(argv));
        const std::string& last = a.back();
        auto cmd = [&](std::initializer_list<const char*> words) {
            return a.size() == words.size() + 2 && std::equal(words.begin(), words.end(), a.begin() + 1);
        };
        if (cmd({"ls"})) {
            std::string out;
            for (const auto& [spec, v] : vols)
                if (split(spec, '/').first == last) out += (out.empty() ? "" : ",") + q(split(spec, '/').second);
            return {0, "[" + out + "]\n", ""};
        }
        if (cmd({"children"})) {  // of a snapshot, or of any snapshot of the image
            std::string out;
            bool image = last.find('@') == std::string::npos;
            if (image && !vols.count(last)) return enoent(last);
            for (const auto& [spec, v] : vols)
                if (v.parent == last || (image && v.parent.rfind(last + "@", 0) == 0))
                    out += std::string(out.empty() ? "" : ",") + R"({"pool":)" + q(split(spec, '/').first) +
                           R"(,"pool_namespace":"","image":)" + q(split(spec, '/').second) + "}";
            return image || snap_of(last) ? Result{0, "[" + out + "]\n", ""} : Result{2, "", "rbd: snapshot does not exist.\n"};
        }
        bool sized = a.size() == 5 && a[2] == "--size";  // create/resize --size <N>M|<N>B SPEC
        auto size = [&] { return a[3].back() == 'B' ? std::stoull(a[3]) : std::stoull(a[3]) << 20; };
        bool file = a.size() == 4 && a[2] != "-";  // an import from, an export into, a host's file
        if (file && a[1] == "import" && !fs::is_regular_file(a[2])) return refuse("error opening " + a[2]);
        if ((sized && a[1] == "create") ||
            (a.size() == 4 && a[1] == "import")) {  // (its data is not read: 1 MiB, or the file's size)
            if (vols.count(last)) return refuse("create error: (17) File exists");
            vols[last] = {sized ? size() : file ? fs::file_size(a[2]) : 1 << 20, "", {}};
            return {};
        }
        if (file && a[1] == "export") {  // a sparse file of the volume's size (its data is not modelled)
            auto [img, snap] = split(a[2], '@');
            if (!vols.count(img) || (!snap.empty() && !snap_of(a[2]))) return enoent(a[2]);
            if (fs::exists(last)) return refuse("export error: (17) File exists");
            std::ofstream(last, std::ios::binary).flush();
            fs::resize_file(last, vols.at(img).size);
            return {};
        }
        if (cmd({"import-diff", "-"})) return vols.count(last) ? Result{} : enoent(last);  // (its data is not read)
        if (a.size() == 4 && (a[1] == "clone" || a[1] == "copy" || a[1] == "rename")) {
            const std::string& from = a[2];
            if (vols.count(last)) return refuse(a[1] + " error: (17) File exists");
            if (a[1] == "clone") {
                Snap* s = snap_of(from);
                if (!s) return enoent(from);
                if (!s->is_protected) return refuse("clone error: (22) Invalid argument (parent snapshot must be protected)");
                vols[last] = {vols.at(split(from, '@').first).size, from, {}};
                return {};
            }
            auto [img, snap] = split(from, '@');
            if (!vols.count(img)) return enoent(from);
            Volume v = vols.at(img);
            if (a[1] == "copy") v = {v.size, "", {}};  // a full copy: no parent, no snapshots
            if (a[1] == "rename") vols.erase(img);
            vols[last] = v;
            return {};
        }
        if (a[1] == "snap" && a.size() == 4) {
            const std::string& op = a[2];
            if (op == "ls") {
                if (!vols.count(last)) return enoent(last);
                std::string out;
                for (const auto& s : vols.at(last).snaps)
                    out += std::string(out.empty() ? "" : ",") + R"({"id":)" + std::to_string(s.id) + R"(,"name":)" + q(s.name) +
                           R"(,"size":)" + std::to_string(vols.at(last).size) + R"(,"protected":)" +
                           q(s.is_protected ? "true" : "false") + R"(,"timestamp":"Thu Jan  1 00:00:00 2026"})";
                return {0, "[" + out + "]\n", ""};
            }
            auto [img, name] = split(last, '@');
            if (!vols.count(img)) return enoent(img);
            auto& snaps = vols.at(img).snaps;
            Snap* s = snap_of(last);
            if (op == "create") {
                if (s) return refuse("failed to create snapshot: (17) File exists");
                snaps.push_back({next_snap_id++, name, false});
                return {};
            }
            if (!s) return refuse("failed to " + op + " snapshot: (2) No such file or directory");
            if (op == "protect" || op == "unprotect") {
                if (op == "unprotect")
                    for (const auto& [spec, v] : vols)
                        if (v.parent == last) return refuse("unprotecting snap failed: (16) Device or resource busy");
                s->is_protected = op == "protect";
                return {};
            }
            if (op == "rm") {
                if (s->is_protected) return refuse("snapshot '" + name + "' is protected from removal.");
                snaps.erase(snaps.begin() + (s - snaps.data()));
                return {};
            }
            if (op == "rollback") return {};  // (the data is not modelled)
        }
        if (cmd({"info"}) && last.find('@') != std::string::npos) {  // a snapshot's: its image's, and "protected"
            Snap* s = snap_of(last);
            if (!s) return {2, "", "rbd: error setting snapshot context: (2) No such file or directory\n"};
            Result r = respond({"rbd", "info", "--format", "json", split(last, '@').first});
            r.out.insert(r.out.rfind('}'), std::string(R"(,"protected":")") + (s->is_protected ? "true" : "false") + "\"");
            return r;
        }
        if ((cmd({"info"}) || cmd({"rm"}) || cmd({"flatten"}) || (sized && a[1] == "resize")) && !vols.count(last))
            return enoent(last);
        if (cmd({"info"})) {
            const Volume& v = vols.at(last);
            std::string parent;
            if (!v.parent.empty()) {
                auto [img, snap] = split(v.parent, '@');
                parent = R"(,"parent":{"pool":)" + q(split(img, '/').first) + R"(,"pool_namespace":"","image":)" +
                         q(split(img, '/').second) + R"(,"snapshot":)" + q(snap) + R"(,"trash":false,"overlap":)" +
                         std::to_string(v.size) + "}";
            }
            return {0,
                    R"({"name":)" + q(split(last, '/').second) + R"(,"size":)" + std::to_string(v.size) +
                        R"(,"objects":1,"order":22,"object_size":4194304,"snapshot_count":)" + std::to_string(v.snaps.size()) +
                        R"(,"format":2,"features":["layering"])" + parent + "}\n",
                    ""};
        }
        if (cmd({"rm"})) {
            if (!vols.at(last).snaps.empty()) return refuse("image has snapshots - not removing");
            vols.erase(last);
            return {};
        }
        if (cmd({"flatten"})) return vols.at(last).parent.clear(), Result{};
        if (cmd({"trash", "move"})) return vols.erase(last) ? Result{} : enoent(last);  // (the trash is not modelled)
        if (sized && a[1] == "resize") return vols.at(last).size = size(), Result{};
        return refuse("the test's cluster has no answer to: " + render(argv));
    }
};

// The image variants of ceph's DS cases (World::image_case).
const char* const kImageCases[] = {"md5", "qcow2", "ext4", "swap"};

// One scratch world per case: the datastores, the lock dir, a context file (and for ceph a cluster).
struct World {
    // On tmpfs where there is one with room (the actions fsync everything, and the whole set
    // must stay fast; the kept set-ups take ~150 MiB): a container's /dev/shm is 64 MiB.
    static fs::path scratch() {
        static const fs::path p = [] {
            struct statvfs sv {};
            bool room =
                ::statvfs("/dev/shm", &sv) == 0 && static_cast<unsigned long long>(sv.f_bavail) * sv.f_frsize >= (1ULL << 30);
            return room && fs::is_directory("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
        }();
        return p;
    }
    fs::path root = scratch() / ("onestor-golden-" + std::to_string(getpid()));
    std::string ds = (root / "datastores").string();
    std::string driver;         // the TM driver of the case (the VM's disks and system datastore)
    bool bridges = false;       // the image datastore names BRIDGE_LIST hosts
    bool persistent = false;    // the VM's disk 0 is its persistent image (ln, mvds)
    bool thick = false;         // the VM's disk 0 says SPARSE=NO and grows (SIZE 2 > ORIGINAL_SIZE 1)
    bool ceph = false;          // driver "ceph": images are RBD volumes of `cluster`, the datastores name its pool
    bool other_format = false;  // shared's disk a qcow2 image, qcow2's a raw one (a 6.2+ caller's one driver)
    std::string image_case;     // ceph's DS cp and mkfs: another source or content (kImageCases)
    std::string image_tmpl;     // the image's TEMPLATE
    mutable CephCluster cluster;
    Config saved = config();

    explicit World(std::string tm) : driver(std::move(tm)), ceph(driver == "ceph") {
        fs::remove_all(root);
        for (const char* d : {"datastores/0", "datastores/1", "lock", "context", "src", "remotes"})
            fs::create_directories(root / d);
        // The images: a raw one and a qcow2 one (made once by qemu-img, copied per case).
        write(ds + "/1/raw", std::string(4096, 'r'), 1 << 20);  // 1 MiB, sparse: cheap to copy per case
        fs::create_directories(ds + "/1/raw.snap");             // (the image's snapshot 0, for the DS snap_* actions)
        write(ds + "/1/raw.snap/0", std::string(4096, 's'), 1 << 20);
        fs::copy_file(qcow2_template(), ds + "/1/qcow2");
        write(root.string() + "/src/upload.raw", std::string(1 << 16, 'u'));
        write(root.string() + "/context/init.sh", "echo hi\n");
        Config c = Config::from_text("DATASTORE_LOCATION=" + ds + "\nLOCK_DIR=" + (root / "lock").string() +
                                     "\nFRONTEND=frontend\nREMOTE_ONESTOR=" + kRemoteOnestor +
                                     "\nREMOTES_DIR=" + (root / "remotes").string() + "\nLOCK_TIMEOUT=5\n");
        config() = c;
        // The image, as a DS cp left it in the pool (1 MiB, as the raw file).
        if (ceph) cluster.vols["one/one-3"] = {};
    }
    ~World() {
        Host::close_all();
        config() = saved;
        fs::remove_all(root);
    }
    static std::string qcow2_template() {
        static std::string p = [] {
            std::string t = (scratch() / ("onestor-golden-qcow2-" + std::to_string(getpid()))).string();
            spawn({"qemu-img", "create", "-q", "-f", "qcow2", t, "1M"}, {});
            return t;
        }();
        return p;
    }
    static void write(const std::string& p, const std::string& data, std::uintmax_t size = 0) {
        {
            std::ofstream f(p, std::ios::binary);
            f << data;
        }
        if (size > data.size()) fs::resize_file(p, size);
    }
    std::string format() const { return (driver == "qcow2") != other_format ? "qcow2" : "raw"; }
    std::string image() const { return ceph ? "one/one-3" : ds + "/1/" + format(); }
    // What oned copies into a ceph datastore's template and its VM disks: the pool, the user.
    std::string ceph_attrs() const { return ceph ? "<POOL_NAME>one</POOL_NAME><CEPH_USER>oneadmin</CEPH_USER>" : ""; }
    std::string ds_mad() const { return ceph ? "ceph" : "fs"; }

    // ceph's volatile disks are RBD volumes: mkimage's (a file system made on it) and mkswap's.
    std::string volatile_disks() const {
        if (!ceph) return "";
        return "<DISK><DISK_ID>2</DISK_ID><TYPE>fs</TYPE><FS>ext4</FS><SIZE>16</SIZE><FORMAT>raw</FORMAT><TM_MAD>ceph</TM_MAD>" +
               ceph_attrs() + "</DISK><DISK><DISK_ID>3</DISK_ID><TYPE>swap</TYPE><SIZE>16</SIZE><TM_MAD>ceph</TM_MAD>" +
               ceph_attrs() + "</DISK>";
    }
    std::string vm_xml() const {
        return "<VM><ID>5</ID><NAME>vm5</NAME><STATE>3</STATE><LCM_STATE>3</LCM_STATE><DEPLOY_ID>one-5</DEPLOY_ID><TEMPLATE>"
               "<DISK><DISK_ID>0</DISK_ID><CLONE>" +
               std::string(persistent ? "NO" : "YES") + "</CLONE><SOURCE>" + image() + "</SOURCE><SIZE>" +
               (thick ? "2</SIZE><SPARSE>NO</SPARSE>" : "1</SIZE>") + "<ORIGINAL_SIZE>1</ORIGINAL_SIZE><FORMAT>" + format() +
               "</FORMAT><DRIVER>" + format() + "</DRIVER><TM_MAD>" + driver +
               "</TM_MAD><TARGET>vda</TARGET><DATASTORE_ID>1</DATASTORE_ID><IMAGE_ID>3</IMAGE_ID>" + ceph_attrs() + "</DISK>" +
               volatile_disks() +
               "</TEMPLATE><HISTORY_RECORDS><HISTORY><OID>5</OID><SEQ>0</SEQ><HOSTNAME>host01</HOSTNAME>"
               "<TM_MAD>" +
               driver + "</TM_MAD><DS_ID>0</DS_ID></HISTORY></HISTORY_RECORDS></VM>";
    }
    std::string ds_xml(const std::string& id) const {
        return "<DATASTORE><ID>" + id + "</ID><NAME>ds" + id + "</NAME><DS_MAD>" + ds_mad() + "</DS_MAD><TM_MAD>" + driver +
               "</TM_MAD><BASE_PATH>" + ds + "/" + id + "</BASE_PATH><TYPE>" + (id == "0" ? "1" : "0") +
               "</TYPE><TEMPLATE><TM_MAD>" + driver + "</TM_MAD>" + ceph_attrs() + "</TEMPLATE></DATASTORE>";
    }
    std::string dump(const std::string& image_xml, const std::string& ds_id = "1") const {
        return b64("<DS_DRIVER_ACTION_DATA>" + image_xml + "<DATASTORE><ID>" + ds_id + "</ID><NAME>ds</NAME><DS_MAD>" + ds_mad() +
                   "</DS_MAD>"
                   "<TM_MAD>" +
                   driver + "</TM_MAD><BASE_PATH>" + ds + "/" + ds_id + "</BASE_PATH><TYPE>" + (ds_id == "0" ? "1" : "0") +
                   "</TYPE><DISK_TYPE>" + (ceph ? "3" : "0") + "</DISK_TYPE><TEMPLATE><DS_MAD>" + ds_mad() + "</DS_MAD><TM_MAD>" +
                   driver + "</TM_MAD><SAFE_DIRS>" + root.string() + "/src</SAFE_DIRS>" + ceph_attrs() +
                   (bridges || ceph ? "<BRIDGE_LIST>host01 host02</BRIDGE_LIST>" : "") +
                   "</TEMPLATE></DATASTORE></DS_DRIVER_ACTION_DATA>");
    }
    std::string image_xml(const std::string& source, const std::string& path, const std::string& extra = "") const {
        return std::string(
                   "<IMAGE><ID>3</ID><UID>0</UID><GID>0</GID><UNAME>oneadmin</UNAME><GNAME>oneadmin</GNAME>"
                   "<NAME>img3</NAME><TYPE>0</TYPE><DISK_TYPE>") +
               (ceph ? "3" : "0") + "</DISK_TYPE><PERSISTENT>1</PERSISTENT><SOURCE>" + source + "</SOURCE><PATH>" + path +
               "</PATH><FSTYPE></FSTYPE><FORMAT>" + format() + "</FORMAT><SIZE>1</SIZE><STATE>4</STATE>" + extra +
               "<DATASTORE_ID>1</DATASTORE_ID><DATASTORE>default</DATASTORE><TEMPLATE>" + image_tmpl + "</TEMPLATE></IMAGE>";
    }

    mutable std::map<std::string, std::string> lvs;  // name -> its thin pool ("": linear; "*": a pool)
    std::optional<Result> coreutils(const Argv& a) const;
    Result lvm(const Argv& a) const;
    std::optional<Result> stream(const Command& c) const;

    // The hosts' answers: canned where a hypervisor, a SAN or oned would answer; else the
    // command runs here on the scratch tree (the storage every host shares).
    std::optional<Result> respond(const std::string& host, const Argv& a) const {
        const std::string& p = a.front();
        if (host.empty() && p == "onevm") return Result{0, vm_xml(), ""};
        if (host.empty() && p == "onedatastore") return Result{0, ds_xml(a.back()), ""};
        if (ceph && !host.empty() && (p == "rbd" || p == "ceph")) return cluster.respond(a);
        if (p == "sh" && a.size() > 5 && a[2] == scripts::kQuiesced) {  // the command after n virsh words and the domain
            size_t n = std::stoul(a[4]);
            auto r = respond(host, Argv(a.begin() + static_cast<long>(6 + n), a.end()));
            if (r && r->status == 0) r->out = "frozen\n";
            return r;
        }
        bool unwatched = p == "sh" && a.size() > 5 && a[2] == scripts::kAnswerUnwatched;  // (after its $1)
        if (unwatched || (p == "sh" && a.size() > 4 && a[2] == scripts::kAnswer)) {
            auto r = respond(host, Argv(a.begin() + (unwatched ? 5 : 4), a.end()));  // the script's answer
            if (!r) return r;
            return Result{0, r->status == 0 ? r->out : r->out + "\nexit " + std::to_string(r->status) + "\n" + r->err, ""};
        }
        if (ceph && !host.empty() && p == "sh" && a.size() > 4 && a[2] == scripts::kMd5Of && a[4] == "rbd")  // an export's MD5
            return Result{0, "d41d8cd98f00b204e9800998ecf8427e  -\n", ""};
        if (p == kRemoteOnestor && a.size() > 2 && a[1] == "bridge") {  // a BRIDGE_LIST host's answer
            if (a[2] == "cp" || a[2] == "mkfs" || a[2] == "clone") return Result{0, ds + "/1/bridged\nraw\n", ""};
            if (a[2] == "monitor") return Result{0, "100\n200\n100\n", ""};
            if (a[2] == "export") return Result{0, ds + "/1/raw\n" + std::string(32, 'a') + "\nraw\n1\n", ""};
            return Result{};
        }
        if (p == kRemoteOnestor || p == self_exe()) return Result{};
        if (a.size() >= 3 && p == "test" && a[2] == kRemoteOnestor) return Result{};  // onestor is installed there
        if (std::find(a.begin(), a.end(), "convert") != a.end() && a.back().rfind(root.string(), 0) == 0)
            write(a.back(), "");  // an LV written back into an image file: the file appears
        for (const auto& w : a)   // (a link to a volume is made all the same)
            if (w.rfind("/dev/", 0) == 0 && w.rfind(root.string(), 0) != 0 && p != "ln") return Result{};
        if (p == "sudo") return lvm(Argv(a.begin() + 2, a.end()));
        if (p == "virsh") {  // a blockcopy's destination appears, as libvirt makes it
            auto dest = std::find(a.begin(), a.end(), "--dest");
            if (std::find(a.begin(), a.end(), "blockcopy") != a.end() && dest != a.end() && dest + 1 != a.end())
                write(*(dest + 1), "");
            return Result{};
        }
        if (p == "blkdiscard") return Result{};
        // put_file's size check: this world's dd is not given the data (the recorder drains it).
        if (p == "sh" && a.size() > 2 && a[2].find("incomplete") != std::string::npos) return Result{};
        if (p == "sh" && a.size() > 2 && a[2].find("HOST_TO_HOST") != std::string::npos) return Result{};
        if (host.empty()) return std::nullopt;
        if (auto r = coreutils(a)) return r;
        Result r = spawn(a, {.check = false});
        if (std::getenv("ONESTOR_GOLDEN_DEBUG"))
            std::fprintf(stderr, "golden: %s -> %d %s\n", render(a).c_str(), r.status, r.err.c_str());
        return r;
    }
};

// The file primitives a host's batch is made of (Host's *_step), done here with the syscalls
// GNU coreutils makes for those exact words: the set spawns ~900 of them otherwise, and must
// stay fast. Any other form runs the real program.
std::optional<Result> World::coreutils(const Argv& a) const {
    auto fail = [](const std::string& why) { return Result{1, "", why + "\n"}; };
    auto is = [&](std::initializer_list<const char*> words) {
        return a.size() == words.size() + 1 && std::equal(words.begin(), words.end(), a.begin());
    };
    const std::string& last = a.back();
    std::error_code ec;
    auto present = [&](const std::string& p) { return fs::exists(fs::symlink_status(p, ec)); };
    if (is({"sync", "--"}))
        return present(last) ? Result{} : fail("sync: error opening '" + last + "': No such file or directory");
    if (is({"mkdir", "-p", "--"})) return fs::create_directories(last, ec), ec ? fail("mkdir: " + ec.message()) : Result{};
    if (is({"rm", "-rf", "--"})) return fs::remove_all(last, ec), Result{};
    // (a word of the pattern taken from `a` itself is only read where `a` is that long)
    if (a.size() == 5 && is({"ln", "-s", "--", a[3].c_str()}))
        return fs::create_symlink(a[3], last, ec),
               ec ? fail("ln: failed to create symbolic link '" + last + "': " + ec.message()) : Result{};
    if ((a.size() == 5 && is({"mv", "-T", "--", a[3].c_str()})) ||
        (a.size() == 6 && is({"mv", "-T", "--no-clobber", "--", a[4].c_str()}))) {
        if (a[2] == "--no-clobber" && present(last)) return Result{};  // (silently, as GNU mv does)
        fs::rename(a[a.size() - 2], last, ec);
        return ec ? fail("mv: cannot stat '" + a[a.size() - 2] + "': " + ec.message()) : Result{};
    }
    if (a.size() == 6 && a[0] == "test" && a[1] == "-e" && a[3] == "-o" && a[4] == "-L")
        return present(a[2]) ? Result{} : fail("");
    if (a.size() == 8 && a[0] == "test" && a[1] == "!" && a[2] == "-e" && a[4] == "-a")
        return present(a[3]) ? fail("") : Result{};
    if (a.size() == 7 && a[0] == "test" && a[1] == "-d" && a[4] == "!")
        return fs::is_directory(fs::symlink_status(a[2], ec)) ? Result{} : fail("");
    if (a[0] == "readlink" && a.size() >= 3 && a[a.size() - 2] == "--") {
        if (a.size() == 4 && a[1] == "-e") {
            auto c = fs::canonical(last, ec);
            return ec ? fail("") : Result{0, c.string() + "\n", ""};
        }
        auto t = fs::read_symlink(last, ec);
        if (ec) return fail("");
        return Result{0, t.string() + (a[1] == "-n" ? "" : "\n"), ""};
    }
    return std::nullopt;
}

// The SAN: the volumes lvcreate made (each 16 MiB, active; linear, thin pools, thin volumes
// and their snapshots), renamed and removed as told, and a group with room; other LVM
// commands succeed.
Result World::lvm(const Argv& a) const {
    auto after = [&](const char* w) {
        auto it = std::find(a.begin(), a.end(), w);
        return it == a.end() || it + 1 == a.end() ? std::string() : *(it + 1);
    };
    auto name = [](const std::string& spec) { return spec.substr(spec.find('/') + 1); };
    if (a.front() == "lvs") {
        std::string out;
        for (const auto& [n, pool] : lvs)
            out += "  " + n + "|16777216|" +
                   (pool == "*"    ? "twi-a-tz--"
                    : pool.empty() ? "-wi-a-----"
                                   : "Vwi-a-tz--") +
                   "|" + (pool == "*" ? "" : pool) + "\n";
        return {0, out, ""};
    }
    if (a.front() == "vgs") return {0, "  10240.00|8192.00\n", ""};
    if (a.front() == "lvcreate" && !after("-n").empty()) {
        std::string pool = after("--type") == "thin-pool" ? "*" : name(after("-T"));
        if (std::find(a.begin(), a.end(), "-s") != a.end() && lvs.count(name(a.back()))) pool = lvs.at(name(a.back()));
        lvs[after("-n")] = pool;
    }
    if (a.front() == "lvrename" && a.size() >= 3 && lvs.count(a[a.size() - 2])) {
        lvs[a.back()] = lvs.at(a[a.size() - 2]);
        lvs.erase(a[a.size() - 2]);
    }
    if (a.front() == "lvremove") lvs.erase(name(a.back()));
    return {};
}

// A stream from one host to another (onestor send | onestor receive): the storage is one
// tree here, so the data is copied when source and target differ.
std::optional<Result> World::stream(const Command& c) const {
    // (a receiver may be wrapped, e.g. in the script that writes a datastore's .monitor first)
    if (c.argv.size() < 3 || c.argv[1] != "send" || std::find(c.pipe_to.begin(), c.pipe_to.end(), "receive") == c.pipe_to.end())
        return Result{};
    const std::string &src = c.argv[2], &dst = c.pipe_to.back();
    if (src == dst) return Result{};
    fs::create_directories(fs::path(dst).parent_path());  // (the receiver makes the directory)
    spawn({"cp", "-a", "-T", "--", src, dst}, {.check = false});
    return Result{};
}

// Names that differ from run to run, made stable: the scratch root, temp suffixes, random tokens, our own binary.
std::string normalize(std::string text, const World& w) {
    auto replace_all = [&](const std::string& from, const std::string& to) {
        for (size_t i = 0; (i = text.find(from, i)) != std::string::npos; i += to.size()) text.replace(i, from.size(), to);
    };
    replace_all(w.ds, kShownDs);
    replace_all(w.root.string(), "/SCRATCH");
    replace_all(self_exe(), "onestor");
    text = std::regex_replace(text, std::regex("/[0-9a-f]{32}"), "/NEW_SOURCE");
    text = std::regex_replace(text, std::regex("(USED_MB|TOTAL_MB|FREE_MB)=[0-9]+"), "$1=N");
    text = std::regex_replace(text, std::regex(R"(\.onestor-migrate\.[0-9a-f]{16})"), ".onestor-migrate.TOKEN");
    // put_file's size check: a file naming the scratch root is as long as its pid's digits
    text = std::regex_replace(text, std::regex(R"((incomplete" >&2; exit 1; \}' sh \S+) [0-9]+)"), "$1 SIZE");
    std::regex tmp(R"(\.onestor-tmp\.[0-9]+\.[0-9a-f]{8})");
    std::map<std::string, int> seen;
    std::string out;
    auto it = std::sregex_iterator(text.begin(), text.end(), tmp);
    size_t last = 0;
    for (; it != std::sregex_iterator(); ++it) {
        out += text.substr(last, it->position() - last);
        auto [s, fresh] = seen.emplace(it->str(), static_cast<int>(seen.size()) + 1);
        out += ".onestor-tmp.T" + std::to_string(s->second);
        last = it->position() + it->length();
    }
    return out + text.substr(last);
}

// argv of an action as oned sends it (after the program name), for the case's world.
Argv action_args(const World& w, Kind kind, const std::string& action) {
    const std::string vm = w.ds + "/0/5", disk = vm + "/disk.0";
    const Action* a = Registry::find(kind, action);
    if (a && a->args.size() == 1 && a->args[0].kind == ArgKind::Unread) return {};  // (answers "not supported")
    if (kind == Kind::Ds) {
        std::string img = w.image_xml(w.ds + "/1/raw", "");
        if (action == "cp") img = w.image_xml("", w.root.string() + "/src/upload.raw");
        if (action == "mkfs") img = w.image_xml("", "", "<FS></FS>");
        if (action == "clone") img = w.image_xml("", w.ds + "/1/raw");
        if (action == "stat") img = w.image_xml("", w.root.string() + "/src/upload.raw");
        if (action.rfind("snap_", 0) == 0) img = w.image_xml(w.ds + "/1/raw", "", "<TARGET_SNAPSHOT>0</TARGET_SNAPSHOT>");
        if (action == "monitor") return {w.dump(""), "1"};
        if (w.ceph) {  // the image is one/one-3; a new one (cp, mkfs, clone of one-3) is one/one-4
            if (action == "clone") img = w.image_xml("one/one-3", "", "<CLONING_ID>3</CLONING_ID>");
            if (action == "rm" || action == "export" || action.rfind("snap_", 0) == 0)
                img = w.image_xml("one/one-3", "", action == "rm" ? "" : "<TARGET_SNAPSHOT>0</TARGET_SNAPSHOT>");
            if (action == "cp" && w.image_case == "qcow2") {  // (a qcow2 file: converted to raw)
                std::string q = w.root.string() + "/src/upload.qcow2";
                fs::copy_file(World::qcow2_template(), q, fs::copy_options::overwrite_existing);
                img = w.image_xml("", q);
            }
            if (action == "mkfs" && w.image_case == "ext4") img = w.image_xml("", "", "<FS>ext4</FS>");
            if (action == "mkfs" && w.image_case == "swap") {
                img = w.image_xml("", "");
                img.replace(img.find("<FSTYPE></FSTYPE>"), 17, "<FSTYPE>swap</FSTYPE>");
            }
            if (action == "cp" || action == "mkfs" || action == "clone") return {w.dump(img), "4"};
        }
        return {w.dump(img), "3"};
    }
    const std::string tmpl = b64(w.vm_xml());
    if (action == "clone" || action == "ln") return {"frontend:" + w.image(), "host01:" + disk, "5", "1"};
    // (oned names an RBD image of mvds and cpds by its SOURCE alone, as test_ceph.sh does)
    if (action == "mvds") return {"host01:" + disk, w.ceph ? w.image() : "frontend:" + w.image(), "5", "1"};
    if (action == "cpds") return {"host01:" + disk, w.ceph ? "one/one-4" : "frontend:" + w.ds + "/1/saved", "-1", "5", "1"};
    if (action == "mv") return {"host01:" + vm, "host02:" + vm, "5", "0"};
    if (action == "delete")
        return w.ceph ? Argv{"host01:" + disk, "5", "1"} : Argv{"host01:" + vm, "5", "0"};  // (ceph: the clone)
    if (action == "resize") return {"host01:" + disk, "16", "5", "1"};
    if (action == "activate") return {};
    if (action == "premigrate" || action == "postmigrate" || action == "failmigrate")
        return {"host01", "host02", vm, "5", "0", tmpl};
    if (action == "monitor_ds") return {w.ds + "/0"};
    if (action == "monitor") return {w.dump("", "0"), "0"};
    if (action.rfind("snap_", 0) == 0) return {"host01:" + disk, "1", "5", "1"};  // (0: the image's own, copied by ssh)
    if (action == "context") return {w.root.string() + "/context/init.sh", "host01:" + vm + "/disk.1", "5", "0"};
    if (action == "mkimage") return {"16", "raw", "host01:" + vm + "/disk.2", "5", "0"};
    if (action == "mkswap") return {"16", "host01:" + vm + "/disk.3", "5", "0"};
    FAIL("no arguments known for tm action " << action << ": add them to action_args");
    return {};
}

// What an action needs to find before it runs (made by the driver's own actions, unrecorded).
std::vector<std::string> setup_of(Kind kind, const std::string& driver, const std::string& action) {
    if (kind == Kind::Ds) return {};
    // (a ceph clone is an RBD volume: the VM directory mv moves holds the context ISO)
    if (driver == "ceph" && action == "mv") return {"clone", "context"};
    if (action == "mvds") return {"ln"};
    if (action == "snap_delete" || action == "snap_revert") return {"clone", "snap_create"};
    if (action == "clone" || action == "ln" || action == "context" || action == "mkimage" || action == "mkswap" ||
        action == "monitor" || action == "monitor_ds")
        return {};
    return {"clone"};
}

// A readable difference: the first differing line with a little context.
std::string diff(const std::string& want, const std::string& got) {
    auto lines = [](const std::string& s) {
        std::vector<std::string> v;
        std::istringstream in(s);
        for (std::string l; std::getline(in, l);) v.push_back(l);
        return v;
    };
    auto a = lines(want), b = lines(got);
    size_t i = 0;
    while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
    std::ostringstream o;
    o << "first difference at line " << i + 1 << ":\n";
    for (size_t k = i; k < std::min(a.size(), i + 6); ++k) o << "- " << a[k] << "\n";
    for (size_t k = i; k < std::min(b.size(), i + 6); ++k) o << "+ " << b[k] << "\n";
    return o.str();
}

struct Outcome {
    std::string text;  // the golden file's content
    std::map<std::string, int> remote;
    bool dry_whole = false;  // the dry run's plan is the whole of the golden file (else it ends early)
};

// Everything a case can change: the scratch tree (names, types, modes, contents, link
// targets) and the world's volumes (LVM, Ceph).
std::string fingerprint(const World& w) {
    std::ostringstream o;
    std::vector<fs::path> all;
    for (const auto& e : fs::recursive_directory_iterator(w.root)) all.push_back(e.path());
    std::sort(all.begin(), all.end());
    for (const auto& p : all) {
        struct stat st {};
        ::lstat(p.c_str(), &st);
        o << p.string() << " " << std::oct << st.st_mode << std::dec << " " << st.st_size;
        if (S_ISLNK(st.st_mode)) o << " -> " << fs::read_symlink(p).string();
        if (S_ISREG(st.st_mode)) {
            std::ifstream f(p, std::ios::binary);
            std::string data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
            o << " " << std::hash<std::string>{}(data);
        }
        o << "\n";
    }
    for (const auto& [n, pool] : w.lvs) o << "lv " << n << " " << pool << "\n";
    for (const auto& [n, v] : w.cluster.vols) {
        o << "rbd " << n << " " << v.size << " " << v.parent;
        for (const auto& sn : v.snaps) o << " @" << sn.id << ":" << sn.name << (sn.is_protected ? "p" : "");
        o << "\n";
    }
    return o.str();
}

void dispatch(Kind kind, const std::string& driver, const std::string& full_action, const Argv& args) {
    Argv argv = {"onestor", kind == Kind::Ds ? "ds" : "tm", driver, full_action};
    argv.insert(argv.end(), args.begin(), args.end());
    cli::Parsed p = cli::parse(argv);
    const Action* a = Registry::find(p.inv.kind, p.inv.action);
    REQUIRE(a != nullptr);
    const TmTable* tm = kind == Kind::Tm ? find_tm_backend(driver) : nullptr;  // (its image words, as main.cpp reads them)
    Call call{p.inv,
              Args::parse(
                  a->args, p.inv.args, p.inv.full_action(), [] { return std::string(); }, tm && tm->rbd_images),
              {}};
    a->run(call);
    if (!call.out.empty()) throw std::string(call.out);  // (carried out as the action's stdout)
}

// How the action ended, as the golden file's last line says it.
std::string outcome(Kind kind, const std::string& driver, const std::string& full_action, const Argv& args) {
    std::string result;
    try {
        dispatch(kind, driver, full_action, args);
        result = "ok";
    } catch (const std::string& out) {
        result = "ok, prints: " + out.substr(0, out.find_last_not_of('\n') + 1);
    } catch (const DriverError& e) {
        result = std::string("error: ") + e.what();
    }
    Host::close_all();
    return result;
}

Outcome run_case(Kind kind, const std::string& driver, const std::string& action, const std::string& suffix,
                 const std::string& mode) {
    World w(kind == Kind::Ds && driver != "ceph" ? "shared" : driver);
    // The DS snap_* actions' snapshot 0 of the (persistent) image, protected as a TM
    // snap_create of its disk leaves it.
    if (kind == Kind::Ds && w.ceph) w.cluster.vols["one/one-3"].snaps.push_back({3, "0", true});
    if (mode == "warm") w.cluster.vols["one/one-3"].snaps.push_back({3, "snap", true});  // (an earlier clone's)
    if (mode == "thin") config().set("LVM_THIN_ENABLE", "yes");
    if (mode == "trash") config().set("CEPH_TRASH", "yes");
    // A caller release (its profile) for actions whose commands differ by release.
    struct Caller {
        protocol::Profile saved = protocol::current_profile();
        ~Caller() { protocol::current_profile() = saved; }
    } caller;
    if (mode == "7.4") protocol::current_profile() = protocol::profile_named("7");
    w.bridges = mode == "bridge";
    w.thick = mode == "thick";
    w.other_format = mode == "7.4" && (driver == "shared" || driver == "qcow2");
    if (std::find(std::begin(kImageCases), std::end(kImageCases), mode) != std::end(kImageCases)) w.image_case = mode;
    if (mode == "md5") w.image_tmpl = "<MD5>568ef34e181a6f82402dc7629eccba6a</MD5>";  // upload.raw's: checked in the pipeline
    w.persistent = action == "ln" || action == "mvds";
    test::Recorder rec([&w](const std::string& h, const Argv& a) { return w.respond(h, a); },
                       [&w](const Command& c) { return w.stream(c); });
    std::string full = suffix.empty() ? action : action + "." + suffix;
    // The set-up: the driver's own actions, unrecorded; its result is kept and copied in
    // for the next case that needs the same one (it costs more than the case itself).
    struct Kept {
        fs::path dir;
        std::map<std::string, std::string> lvs;
        CephCluster cluster;
    };
    static std::map<std::string, Kept> made;
    std::string key = driver + "." + suffix + "+" + mode + (w.persistent ? ".p" : "");
    for (const auto& s : setup_of(kind, driver, action)) key += "+" + s;
    fs::path cache = w.root.string() + "-setup-" + std::to_string(made.size());
    if (auto it = made.find(key); it != made.end() && fs::exists(it->second.dir)) {
        fs::remove_all(w.ds);
        fs::copy(it->second.dir, w.ds, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
        w.lvs = it->second.lvs;
        w.cluster = it->second.cluster;
    } else if (!setup_of(kind, driver, action).empty()) {
        rec.recording = false;
        for (const auto& s : setup_of(kind, driver, action)) {
            try {
                dispatch(kind, driver, suffix.empty() ? s : s + "." + suffix, action_args(w, kind, s));
            } catch (const DriverError& e) {
                // A set-up that fails leaves the case to record an error of the world, not of
                // the action (how ssh's snapshot goldens once recorded a missing disk).
                // (A set-up the driver does not support, e.g. fs_lvm's linear snapshots: the
                // case then records the action's own answer to that.)
                std::string why = e.what();
                if (why.find("not supported") == std::string::npos) FAIL_CHECK("the set-up action " << s << " failed: " << why);
            } catch (const std::string&) {  // (it printed something: fine)
            }
            Host::close_all();
        }
        rec.recording = true;
        fs::copy(w.ds, cache, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
        made[key] = {cache, w.lvs, w.cluster};
    }
    Argv args = action_args(w, kind, action);
    // The same call as a dry run first (dry_run.hpp): it must change nothing, and list the
    // commands the recorded run below sends, up to where the plan ends.
    std::vector<std::string> plan;
    std::string dry_result;
    {
        std::string before = fingerprint(w);
        rec.recording = false;  // (its questions are answered, not recorded)
        {
            dry_run::Session dry;
            dry_result = outcome(kind, driver, full, args);
            if (dry.changed() && dry_result.rfind("error: ", 0) == 0) dry_result = "ends: " + dry_result.substr(7);
            plan = dry.plan();
        }
        rec.recording = true;
        CHECK_MESSAGE(fingerprint(w) == before, "the dry run changed the world");
    }
    std::string result = outcome(kind, driver, full, args);
    // The plan's in-process notes left out, but a command the front-end runs as a step of a
    // local batch (the dry run notes it in-process, e.g. mkfs on a staging file): as recorded.
    {
        const std::string here = "frontend, in-process: ";
        std::vector<std::string> kept;
        for (const auto& l : plan) {
            if (l.rfind(here, 0) != 0) {
                kept.push_back(l);
                continue;
            }
            std::string run = normalize("frontend: " + l.substr(here.size()), w);  // (its temp names its own)
            if (std::any_of(rec.log.begin(), rec.log.end(), [&](const std::string& r) { return normalize(r, w) == run; }))
                kept.push_back("frontend: " + l.substr(here.size()));
        }
        plan = std::move(kept);
    }
    std::ostringstream o;
    o << "# " << (kind == Kind::Ds ? "datastore " : "tm ") << driver << " " << full;
    if (!mode.empty())
        o << (mode == "thin"          ? " (LVM_THIN_ENABLE=yes)"
              : mode == "bridge"      ? " (BRIDGE_LIST=host01 host02)"
              : mode == "thick"       ? " (disk SPARSE=NO, SIZE 2 > ORIGINAL_SIZE 1)"
              : mode == "trash"       ? " (CEPH_TRASH=yes)"
              : mode == "warm"        ? " (the image's @snap made by an earlier clone)"
              : !w.image_case.empty() ? " (the image: " + mode + ")"
                                      : " (a " + mode + " caller)");
    for (const auto& x : args) o << " " << (x.size() > 100 ? std::string("<base64>") : x);
    o << "\n# remote commands per host:";
    if (rec.remote.empty()) o << " none";
    for (const auto& [h, n] : rec.remote) o << " " << h << "=" << n;
    o << "\n";
    for (const auto& l : rec.log) o << l << "\n";
    o << "# " << result << "\n";
    // The plan, and the recorded commands up to its end, after the same renaming of temps.
    auto text_of = [&w](const std::vector<std::string>& lines, size_t n) {
        std::string t;
        for (size_t i = 0; i < std::min(n, lines.size()); ++i) t += lines[i] + "\n";
        return normalize(t, w);
    };
    bool ended = dry_result.rfind("ends: ", 0) == 0;
    if (!ended) {
        CHECK_MESSAGE(normalize(dry_result, w) == normalize(result, w), "the dry run ended otherwise: " << dry_result);
        CHECK_MESSAGE(text_of(plan, plan.size()) == text_of(rec.log, rec.log.size()),
                      "the dry run's plan differs:\n"
                          << diff(text_of(rec.log, rec.log.size()), text_of(plan, plan.size())));
    } else {
        // It ends at a question after a change: the commands before it are the same.
        size_t n = plan.size();
        CHECK_MESSAGE(text_of(plan, n) == text_of(rec.log, n), "the dry run's plan differs:\n"
                                                                   << diff(text_of(rec.log, n), text_of(plan, n)));
        MESSAGE("dry run of " << full << " (" << driver << "): " << dry_result);
    }
    return {normalize(o.str(), w), rec.remote, !ended};
}

struct Target {
    Kind kind;
    std::string driver, action, suffix;
    std::string mode = "";  // "thin": fs_lvm with LVM_THIN_ENABLE=yes; "bridge": fs with BRIDGE_LIST; "7.4": a 7.4 caller;
                            // "trash": ceph with CEPH_TRASH=yes
    std::string path() const {
        return std::string(kind == Kind::Ds ? "datastore/" : "tm/") + driver + "/" + action +
               (suffix.empty() ? "" : "." + suffix) + (mode.empty() ? "" : "+" + mode) + ".argv";
    }
};

// Every registered action of every driver, and each variant a driver declares. (ceph's
// commands go to the world's CephCluster, a model of the answers the drivers read;
// test_ceph.sh asserts them against a real cluster.)
std::vector<Target> every_action() {
    std::vector<Target> t;
    for (const auto& a : Registry::all()) {
        if (a.kind == Kind::Ds)
            for (auto* b : ds_backends()) t.push_back({Kind::Ds, b->name, a.name, ""});
        if (a.kind == Kind::Tm)
            for (auto* b : tm_backends()) t.push_back({Kind::Tm, b->name, a.name, ""});
    }
    for (auto* b : tm_backends())
        for (const auto& [entry, primitive] : b->ops)
            if (auto dot = entry.find('.'); dot != std::string::npos)
                t.push_back({Kind::Tm, b->name, entry.substr(0, dot), entry.substr(dot + 1)});
    // ssh's live migration with local disks, as 6.0+ callers have it (the VMM copies the disks).
    for (const char* a : {"premigrate", "postmigrate", "failmigrate"}) t.push_back({Kind::Tm, "ssh", a, "", "7.4"});
    // fs with BRIDGE_LIST: each action (but stat, which reads the front-end's PATH) on a bridge host.
    for (const auto& [entry, primitive] : find_ds_backend("fs")->ops)
        if (entry != "stat") t.push_back({Kind::Ds, "fs", entry, "", "bridge"});
    // 6.2+ callers' shared and qcow2: one driver, each disk by its format (shared_qcow2.cpp):
    // shared given a qcow2 image, qcow2 a raw one, do what the other name does for 5.x callers.
    for (const char* d : {"shared", "qcow2"})
        for (const char* a :
             {"clone", "ln", "mvds", "cpds", "snap_create", "snap_create_live", "snap_delete", "snap_revert", "resize", "delete"})
            t.push_back({Kind::Tm, d, a, "", "7.4"});
    // A thick disk (7.x SPARSE=NO) that grows at deploy: the copies and growth that allocate it.
    for (const char* d : {"shared", "ssh", "qcow2"})
        for (const char* a : {"clone", "resize"}) t.push_back({Kind::Tm, d, a, "", "thick"});
    t.push_back({Kind::Tm, "qcow2", "clone", "ssh", "thick"});  // (a standalone copy)
    t.push_back({Kind::Tm, "ceph", "clone", "ssh", "thick"});   // (the exported file grown and allocated)
    // ceph's DS cp through the download pipeline: a local file with an MD5 (an ssh host's file
    // is read while the bridge's batch runs: the two hosts' commands interleave).
    t.push_back({Kind::Ds, "ceph", "cp", "", "md5"});
    t.push_back({Kind::Ds, "ceph", "cp", "", "qcow2"});  // a qcow2 file, converted on the front-end
    // ceph's DS mkfs of a file system and of swap (made on the front-end, streamed).
    for (const char* m : {"ext4", "swap"}) t.push_back({Kind::Ds, "ceph", "mkfs", "", m});
    // fs_lvm's second shape of every disk: thin volumes in a pool per VM (the snapshots).
    for (const auto& a : Registry::all())
        if (a.kind == Kind::Tm && a.name != "monitor_ds" && a.name != "monitor")
            t.push_back({Kind::Tm, "fs_lvm", a.name, "", "thin"});
    // ceph's removals into the pool's trash: an image, a VM's clone (flattened first).
    t.push_back({Kind::Ds, "ceph", "rm", "", "trash"});
    t.push_back({Kind::Tm, "ceph", "delete", "", "trash"});
    t.push_back({Kind::Tm, "ceph", "clone", "", "warm"});  // a deploy's common case
    return t;
}

std::string slurp(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

}  // namespace

TEST_CASE("golden argv: every action of every driver sends exactly the commands of its .argv file") {
    fs::path dir = fs::path(ONESTOR_SOURCE_DIR) / "test" / "golden";
    bool update = std::getenv("ONESTOR_GOLDEN_UPDATE") && std::string(std::getenv("ONESTOR_GOLDEN_UPDATE")) == "1";
    auto t0 = std::chrono::steady_clock::now();
    struct Cleanup {  // the shared image and the kept set-ups, however the case ends (a REQUIRE throws)
        ~Cleanup() {
            std::error_code ec;
            fs::remove(World::qcow2_template(), ec);
            for (const auto& e : fs::directory_iterator(World::scratch(), ec))
                if (e.path().filename().string().rfind("onestor-golden-" + std::to_string(getpid()) + "-setup-", 0) == 0)
                    fs::remove_all(e.path(), ec);
        }
    } cleanup;
    std::set<std::string> expected;
    std::ostringstream table;
    size_t whole_plans = 0;
    const char* only = std::getenv("ONESTOR_GOLDEN_ONLY");  // (debugging: the cases whose path holds it)
    for (const auto& t : every_action()) {
        if (only && t.path().find(only) == std::string::npos) continue;
        CAPTURE(t.path());
        expected.insert(t.path());
        auto c0 = std::chrono::steady_clock::now();
        Outcome got = run_case(t.kind, t.driver, t.action, t.suffix, t.mode);
        whole_plans += got.dry_whole;
        table << t.path() << " (" << std::chrono::duration<double>(std::chrono::steady_clock::now() - c0).count() << " s):";
        for (const auto& [h, n] : got.remote) table << " " << h << "=" << n;
        table << "\n";
        fs::path file = dir / t.path();
        if (update) {
            fs::create_directories(file.parent_path());
            std::ofstream(file, std::ios::binary) << got.text;
            continue;
        }
        REQUIRE_MESSAGE(fs::exists(file), "no golden file " << file.string() << " (ONESTOR_GOLDEN_UPDATE=1 writes it)");
        std::string want = slurp(file);
        CHECK_MESSAGE(want == got.text, t.path() << " differs from its golden file:\n" << diff(want, got.text));
    }
    if (only) return;
    // No golden file without its action (a removed or renamed action leaves none behind).
    for (const auto& e : fs::recursive_directory_iterator(dir))
        if (e.is_regular_file() && e.path().extension() == ".argv")
            CHECK_MESSAGE(expected.count(fs::relative(e.path(), dir).string()),
                          "golden file of no registered action: " << e.path().string());
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    MESSAGE(expected.size() << " actions in " << s << " s; " << whole_plans
                            << " dry runs listed every command; remote commands per host:\n"
                            << table.str());
    if (std::getenv("ONESTOR_GOLDEN_TABLE")) std::ofstream(std::getenv("ONESTOR_GOLDEN_TABLE")) << table.str();
}
