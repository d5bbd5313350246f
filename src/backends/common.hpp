// What upstream keeps in tm/common and tm_common.sh, shared by the file-based TM backends:
// the path rules (host-path translation, what may be deleted), the context ISO, volatile
// disks, delete, and the pre/postmigrate hand-off to the VM's other TMs (migrate_other).
#pragma once
#include "onestor/backend.hpp"
#include "onestor/host.hpp"

#include <string>

namespace onestor::backends {

class CommonTm : public TmBackend {
public:
    void context(const TmContext&, const std::vector<ContextFile>& files, const HostPath& dst) override;
    void del(const TmContext&, const HostPath& dst) override;
    void mkimage(const TmContext&, long size_mb, const std::string& format, const HostPath& dst) override;
    void mkswap(const TmContext& c, long size_mb, const HostPath& dst) override { mkimage(c, size_mb, "swap", dst); }
    void premigrate(const TmContext& c, const MigrateRequest& r) override { migrate_other(c, r); }
    void postmigrate(const TmContext& c, const MigrateRequest& r) override { migrate_other(c, r); }
    MonitorResult monitor(const DsDump&) override;
    void resize(const TmContext&, const HostPath& disk, long size_mb) override;

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
    static std::string disk_format(const VmDisk& d);  // imgformat::declared: FORMAT, DRIVER, or raw
    // The image's format as oned declares it: DISK/FORMAT (6.x). Without it (5.x), DRIVER
    // is the hypervisor's driver for disk.N: for a disk that runs on the image itself
    // (`runs_on_image`: a qcow2 persistent disk) that is the image's format; otherwise it
    // is the overlay's or the LV's. A persistent image is then raw, a non-persistent one
    // is decided from its first bytes (never a qemu-img probe; see common.cpp for which
    // files are guest-written). Only raw and qcow2 are accepted.
    static std::string image_format(Host& h, const std::string& image, const VmDisk& d, bool runs_on_image);
    // A yes/no DISK attribute (inherited from the datastore), else the setting of that name.
    static bool disk_flag(const VmDisk& d, const std::string& key);
    // Per VM directory under a system datastore dir: (vm id, "DISK_SIZE=[ID=d,SIZE=mb]
    // SNAPSHOT_SIZE=[ID=s,DISK_ID=d,SIZE=mb] ..."), sizes from st_blocks, links followed.
    static std::vector<std::pair<std::string, std::string>> vm_disk_usage(const std::string& ds_dir);
    // Hands pre/postmigrate to every other TM the VM's disks use (once each), with our
    // name as the caller; does nothing when called that way itself.
    void migrate_other(const TmContext&, const MigrateRequest&);
};

}  // namespace onestor::backends
