// What upstream keeps in tm/common and tm_common.sh, shared by the file-based TM backends:
// the path rules (host-path translation, what may be deleted), the context ISO, volatile
// disks, delete, and the pre/postmigrate hand-off to the VM's other TMs (migrate_other).
#pragma once
#include "onestor/backend.hpp"
#include "onestor/host.hpp"
#include "onestor/transfer.hpp"

#include <string>

namespace onestor::backends {

class CommonTm {
public:
    void context(const TmContext&, const std::vector<ContextFile>& files, const HostPath& dst);
    void del(const TmContext&, const HostPath& dst);
    void mkimage(const TmContext&, long size_mb, const std::string& format, const HostPath& dst);
    void premigrate(const TmContext& c, const MigrateRequest& r) { migrate_other(c, r); }
    // 7.2+: after a storage live migration (the VMM copied the disks into the new system
    // datastore), the previous datastore's VM directory goes (drop_copy).
    void postmigrate(const TmContext& c, const MigrateRequest& r);
    // Our file TMs' premigrate makes nothing on the destination: only the hand-off to undo.
    void failmigrate(const TmContext& c, const MigrateRequest& r) { migrate_other(c, r); }
    MonitorResult monitor(const DsDump&);
    void resize(const TmContext&, const HostPath& disk, long size_mb);

protected:
    // The image's path as `host` sees it: SOURCE (<fe root>/<dsid>/<name>) moved under the
    // host's datastore root, dirname^3 of the VM disk path (<root>/<sysds>/<vmid>/disk.N),
    // so hosts may mount the datastores elsewhere than the front-end.
    static std::string host_image_path(const std::string& fe_source, const std::string& disk_path);
    // A VM disk path "<root>/<sysds>/<vmid>/disk.N" (or kernel/initrd files beside them):
    // refuses anything whose VM directory is not named after the VM id.
    static void check_disk_path(const HostPath& p, long vmid);
    // "<root>/<sysds>/<vmid>" itself, or a disk inside it.
    static bool is_vm_dir(const HostPath& p, long vmid);
    static std::string disk_format(const VmDisk& d);
    // The disk's TARGET (vda...): how libvirt names it in the running domain.
    static std::string disk_target(const TmContext& c, const HostPath& disk);  // imgformat::declared: FORMAT, DRIVER, or raw
    // The image's format as oned declares it: DISK/FORMAT (6.x). Without it (5.x), DRIVER
    // is the hypervisor's driver for disk.N: for a disk that runs on the image itself
    // (`runs_on_image`: a qcow2 persistent disk) that is the image's format; otherwise it
    // is the overlay's or the LV's. A persistent image is then raw, a non-persistent one
    // is decided from its first bytes (never a qemu-img probe; see common.cpp for which
    // files are guest-written). Only raw and qcow2 are accepted.
    static std::string image_format(Host& h, const std::string& image, const VmDisk& d, bool runs_on_image);
    // The VM's DISK that a disk.N path names; nullptr for any other path or a missing DISK.
    static const VmDisk* disk_at(const TmContext& c, const std::string& path);
    // The size a deployed disk grows to: SIZE when the VM template asks for more than the
    // image's ORIGINAL_SIZE (0: keep the image's size). dst is the disk.N path.
    static unsigned long long grown_size_mb(const TmContext& c, const std::string& dst);
    // mv of a VM directory to another path on the same storage (another system datastore
    // seen by dst's host): one rename under the VM's lock, the paths checked to be the VM's.
    static void move_vm_dir(const TmContext& c, const HostPath& src, const HostPath& dst);
    // Whether a disk is thick (7.x SPARSE=NO, else the SPARSE setting): its copies and
    // growth get all their space at once, so the datastore cannot run out under the VM.
    static bool thick(const VmDisk* d);
    // A yes/no DISK attribute (inherited from the datastore), else the setting of that name.
    static bool disk_flag(const VmDisk& d, const std::string& key);
    // Per VM directory under a system datastore dir: its disks and their snapshots, sizes
    // from st_blocks, links followed.
    static std::vector<VmDiskUsage> vm_disk_usage(const std::string& ds_dir);
    // Upstream's enable_local_monitoring: the host probes (monitor_ds.rb, monitor_ds_vm.rb)
    // report a datastore directory only when its .monitor names the TM whose monitor_ds
    // measures it. Written beside the VM directories of `vm_dir`'s datastore when it does not
    // say `tm` already (temp name, synced, renamed); no VM's clean-up removes it.
    // (A step: batched with the action's last changes.)
    static Step local_monitoring_step(Host& h, const std::string& vm_dir, const std::string& tm);
    static transfer::MonitorMark monitor_mark_of(const std::string& vm_dir, const std::string& tm);
    // Hands pre/postmigrate to every other TM the VM's disks use (once each), with our
    // name as the caller; does nothing when called that way itself.
    void migrate_other(const TmContext&, const MigrateRequest&);
    // The VM's directory in the system datastore it is migrating from: r.vm_dir, or under
    // 7.2+ the previous datastore's (HISTORY[last()-1]) after a storage live migration.
    static std::string migrated_from_dir(const TmContext&, const MigrateRequest&);
    // Live migration with local disks: the VMM copies them (libvirt's copy-storage), so one
    // VM directory ends up a copy no longer used. `drop_dir` on `victim` is removed unless it
    // is `keep_dir` on `keeper` itself seen through shared storage (a token made in the one
    // visible in the other), or the keeper is missing, or (`need_all_disks`) the keeper lacks
    // one of its disks: then nothing is removed and the log says why. Three remote commands:
    // mark and list on the keeper, check and remove on the victim, unmark.
    static void drop_copy(Host& keeper, const std::string& keep_dir, Host& victim, const std::string& drop_dir,
                          bool need_all_disks, const std::string& what);
};

// A yes/no template value (YES, TRUE or 1, any case); empty: the setting `key`.
bool flag(std::string value, const std::string& key);

// mkswap is mkimage of a swap disk: an entry for any table whose backend has mkimage.
template <class B>
Primitive mkswap_of(B& b) {
    return op<sig::Mkswap>([&b](const TmContext& c, long size_mb, const HostPath& dst) { b.mkimage(c, size_mb, "swap", dst); });
}

}  // namespace onestor::backends
