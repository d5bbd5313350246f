// The `shared` transfer driver: the image and system datastores live on one filesystem
// that the front-end and every host mount (NFS, a cluster FS). Work runs on the host over
// ssh, on its view of the paths (host_image_path). Disks are copied sparse-aware to a temp
// name beside the target, synced and renamed; persistent disks are symlinks to the image.
#include "common.hpp"

#include "onestor/error.hpp"
#include "onestor/io.hpp"
#include "onestor/lock.hpp"
#include "onestor/log.hpp"
#include "onestor/qemu.hpp"
#include "onestor/transfer.hpp"

namespace onestor::backends {
namespace {

class Shared final : public CommonTm {
public:
    void clone(const TmContext& c, const HostPath& src, const HostPath& dst) {
        check_disk_path(dst, c.vmid);
        Host& h = Host::get(dst.host);
        std::string image = host_image_path(src.path, dst.path);
        log::info("cloning " + quoted(image) + " into " + quoted(dst.str()));
        RemoteTemp tmp(h, io::temp_name_for(dst.path));
        const VmDisk* d = disk_at(c, dst.path);
        bool full = thick(d);
        std::vector<Step> steps = h.copy_steps(image, tmp.path(), dst.path, full);
        if (full) steps.push_back(h.preallocate_step(tmp.path()));
        auto size = grown_size_mb(c, dst.path);
        if (size) {
            log::info("resizing to " + std::to_string(size) + " MiB");
            steps.push_back(qemu::resize_step(h, disk_format(*d), tmp.path(), size, full));
        }
        if (full || size) steps.push_back(h.sync_step(tmp.path()));
        steps.push_back(h.rename_step(tmp.path(), dst.path, true));
        h.batch(steps);
        tmp.keep();
    }

    // A shared image datastore feeding an ssh (local) system datastore: oned calls the .ssh
    // variants. ln.ssh: the VM runs from a copy on the host's local disk.
    void ln_ssh(const TmContext& c, const HostPath& src, const HostPath& dst) {
        check_disk_path(dst, c.vmid);
        Host& to = Host::get(dst.host);
        to.mkdir_p(dirname_of(dst.path));
        transfer::copy(Host::get(src.host), src.path, to, dst.path);
    }

    // mvds.ssh: the host's copy goes back beside the image, then renamed.
    void mvds_ssh(const TmContext& c, const HostPath& src, const HostPath& dst) {
        check_disk_path(src, c.vmid);
        transfer::move(Host::get(src.host), src.path, Host::get(dst.host), dst.path);
    }

    void ln(const TmContext& c, const HostPath& src, const HostPath& dst) {
        check_disk_path(dst, c.vmid);
        Host& h = Host::get(dst.host);
        std::string image = host_image_path(src.path, dst.path);
        log::info("linking " + quoted(image) + " as " + quoted(dst.str()));
        h.batch({h.mkdir_step(dirname_of(dst.path)), h.symlink_step(image, dst.path)});
    }

    void mvds(const TmContext&, const HostPath& src, const HostPath&) {
        // The VM wrote straight into the image through the disk.N symlink.
        log::info(quoted(src.str()) + " is the image itself: nothing to move");
    }

    void cpds(const TmContext& c, const HostPath& src, const HostPath& dst, long snap) {
        check_disk_path(src, c.vmid);
        Host& h = Host::get(src.host);
        std::string target = host_image_path(dst.path, src.path);
        std::string from = src.path;
        if (snap >= 0) from = disk_base(c, src) + ".snap/" + std::to_string(snap);
        // Both asked at once; the copy waits for the answer (a second round trip: whether
        // they are one file decides whether there is anything to copy).
        auto real = h.batch({h.realpath_step(from), h.realpath_step(target)});
        for (auto& r : real)
            while (!r.empty() && r.back() == '\n') r.pop_back();
        if (real[0].empty()) throw DriverError(quoted(h.label(from)) + " does not exist");
        if (real[0] == real[1]) {
            log::info(quoted(from) + " already is " + quoted(target));
            return;
        }
        log::info("copying " + quoted(h.label(from)) + " to " + quoted(target));
        h.copy_file(from, target, true);
    }

