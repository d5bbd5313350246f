// The `ssh` transfer driver: every host keeps its VM disks on its own local system
// datastore; images live on the front-end. Deploy, stop, resume, migrate and shutdown
// therefore move bytes between machines, always through transfer::copy (sparse,
// checksummed, temp + fsync + rename on the receiving side). A source is removed only
// after its copy is complete; a failed move leaves the source intact.
#include "common.hpp"

#include "onestor/config.hpp"
#include "onestor/error.hpp"
#include "onestor/io.hpp"
#include "onestor/libvirt.hpp"
#include "onestor/lock.hpp"
#include "onestor/log.hpp"
#include "onestor/protocol.hpp"
#include "onestor/qemu.hpp"
#include "onestor/transfer.hpp"

#include <dirent.h>
#include <sys/stat.h>
#include <algorithm>

namespace onestor::backends {
namespace {

class Ssh final : public CommonTm {
public:
    // Persistent images are copied too (upstream's ln is this script); mvds brings them back.
    void clone(const TmContext& c, const HostPath& src, const HostPath& dst) { deploy(c, src, dst); }
    void ln(const TmContext& c, const HostPath& src, const HostPath& dst) { deploy(c, src, dst); }

    void mvds(const TmContext& c, const HostPath& src, const HostPath& dst) {
        check_disk_path(src, c.vmid);
        Host& from = Host::get(src.host);
        Host& to = Host::get(dst.host);
        bool snapshots = from.exists(src.path + ".snap");
        // Never over the image in place: the receiver writes beside SOURCE, syncs, renames.
        transfer::copy(from, src.path, to, dst.path);
        std::vector<Step> retire;  // (once both copies are complete, the host's go in one command)
        if (snapshots) {
            transfer::copy(from, src.path + ".snap", to, dst.path + ".snap");
            retire.push_back(transfer::retire_step(from, src.path + ".snap"));
        }
        retire.push_back(transfer::retire_step(from, src.path));
        for (const auto& said : from.batch(retire))
            if (!said.empty()) log::info(said.substr(0, said.find_last_not_of('\n') + 1));
        log::info("persistent disk " + quoted(src.str()) + " saved to " + quoted(to.label(dst.path)));
    }

    void cpds(const TmContext& c, const HostPath& src, const HostPath& dst, long snap) {
        check_disk_path(src, c.vmid);
        Host& from = Host::get(src.host);
        std::string path = snap >= 0 ? src.path + ".snap/" + std::to_string(snap) : src.path;
        if (!from.exists(path)) throw DriverError(quoted(from.label(path)) + " does not exist");
        transfer::copy(from, path, Host::get(dst.host), dst.path);
    }

    // Live migration with local disks (6.0+): the VMM copies the disks to the destination
    // (libvirt's copy-storage); these remove the copy that is not used, each only when
    // drop_copy finds the other complete and distinct (never the disks of a VM that runs).
    // A stale directory on the destination would be in the copy's way.
    static bool moved(const MigrateRequest& r, const std::string& from) {  // another host, or datastore
        return protocol::profile().migrate_local_disks && r.caller_tm.empty() && (r.src_host != r.dst_host || from != r.vm_dir);
    }
    void premigrate(const TmContext& c, const MigrateRequest& r) {
        std::string from = migrated_from_dir(c, r);
        if (moved(r, from))
            drop_copy(Host::get(r.src_host), from, Host::get(r.dst_host), r.vm_dir, false, "a stale VM directory");
        migrate_other(c, r);
    }
    // The VM runs on the destination: the source's copy goes.
    void postmigrate(const TmContext& c, const MigrateRequest& r) {
        migrate_other(c, r);
        std::string from = migrated_from_dir(c, r);
        if (moved(r, from))
            drop_copy(Host::get(r.dst_host), r.vm_dir, Host::get(r.src_host), from, true, "the source's copy of the VM");
    }
    // The VM stays on the source: what the copy left on the destination goes.
    void failmigrate(const TmContext& c, const MigrateRequest& r) {
        migrate_other(c, r);
        std::string from = migrated_from_dir(c, r);
        if (moved(r, from))
            drop_copy(Host::get(r.src_host), from, Host::get(r.dst_host), r.vm_dir, true, "the destination's partial copy");
    }

