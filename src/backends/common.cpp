#include "common.hpp"
#include "image_source.hpp"

#include "onestor/config.hpp"
#include "onestor/dry_run.hpp"
#include "onestor/error.hpp"
#include "onestor/imgformat.hpp"
#include "onestor/io.hpp"
#include "onestor/iso.hpp"
#include "onestor/lock.hpp"
#include "onestor/log.hpp"
#include "onestor/mkfs.hpp"
#include "onestor/numbers.hpp"
#include "onestor/protocol.hpp"
#include "onestor/qemu.hpp"
#include "onestor/registry.hpp"
#include "onestor/scripts.hpp"
#include "onestor/transfer.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <algorithm>
#include <climits>
#include <set>
#include <sstream>

namespace onestor::backends {

std::string CommonTm::host_image_path(const std::string& fe_source, const std::string& disk_path) {
    // Arguments are confined by their kinds; a disk's SOURCE read from the VM template is
    // held to the same rule here, where every image path is made.
    std::string fe_root = clean_path(config().get("DATASTORE_LOCATION"), "DATASTORE_LOCATION");
    confine(fe_source, Confine::Image, 0, 0, fe_root, fe_source);
    // The same path below the host's datastores (<root>/<sys ds>/<vm>/disk.N), at any depth:
    // <ds>/<name>, or deeper (a save-as target inside its datastore's directories).
    std::string host_root = dirname_of(dirname_of(dirname_of(disk_path)));
    if (fe_root == "/" || host_root == "/")
        throw DriverError("cannot place image " + quoted(fe_source) + " for disk " + quoted(disk_path) + ": not datastore paths");
    return host_root + fe_source.substr(fe_root.size());
}

void CommonTm::check_disk_path(const HostPath& p, long vmid) {
    std::string dir = dirname_of(p.path);
    if (basename_of(dir) != std::to_string(vmid) || dirname_of(dirname_of(dir)) == "/")
        throw DriverError(quoted(p.str()) + " is not a disk of VM " + std::to_string(vmid) + " (expected <datastores>/<ds id>/" +
                          std::to_string(vmid) + "/disk.N)");
}

bool CommonTm::is_vm_dir(const HostPath& p, long vmid) {
    return basename_of(p.path) == std::to_string(vmid) && dirname_of(dirname_of(p.path)) != "/";
}

std::string CommonTm::disk_format(const VmDisk& d) { return imgformat::declared(d.get("FORMAT"), d.get("DRIVER")); }

void CommonTm::del(const TmContext& c, const HostPath& dst) {
    // Only the VM's own directory or something directly inside it: never "/", never
    // another VM's files, whatever path arrives.
    if (!is_vm_dir(dst, c.vmid)) check_disk_path(dst, c.vmid);
    Host& h = Host::get(dst.host);
    if (h.batch({h.exists_step(dst.path), h.remove_step(dst.path)})[0].empty())
        log::info(quoted(dst.str()) + " was already gone");
    else
        log::info("deleted " + quoted(dst.str()));
}

void CommonTm::mkimage(const TmContext& c, long size_mb, const std::string& format, const HostPath& dst) {
    check_disk_path(dst, c.vmid);
    const VmDisk* d = disk_at(c, dst.path);
    mkfs::Request want = mkfs::volatile_disk(format, d ? d->get("FS") : "");
    Host& h = Host::get(dst.host);
    RemoteTemp tmp(h, io::temp_name_for(dst.path));  // removed should a step fail
    std::vector<Step> steps{
        h.mkdir_step(dirname_of(dst.path)),
        qemu::create_step(h, want.format == "qcow2" ? "qcow2" : "raw", tmp.path(), static_cast<unsigned long long>(size_mb))};
    if (want.format == "swap") steps.push_back(mkfs::swap_step(h, tmp.path()));
    if (!want.fs.empty()) steps.push_back(mkfs::filesystem_step(h, want.fs, tmp.path()));
    steps.push_back(h.sync_step(tmp.path()));
    steps.push_back(h.rename_step(tmp.path(), dst.path, true));
    h.batch(steps);
    tmp.keep();
    log::info("created " + std::to_string(size_mb) + " MiB " + format + " disk " + quoted(dst.str()));
}

namespace {

// The context ISO's staging directory, under a temp name (held with its lock, so a sweep
// leaves it alone) in `dir`: beside the destination, on its filesystem (no tmpfs filled
// with copies), where the files can be hard-linked. Removed with everything in it.
struct StageDir {
    std::string path;
    io::File hold;
    explicit StageDir(const std::string& target) : path(io::temp_name_for(target)) {
        if (::mkdir(path.c_str(), 0700) != 0) throw_errno("cannot create a directory beside", target);
        hold = io::File(io::hold_temp(path));
    }
    ~StageDir() {
        try {
            io::remove_tree(path);
        } catch (...) {}
    }
};

// Puts the context file `from` at `to`: a hard link to the opened file where it is
// readable by all (what a copy would give) and on the same filesystem, else a reflink or
// a sparse copy (io::copy_fd). Opening never blocks (O_NONBLOCK: a FIFO is refused, not
// waited on), and what is linked is the inode that was checked.
void stage_file(const ContextFile& f, const std::string& to) {
    if (!f.url.empty()) {  // downloaded into the staging directory (removed with it on failure)
        io::File out(::open(to.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
        if (!out) throw_errno("cannot create", to);
        image_source::fetch_file(f.url, out.fd());
        return;
    }
    int fd = ::open(f.path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) throw_errno("cannot open context file", f.path);
    io::File in(fd);
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        throw DriverError("context file " + quoted(f.path) + " is not a regular file");
    std::string self = "/proc/self/fd/" + std::to_string(fd);
    if ((st.st_mode & 0444) == 0444 && ::linkat(AT_FDCWD, self.c_str(), AT_FDCWD, to.c_str(), AT_SYMLINK_FOLLOW) == 0) return;
    ::fcntl(fd, F_SETFL, O_RDONLY);
    int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (out < 0) throw_errno("cannot create", to);
    io::File o(out);
    io::copy_fd(fd, out, f.name);
}

}  // namespace

void CommonTm::context(const TmContext& c, const std::vector<ContextFile>& files, const HostPath& dst) {
    check_disk_path(dst, c.vmid);
    Host& h = Host::get(dst.host);
    // Staged beside the destination when it is here; for another host, in the same
    // directory on the front-end where it exists (a shared system datastore), else /var/tmp.
    std::string vm_dir = dirname_of(dst.path);
    if (h.local()) io::mkdir_p(vm_dir);
    std::string near = h.local() || Host::local_host().is_dir(vm_dir) ? dst.path : join_path("/var/tmp", basename_of(dst.path));
    dry_run::ends_here("the context ISO is built from " + std::to_string(files.size()) +
                       " files staged on the front-end, which a dry run does not write");
    StageDir work(near);
    std::string dir = join_path(work.path, "iso");
    io::mkdir_p(dir, 0700);
    std::set<std::string> names;
    for (const auto& f : files) {
        if (!names.insert(f.name).second) throw DriverError("two context files are named " + quoted(f.name));
        stage_file(f, join_path(dir, f.name));
    }
    std::string iso = join_path(work.path, "context.iso");
    iso::make(dir, iso);
    if (h.local()) {
        h.sync(iso);
        h.rename(iso, dst.path, true);  // (syncs the directory)
    } else {
        h.put_file(iso, dst.path);  // (makes the VM directory)
    }
    log::info("context ISO with " + std::to_string(files.size()) + " files placed at " + quoted(dst.str()));
}

void CommonTm::migrate_other(const TmContext& c, const MigrateRequest& r) {
    if (r.src_host == r.dst_host || !r.caller_tm.empty()) return;
    if (r.template_b64.empty()) return;
    VmInfo vm = VmInfo::from_xml(base64_decode(r.template_b64));
    std::set<std::string> others;
    for (const auto& d : vm.disks) {
        std::string tm = d.get("TM_MAD");
        if (!tm.empty() && tm != c.driver) others.insert(valid_tm_name(tm));  // all checked before any runs
    }
    for (const auto& tm : others) {
        Argv a;
        if (find_tm_backend(tm)) {
            a = {self_exe(), "tm", tm, c.action};
        } else {
            a = {config().get("REMOTES_DIR") + "/tm/" + tm + "/" + c.action};
        }
        a.insert(a.end(), {r.src_host, r.dst_host, r.vm_dir, std::to_string(c.vmid), std::to_string(c.dsid), c.driver});
        // The template travels on stdin, as oned (5.10+) gives it.
        int fd = memfd_create("template", MFD_CLOEXEC);
        if (fd < 0) throw_errno("cannot create", "memfd");
        io::File mem(fd);
        if (::write(fd, r.template_b64.data(), r.template_b64.size()) != static_cast<ssize_t>(r.template_b64.size()))
            throw_errno("cannot write", "memfd");
        ::lseek(fd, 0, SEEK_SET);
        log::info("calling " + tm + " " + c.action);
        run(a, {.timeout_s = 600, .stdin_fd = fd, .what = tm + " " + c.action + " failed", .error_blocks = true});
    }
}

void CommonTm::postmigrate(const TmContext& c, const MigrateRequest& r) {
    migrate_other(c, r);
    std::string from = migrated_from_dir(c, r);
    if (r.caller_tm.empty() && from != r.vm_dir)
        drop_copy(Host::get(r.dst_host), r.vm_dir, Host::get(r.src_host), from, true,
                  "the VM directory of the previous system datastore");
}

std::string CommonTm::migrated_from_dir(const TmContext& c, const MigrateRequest& r) {
    if (!protocol::profile().storage_migration) return r.vm_dir;
    VmInfo vm = r.template_b64.empty() ? c.vm() : VmInfo::from_xml(base64_decode(r.template_b64));
    long from = vm.previous_system_ds_id;
    if (from < 0 || from == c.dsid) return r.vm_dir;
    // <root>/<dsid>/<vmid> (the argument was confined to that shape): the same VM under <root>/<from>.
    return join_path(dirname_of(dirname_of(r.vm_dir)), std::to_string(from) + "/" + std::to_string(c.vmid));
}

void CommonTm::drop_copy(Host& keeper, const std::string& keep_dir, Host& victim, const std::string& drop_dir,
                         bool need_all_disks, const std::string& what) {
    std::string token = ".onestor-migrate." + io::random_hex(8);
    Result k = keeper.run({"sh", "-c", scripts::kCopyKeeper, "sh", keep_dir, token},
                          {.what = "cannot read " + quoted(keeper.label(keep_dir))});
    dry_run::ends_here("what is removed depends on the disks " + quoted(keeper.label(keep_dir)) + " holds with its token");
    std::vector<std::string> names;  // "present/disk.0/disk.1/" (scripts.cpp)
    for (size_t start = 0, end; (end = k.out.find('/', start)) != std::string::npos; start = end + 1)
        names.push_back(k.out.substr(start, end - start));
    if (names.empty() || names.front() != "present") {
        log::info("not removing " + what + " " + quoted(victim.label(drop_dir)) + ": " + quoted(keeper.label(keep_dir)) +
                  " does not exist");
        return;
    }
    names.erase(names.begin());
    // The token goes whatever happens next (a failed check, a signal).
    struct Unmark {
        Host& h;
        std::string path;
        ~Unmark() {
            try {
                h.run({"rm", "-f", "--", path}, {.cleanup = true});
            } catch (...) {}
        }
    } unmark{keeper, join_path(keep_dir, token)};
    Argv a = {"sh", "-c", scripts::kCopyDrop, "sh", drop_dir, token, need_all_disks ? "all" : "any"};
    a.insert(a.end(), names.begin(), names.end());
    Result v = victim.run(a, {.what = "cannot remove " + what + " " + quoted(victim.label(drop_dir))});
    std::string said = v.out.substr(0, v.out.find('\n'));
    if (said == "removed")
        log::info("removed " + what + " " + quoted(victim.label(drop_dir)));
    else if (said == "absent")
        log::info(what + " " + quoted(victim.label(drop_dir)) + " does not exist: nothing to remove");
    else if (said == "same")
        log::info("not removing " + quoted(victim.label(drop_dir)) + ": it is " + quoted(keeper.label(keep_dir)) +
                  " itself (shared storage)");
    else if (said.rfind("missing ", 0) == 0)
        log::info("not removing " + what + " " + quoted(victim.label(drop_dir)) + ": " + quoted(keeper.label(keep_dir)) +
                  " lacks its " + said.substr(8));
    else
        throw DriverError("cannot remove " + what + " " + quoted(victim.label(drop_dir)) + ": unexpected answer " + quoted(said));
}

std::string CommonTm::disk_target(const TmContext& c, const HostPath& disk) {
    std::string target = c.vm().require_disk(disk_id_of(disk.path)).get("TARGET");
    if (target.empty()) throw DriverError("disk " + quoted(disk.str()) + " has no TARGET");
    return target;
}

void CommonTm::resize(const TmContext& c, const HostPath& disk, long size_mb) {
    check_disk_path(disk, c.vmid);
    if (c.vm().lcm_state == lcm::DiskResize) {  // DISK_RESIZE of a running VM: the hypervisor resizes
        log::info("VM " + std::to_string(c.vmid) + " is running: the hypervisor resizes " + quoted(disk.str()));
        return;
    }
    if (size_mb <= 0) throw DriverError("cannot resize " + quoted(disk.str()) + " to " + std::to_string(size_mb) + " MiB");
    Host& h = Host::get(disk.host);
    const VmDisk& d = c.vm().require_disk(disk_id_of(disk.path));
    // The declared format, never probed: a raw disk whose guest wrote a qcow2 header stays raw.
    qemu::resize(h, disk_format(d), disk.path, static_cast<unsigned long long>(size_mb), thick(&d));
    log::info("resized " + quoted(disk.str()) + " to " + std::to_string(size_mb) + " MiB");
}

std::string CommonTm::image_format(Host& h, const std::string& image, const VmDisk& d, bool runs_on_image) {
    // Which files are which: a persistent image (CLONE=NO) is its guest's disk, written by
    // the guest itself or saved back from its copy, so its content never decides its format:
    // FORMAT, else DRIVER when the disk runs on the image, else raw (what fs_lvm writes back).
    // A non-persistent image is only read by VMs (they write overlays or copies): without a
    // FORMAT its first bytes decide (imgformat: no qemu-img probe, nothing it names opened;
    // an image naming another file is refused).
    std::string f = d.get("FORMAT");
    if (f.empty() && runs_on_image) f = disk_format(d);
    if (f.empty()) f = d.get("CLONE") == "NO" ? "raw" : imgformat::decide_path(h, image).format;
    if (f != "raw" && f != "qcow2") throw DriverError("unsupported image format " + quoted(f));
    return f;
}

const VmDisk* CommonTm::disk_at(const TmContext& c, const std::string& path) {
    int id = disk_id_of(path);
    return id >= 0 ? c.vm().disk(id) : nullptr;
}

unsigned long long CommonTm::grown_size_mb(const TmContext& c, const std::string& dst) {
    const VmDisk* d = disk_at(c, dst);
    if (!d) return 0;
    long size = d->size_mb("SIZE"), orig = d->size_mb("ORIGINAL_SIZE");
    return size > orig && orig > 0 ? static_cast<unsigned long long>(size) : 0;
}

void CommonTm::move_vm_dir(const TmContext& c, const HostPath& src, const HostPath& dst) {
    if (!is_vm_dir(src, c.vmid) || !is_vm_dir(dst, c.vmid))
        throw DriverError("cannot move " + quoted(src.str()) + " to " + quoted(dst.str()) + ": not the directories of VM " +
                          std::to_string(c.vmid));
    Host& h = Host::get(dst.host);
    Lock lock("vm-" + std::to_string(c.vmid));
    log::info("moving " + quoted(h.label(src.path)) + " to " + quoted(h.label(dst.path)));
    // (relative names inside, such as qcow2's snapshot links, keep the chains whole)
    h.batch({h.mkdir_step(dirname_of(dst.path)), h.rename_step(src.path, dst.path, false)});
}

bool CommonTm::thick(const VmDisk* d) {
    std::string v = d ? d->get("SPARSE") : "";
    if (v.empty()) v = config().get("SPARSE");
    for (auto& ch : v) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return v == "no";  // (as upstream: anything but NO is sparse)
}

bool CommonTm::disk_flag(const VmDisk& d, const std::string& key) { return flag(d.get(key), key); }

bool flag(std::string v, const std::string& key) {
    if (v.empty()) v = config().get(key);
    for (auto& ch : v) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    return v == "YES" || v == "TRUE" || v == "1";
}

std::vector<VmDiskUsage> CommonTm::vm_disk_usage(const std::string& path) {
    auto list = [](const std::string& dir) {
        std::vector<std::string> names;
        if (DIR* dp = ::opendir(dir.c_str())) {
            while (auto* e = ::readdir(dp)) names.push_back(e->d_name);
            ::closedir(dp);
        }
        std::sort(names.begin(), names.end());
        return names;
    };
    auto mb = [](const std::string& p) {
        struct stat st {};
        return ::stat(p.c_str(), &st) == 0 ? io::mib_ceil(static_cast<unsigned long long>(st.st_blocks) * 512) : 0ull;
    };
    std::vector<VmDiskUsage> out;
    for (const auto& vm : list(path)) {
        if (!numeric_name(vm)) continue;
        std::string vdir = join_path(path, vm);
        VmDiskUsage u{vm, {}};
        for (const auto& f : list(vdir)) {
            int id = disk_id_of("/" + f);
            if (id < 0) continue;
            u.disk(id, mb(join_path(vdir, f)));
            std::string sdir = join_path(vdir, f + ".snap");
            for (const auto& s : list(sdir))
                if (numeric_name(s)) u.snapshot(s, id, mb(join_path(sdir, s)));
        }
        if (!u.entries.empty()) out.push_back(std::move(u));
    }
    return out;
}

Step CommonTm::local_monitoring_step(Host& h, const std::string& vm_dir, const std::string& tm) {
    return h.run_step(transfer::with_monitor_mark(monitor_mark_of(vm_dir, tm).path, tm, {"true"}),
                      "cannot mark " + quoted(h.label(vm_dir)) + " as monitored by its host", 60);
}

transfer::MonitorMark CommonTm::monitor_mark_of(const std::string& vm_dir, const std::string& tm) {
    return {join_path(dirname_of(clean_path(vm_dir, "VM directory")), ".monitor"), tm};
}

MonitorResult CommonTm::monitor(const DsDump& d) {
    std::string loc = d.datastore_location.empty() ? config().get("DATASTORE_LOCATION") : d.datastore_location;
    if (d.datastore.id < 0) throw DriverError("the action data names no DATASTORE/ID");
    std::string path = clean_path(loc, "DATASTORE_LOCATION") + "/" + std::to_string(d.datastore.id);
    io::mkdir_p(path);
    MonitorResult m = filesystem_usage(path);
    if (!d.monitor_vm_disks) return m;
    m.vms = vm_disk_usage(path);
    return m;
}

}  // namespace onestor::backends