    void mv(const TmContext& c, const HostPath& src, const HostPath& dst) {
        // Disks move with their directory on shared storage; only a change of path
        // (another system datastore on the same storage) moves anything.
        if (src.path == dst.path || disk_id_of(src.path) >= 0) {
            log::info("shared storage: " + quoted(src.str()) + " needs no move");
            return;
        }
        move_vm_dir(c, src, dst);
    }

    void snap_create(const TmContext& c, const HostPath& disk, long snap) {
        Snap s = snap_paths(c, disk, snap);
        Lock lock("vm-" + std::to_string(c.vmid));
        Host& h = Host::get(disk.host);
        log::info("snapshot " + std::to_string(snap) + " of " + quoted(disk.str()));
        h.copy_file(s.current, s.file, false);
    }

    void snap_delete(const TmContext& c, const HostPath& disk, long snap) {
        Snap s = snap_paths(c, disk, snap);
        Lock lock("vm-" + std::to_string(c.vmid));
        Host& h = Host::get(disk.host);
        h.batch({h.present_step(s.file, "snapshot " + quoted(h.label(s.file)) + " does not exist"), h.remove_step(s.file)});
        log::info("deleted snapshot " + std::to_string(snap) + " of " + quoted(disk.str()));
    }

    void snap_revert(const TmContext& c, const HostPath& disk, long snap) {
        Snap s = snap_paths(c, disk, snap);
        Lock lock("vm-" + std::to_string(c.vmid));
        Host& h = Host::get(disk.host);
        // Copy first, then rename over the disk: a failed copy leaves the disk as it was.
        h.copy_file(s.file, s.current, true, {h.present_step(s.file, "snapshot " + quoted(h.label(s.file)) + " does not exist")});
        log::info("reverted " + quoted(disk.str()) + " to snapshot " + std::to_string(snap));
    }

private:
    struct Snap {
        std::string dir, file, current;
    };

    // The file a disk's snapshots belong to: the VM's own copy, or for a persistent disk
    // the image itself (its snapshots then live beside the image and survive the VM).
    static std::string disk_base(const TmContext& c, const HostPath& disk) {
        const VmDisk& d = c.vm().require_disk(disk_id_of(disk.path));
        if (d.get("CLONE") == "YES" || d.get("SOURCE").empty()) return disk.path;
        return host_image_path(clean_path(d.get("SOURCE"), "disk SOURCE"), disk.path);
    }

    static Snap snap_paths(const TmContext& c, const HostPath& disk, long snap) {
        check_disk_path(disk, c.vmid);
        if (disk_id_of(disk.path) < 0) throw DriverError(quoted(disk.str()) + " is not a disk.N path");
        std::string base = disk_base(c, disk);
        Snap s;
        s.dir = base + ".snap";
        s.file = s.dir + "/" + std::to_string(snap);
        // A persistent image under an ssh system datastore runs from the host's own copy.
        bool ssh_system = c.vm().system_tm_mad == "ssh";
        s.current = ssh_system ? disk.path : base;
        return s;
    }
};

}  // namespace

const TmTable& shared_table() {
    static Shared b;
    static const TmTable t{"shared",
                           {{"clone", op(b, &Shared::clone)},
                            {"ln", op(b, &Shared::ln)},
                            {"ln.ssh", op(b, &Shared::ln_ssh)},
                            {"mvds", op(b, &Shared::mvds)},
                            {"mvds.ssh", op(b, &Shared::mvds_ssh)},
                            {"cpds", op(b, &Shared::cpds)},
                            {"mv", op(b, &Shared::mv)},
                            {"premigrate", op(b, &Shared::premigrate)},
                            {"postmigrate", op(b, &Shared::postmigrate)},
                            {"failmigrate", op(b, &Shared::failmigrate)},
                            {"snap_create", op(b, &Shared::snap_create)},
                            {"snap_delete", op(b, &Shared::snap_delete)},
                            {"snap_revert", op(b, &Shared::snap_revert)},
                            {"context", op(b, &Shared::context)},
                            {"delete", op(b, &Shared::del)},
                            {"mkimage", op(b, &Shared::mkimage)},
                            {"mkswap", mkswap_of(b)},
                            {"monitor", op(b, &Shared::monitor)},
                            {"resize", op(b, &Shared::resize)}}};
    return t;
}

}  // namespace onestor::backends