    void mv(const TmContext& c, const HostPath& src, const HostPath& dst) {
        if (disk_id_of(src.path) >= 0) {  // the VM directory's own mv carries the disks
            log::info(quoted(src.str()) + " moves with its VM directory");
            return;
        }
        if (src.host == dst.host && src.path == dst.path) return;
        if (!is_vm_dir(src, c.vmid) || !is_vm_dir(dst, c.vmid))
            throw DriverError("cannot move " + quoted(src.str()) + " to " + quoted(dst.str()) + ": not the directories of VM " +
                              std::to_string(c.vmid));
        if (c.vm().lcm_state == lcm::PrologMigrateUnknown) {
            log::info("the source host of VM " + std::to_string(c.vmid) + " is unknown: nothing to move");
            return;
        }
        Host& from = Host::get(src.host);
        Host& to = Host::get(dst.host);
        if (&from == &to) {  // another system datastore on the same host
            if (missing(from, src.path)) return check_moved(to, src, dst);
            return move_vm_dir(c, src, dst);
        }
        Lock lock("vm-" + std::to_string(c.vmid));  // also what lets the receiver remove leftovers
        // No questions first (each costs a round trip, one to the destination a connection):
        // the copy fails by itself when there is nothing to send, and only then is asked why.
        try {
            // makes the parents; the receiver writes the destination's marker, as upstream's mv
            // carries it (an ssh system datastore's is "ssh")
            transfer::move(from, src.path, to, dst.path, transfer::Leftovers::remove, monitor_mark_of(dst.path, "ssh"));
        } catch (const DriverError&) {
            if (interrupted() || !missing(from, src.path)) throw;
            return check_moved(to, src, dst);
        }
        log::info("moved " + quoted(src.str()) + " to " + quoted(dst.str()));
    }

    void snap_create(const TmContext& c, const HostPath& disk, long snap) {
        Host& h = host_of(c, disk);
        Lock lock("vm-" + std::to_string(c.vmid));
        h.copy_file(disk.path, snap_file(disk, snap), false);  // (makes the .snap directory)
        log::info("snapshot " + std::to_string(snap) + " of " + quoted(disk.str()));
    }

    // The same full copy of a running VM's disk: libvirt copies it (blockcopy, the domain
    // keeps writing to its disk; a quiesced copy where libvirt refuses) into a temporary
    // beside the snapshot, synced, then renamed. The disk is read in its declared format.
    void snap_create_live(const TmContext& c, const HostPath& disk, long snap) {
        Host& h = host_of(c, disk);
        Lock lock("vm-" + std::to_string(c.vmid));
        std::string f = snap_file(disk, snap), format = disk_format(c.vm().require_disk(disk_id_of(disk.path)));
        h.batch({h.absent_step(f, "snapshot " + quoted(h.label(f)) + " already exists"), h.mkdir_step(disk.path + ".snap")});
        RemoteTemp tmp(h, io::temp_name_for(f));
        libvirt::live_copy(h, c.vm().deploy_id, disk_target(c, disk), disk.path, format, format, tmp.path());
        h.batch({h.sync_step(tmp.path()), h.rename_step(tmp.path(), f, false)});  // (renaming syncs the directory)
        tmp.keep();
        log::info("live snapshot " + std::to_string(snap) + " of " + quoted(disk.str()));
    }

    void snap_delete(const TmContext& c, const HostPath& disk, long snap) {
        Host& h = host_of(c, disk);
        Lock lock("vm-" + std::to_string(c.vmid));
        std::string f = snap_file(disk, snap);
        h.batch({h.present_step(f, "snapshot " + quoted(h.label(f)) + " does not exist"), h.remove_step(f)});
    }

    void snap_revert(const TmContext& c, const HostPath& disk, long snap) {
        Host& h = host_of(c, disk);
        Lock lock("vm-" + std::to_string(c.vmid));
        std::string f = snap_file(disk, snap);
        // copy first, then rename over the disk
        h.copy_file(f, disk.path, true, {h.present_step(f, "snapshot " + quoted(h.label(f)) + " does not exist")});
        log::info("reverted " + quoted(disk.str()) + " to snapshot " + std::to_string(snap));
    }

    MonitorResult monitor_ds(const std::string& dir) {
        // On the host itself: usage by statvfs, disk sizes from st_blocks (no du processes).
        MonitorResult m = filesystem_usage(dir);
        m.vms = vm_disk_usage(dir);
        return m;
    }

private:
    void deploy(const TmContext& c, const HostPath& src, const HostPath& dst) {
        check_disk_path(dst, c.vmid);
        Host& from = Host::get(src.host);
        Host& to = Host::get(dst.host);
        const VmDisk* d = disk_at(c, dst.path);  // (what the VM asks of it: read before anything changes)
        auto size = grown_size_mb(c, dst.path);
        // (the receiver writes the probes' marker of the host's datastore, as upstream's clone)
        transfer::copy(from, src.path, to, dst.path, transfer::Leftovers::keep, monitor_mark_of(dirname_of(dst.path), "ssh"));
        if (from.exists(src.path + ".snap")) transfer::copy(from, src.path + ".snap", to, dst.path + ".snap");
        std::vector<Step> after;  // on the copy where it landed, in one command
        if (thick(d)) after.push_back(to.preallocate_step(dst.path));
        if (size) {
            log::info("resizing to " + std::to_string(size) + " MiB");
            after.push_back(qemu::resize_step(to, disk_format(*d), dst.path, size, thick(d)));
        }
        if (!after.empty()) {
            after.push_back(to.sync_step(dst.path));
            to.batch(after);
        }
    }

    // The source is gone: fine when the destination is in place (a retry after the copy
    // landed and the source was removed), an error otherwise.
    static void check_moved(Host& to, const HostPath& src, const HostPath& dst) {
        if (!to.exists(dst.path)) throw DriverError(quoted(src.str()) + " does not exist");
        log::info(quoted(dst.str()) + " is already in place");
    }

    // Whether path is known to be missing on h (false when h cannot even be asked).
    static bool missing(Host& h, const std::string& path) {
        try {
            return !h.exists(path);
        } catch (const DriverError&) {
            return false;
        }
    }

    static Host& host_of(const TmContext& c, const HostPath& disk) {
        check_disk_path(disk, c.vmid);
        if (disk_id_of(disk.path) < 0) throw DriverError(quoted(disk.str()) + " is not a disk.N path");
        return Host::get(disk.host);
    }

    static std::string snap_file(const HostPath& disk, long snap) { return disk.path + ".snap/" + std::to_string(snap); }
};

}  // namespace

const TmTable& ssh_table() {
    static Ssh b;
    static const TmTable t{"ssh",
                           {{"clone", op(b, &Ssh::clone)},
                            {"ln", op(b, &Ssh::ln)},
                            {"mvds", op(b, &Ssh::mvds)},
                            {"cpds", op(b, &Ssh::cpds)},
                            {"mv", op(b, &Ssh::mv)},
                            {"premigrate", op(b, &Ssh::premigrate)},
                            {"postmigrate", op(b, &Ssh::postmigrate)},
                            {"failmigrate", op(b, &Ssh::failmigrate)},
                            {"snap_create", op(b, &Ssh::snap_create)},
                            {"snap_create_live", op(b, &Ssh::snap_create_live)},
                            {"snap_delete", op(b, &Ssh::snap_delete)},
                            {"snap_revert", op(b, &Ssh::snap_revert)},
                            {"context", op(b, &Ssh::context)},
                            {"delete", op(b, &Ssh::del)},
                            {"mkimage", op(b, &Ssh::mkimage)},
                            {"mkswap", mkswap_of(b)},
                            {"monitor", op(b, &Ssh::monitor)},
                            {"monitor_ds", op(b, &Ssh::monitor_ds)},
                            {"resize", op(b, &Ssh::resize)}}};
    return t;
}

}  // namespace onestor::backends
