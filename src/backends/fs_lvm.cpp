// Over 400 lines: one driver table's primitives plus the LV naming, activation and
// thin-pool logic only they use (a split by action would scatter that shared state).
//
// The `fs_lvm` transfer driver: images stay files in the fs image datastore (mounted on every
// host); each VM disk is a logical volume lv-one-<vm>-<disk> in the volume group vg-one-<sys ds>
// on shared block storage, active on the host that runs the VM, with disk.N a symlink to its
// device in the (shared) VM directory. With thin volumes (LVM_THIN_ENABLE) a VM's disks live in
// its own pool and disk snapshots are thin snapshots; linear volumes have none.
//
// Nothing is leaked and nothing is written over in place: an LV a failing clone/mkimage made
// is removed again; mvds/cpds write the image beside its final name, sync and rename; a revert
// builds the reverted volume completely before the names are swapped. Zeroing (BLKZEROOUT)
// covers only what could leak another VM's data on linear volumes; a thin pool zeroes itself.
#include "common.hpp"

#include "onestor/config.hpp"
#include "onestor/error.hpp"
#include "onestor/io.hpp"
#include "onestor/log.hpp"
#include "onestor/lvm.hpp"
#include "onestor/mkfs.hpp"
#include "onestor/qemu.hpp"
#include "onestor/scripts.hpp"

#include <netdb.h>
#include <unistd.h>
#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

namespace onestor::backends {
namespace {

constexpr unsigned long long kMiB = 1ull << 20;

class FsLvm final : public CommonTm {
public:
    // Persistent or not, the VM runs on an LV holding a copy of the image; mvds writes a
    // persistent disk back (upstream's ln is the same script as clone).
    void clone(const TmContext& c, const HostPath& src, const HostPath& dst) { deploy(c, src, dst); }
    void ln(const TmContext& c, const HostPath& src, const HostPath& dst) { deploy(c, src, dst); }

    void mvds(const TmContext& c, const HostPath& src, const HostPath& dst) {
        Disk d = disk_of(c, src);
        Host& h = Host::get(src.host);
        export_to(c, h, d, d.lv, host_image_path(dst.path, src.path));
        destroy(h, d.lv);
        h.remove(src.path);
    }

    void cpds(const TmContext& c, const HostPath& src, const HostPath& dst, long snap) {
        Disk d = disk_of(c, src);
        Host& h = Host::get(src.host);
        lvm::Lv from = d.lv;
        if (snap >= 0) {
            from = lvm::snapshot_lv(d.lv, snap);
            if (!lvm::find(h, from))
                throw DriverError("snapshot " + std::to_string(snap) + " of " + quoted(src.str()) + " does not exist");
        }
        export_to(c, h, d, from, host_image_path(dst.path, src.path));
    }

    void mv(const TmContext& c, const HostPath& src, const HostPath& dst) {
        if (disk_id_of(src.path) < 0) {
            if (src.path != dst.path) move_vm_dir(c, src, dst);
            return;
        }
        check_disk_path(src, c.vmid);
        check_disk_path(dst, c.vmid);
        Host& from = Host::get(src.host);
        std::optional<Disk> d = lv_disk_of(c, from, src);
        if (!d) {  // a file disk (context, volatile): it moves with the shared directory
            log::info(quoted(src.str()) + " is no logical volume: it moves with its directory");
            return;
        }
        int state = c.vm().lcm_state;
        bool resuming = state == lcm::PrologResume || state == lcm::PrologUndeploy || state == lcm::PrologResumeFailure ||
                        state == lcm::PrologUndeployFailure;
        bool stopping = state == lcm::EpilogStop || state == lcm::EpilogUndeploy || state == lcm::EpilogStopFailure ||
                        state == lcm::EpilogUndeployFailure;
        if (!resuming && !from.local()) {
            lvm::deactivate(from, d->lv);
            from.remove(join_path(dirname_of(src.path), ".host"));
            log::info("deactivated " + quoted(d->lv.spec()) + " on " + from.name());
        }
        if (stopping) return;
        Host& to = Host::get(dst.host);
        long new_ds = ds_of(dst);
        if (new_ds != d->ds) {
            // Another system datastore: copy into its group, where a host can see both.
            Host& worker = from.local() ? to : from;
            lvm::Lv moved = lvm::disk_lv(new_ds, c.vmid, d->id);
            copy_volume(c, worker, *d, moved);
            worker.symlink(moved.device(), src.path);  // the directory move carries it
            destroy(worker, d->lv);
            d->lv = moved;
            if (!worker.local() && &worker != &to) lvm::deactivate(worker, moved);
        }
        lvm::activate(to, d->lv);
        mark_host(to, dirname_of(src.path));
        log::info("activated " + quoted(d->lv.spec()) + " on " + to.name());
    }

    // Live migration: the destination activates the VM's volumes before the hypervisor
    // moves it, the source lets go of them after.
    void premigrate(const TmContext& c, const MigrateRequest& r) {
        Host& to = Host::get(r.dst_host);
        for (const auto& lv : vm_volumes(c, to, r.vm_dir)) lvm::activate(to, lv);
        migrate_other(c, r);
    }

    void postmigrate(const TmContext& c, const MigrateRequest& r) {
        Host& from = Host::get(r.src_host);
        for (const auto& lv : vm_volumes(c, from, r.vm_dir)) lvm::deactivate(from, lv);
        Host& to = Host::get(r.dst_host);
        mark_host(to, clean_path(r.vm_dir, "VM directory"));
        migrate_other(c, r);
    }

    // Upstream's activate, run on the host itself at boot (cron @reboot): the disk LVs of the
    // VMs this host owns (their .host names it) are active again. Only a disk.N link to its own
    // LV (/dev/vg-one-<ds>/lv-one-<vmid>-<N>) whose device is missing and that lvs knows.
    void activate_host() {
        Host& h = Host::local_host();
        std::set<std::string> me = own_names();
        std::string loc = clean_path(config().get("DATASTORE_LOCATION"), "DATASTORE_LOCATION");
        auto number = [](const std::string& n) {
            return !n.empty() && n.size() < 10 && n.find_first_not_of("0123456789") == std::string::npos;
        };
        int activated = 0;
        for (const auto& ds : h.list(loc)) {
            if (!number(ds)) continue;
            for (const auto& vm : h.list(join_path(loc, ds))) {
                std::string dir = join_path(join_path(loc, ds), vm);
                if (!number(vm) || h.readlink(dir) != "") continue;
                std::ifstream in(join_path(dir, ".host"));
                std::string owner;
                if (!std::getline(in, owner) || !me.count(owner)) continue;
                for (const auto& n : h.list(dir)) {
                    int id = disk_id_of("/" + n);
                    std::string target = id >= 0 ? h.readlink(join_path(dir, n)) : "";
                    auto ref = lvm::parse_disk_device(target);
                    if (!ref || std::to_string(ref->vmid) != vm || ref->disk != id) continue;
                    lvm::Lv lv = lvm::disk_lv(ref->ds, ref->vmid, ref->disk);
                    if (lv.device() != target || h.exists(target) || !lvm::find(h, lv)) continue;
                    lvm::activate(h, lv);
                    ++activated;
                    log::info("activated " + quoted(lv.spec()) + " for VM " + vm);
                }
            }
        }
        log::info(std::to_string(activated) + " volume(s) activated");
    }

    // This machine's names as a front-end may know it: hostname, its short form, the FQDN.
    static std::set<std::string> own_names() {
        char buf[256] = {};
        if (::gethostname(buf, sizeof buf - 1) != 0) throw_errno("cannot read the host name", "gethostname");
        std::set<std::string> names{buf, std::string(buf).substr(0, std::string(buf).find('.'))};
        addrinfo hints{};
        hints.ai_flags = AI_CANONNAME;
        addrinfo* res = nullptr;
        if (::getaddrinfo(buf, nullptr, &hints, &res) == 0) {
            if (res && res->ai_canonname) names.insert(res->ai_canonname);
            ::freeaddrinfo(res);
        }
        return names;
    }

    // The VM stays on the source: the destination lets go of the volumes premigrate activated
    // (a volume active on two hosts is one write away from corruption).
    void failmigrate(const TmContext& c, const MigrateRequest& r) {
        Host& to = Host::get(r.dst_host);
        for (const auto& lv : vm_volumes(c, to, r.vm_dir)) lvm::deactivate(to, lv);
        migrate_other(c, r);
    }

    void del(const TmContext& c, const HostPath& dst) {
        Host& h = Host::get(dst.host);
        if (is_vm_dir(dst, c.vmid)) {
            for (const auto& n : h.list(dst.path)) {
                if (disk_id_of("/" + n) < 0) continue;
                HostPath disk{dst.host, join_path(dst.path, n)};
                if (auto d = lv_disk_of(c, h, disk)) destroy(h, d->lv);
            }
            CommonTm::del(c, dst);
            return;
        }
        check_disk_path(dst, c.vmid);
        if (auto d = lv_disk_of(c, h, dst)) {
            destroy(h, d->lv);
            h.remove(dst.path);
            return;
        }
        CommonTm::del(c, dst);
    }

    void mkimage(const TmContext& c, long size_mb, const std::string& format, const HostPath& dst) {
        check_disk_path(dst, c.vmid);
        int id = disk_id_of(dst.path);
        if (id < 0) throw DriverError(quoted(dst.str()) + " is not a disk.N path");
        if (size_mb <= 0) throw DriverError("cannot make a volatile disk of " + std::to_string(size_mb) + " MiB");
        const VmDisk* vd = c.vm().disk(id);
        mkfs::Request want = mkfs::volatile_disk(format, vd ? vd->get("FS") : "");
        Host& h = Host::get(dst.host);
        lvm::Lv lv = lvm::disk_lv(ds_of(dst), c.vmid, id);
        bool thin = vd && disk_flag(*vd, "LVM_THIN_ENABLE");
        h.mkdir_p(dirname_of(dst.path));
        Created made(h, lv);  // what lvcreate makes is this action's: removed on failure
        create(made, c.vmid, static_cast<unsigned long long>(size_mb), thin);
        // An LV is always raw: a qcow2 volatile disk is a raw one here, as upstream.
        if (!thin && config().get_bool("ZERO_LVM_ON_CREATE")) lvm::zero(h, lv.device(), 0);
        if (want.format == "swap") mkfs::swap(h, lv.device());
        if (!want.fs.empty()) mkfs::filesystem(h, want.fs, lv.device());
        place(h, lv, dst);
        made.keep();
    }

    void resize(const TmContext& c, const HostPath& disk, long size_mb) {
        Disk d = disk_of(c, disk);
        Host& h = Host::get(disk.host);
        auto st = lvm::find(h, d.lv);
        if (!st) throw DriverError(quoted(d.lv.spec()) + " does not exist");
        // size_mb is 1..kMaxSizeMb (ArgKind::SizeMb): `want` is at most 2^60, never wrapped.
        unsigned long long want = static_cast<unsigned long long>(size_mb) * kMiB;
        if (size_mb <= 0 || want < st->bytes)
            throw DriverError("cannot shrink " + quoted(disk.str()) + " to " + std::to_string(size_mb) + " MiB");
        if (want == st->bytes) return;
        unsigned long long grow_mb = (want - st->bytes + kMiB - 1) / kMiB;
        if (!st->pool.empty()) lvm::extend_pool(h, {d.lv.vg, st->pool}, grow_mb);
        lvm::extend(h, d.lv, static_cast<unsigned long long>(size_mb));
        if (st->pool.empty() && config().get_bool("ZERO_LVM_ON_CREATE")) {
            if (!st->active) lvm::activate(h, d.lv);
            lvm::zero(h, d.lv.device(), st->bytes);
            if (!st->active) lvm::deactivate(h, d.lv);
        }
        log::info("grew " + quoted(d.lv.spec()) + " to " + std::to_string(size_mb) + " MiB");
    }

    void snap_create(const TmContext& c, const HostPath& disk, long snap) {
        auto [h, d, st] = thin_disk(c, disk, "snap_create");
        lvm::Lv s = lvm::snapshot_lv(d.lv, snap);
        if (lvm::find(*h, s))
            throw DriverError("snapshot " + std::to_string(snap) + " of " + quoted(disk.str()) + " already exists");
        // Room for the origin to be rewritten whole after the snapshot: the pool never
        // overcommits, so a full pool cannot stop the VM.
        lvm::extend_pool(*h, {d.lv.vg, st.pool}, (st.bytes + kMiB - 1) / kMiB);
        lvm::snapshot(*h, d.lv, s, false);
        log::info("snapshot " + std::to_string(snap) + " of " + quoted(disk.str()) + " is " + quoted(s.spec()));
    }

    void snap_delete(const TmContext& c, const HostPath& disk, long snap) {
        auto [h, d, st] = thin_disk(c, disk, "snap_delete");
        lvm::Lv s = lvm::snapshot_lv(d.lv, snap);
        if (!lvm::find(*h, s))
            throw DriverError("snapshot " + std::to_string(snap) + " of " + quoted(disk.str()) + " does not exist");
        lvm::remove(*h, s);
    }

    void snap_revert(const TmContext& c, const HostPath& disk, long snap) {
        auto [h, d, st] = thin_disk(c, disk, "snap_revert");
        lvm::Lv s = lvm::snapshot_lv(d.lv, snap);
        if (!lvm::find(*h, s))
            throw DriverError("snapshot " + std::to_string(snap) + " of " + quoted(disk.str()) + " does not exist");
        // The reverted volume is made whole first (a thin snapshot of the snapshot), then
        // takes the disk's name; the old volume goes last. A crash leaves either name set
        // complete, and the snapshot itself is never touched.
        lvm::Lv fresh{d.lv.vg, d.lv.name + "_new"}, old{d.lv.vg, d.lv.name + "_old"};
        lvm::remove(*h, fresh);  // a leftover of an interrupted revert
        lvm::remove(*h, old);
        lvm::snapshot(*h, s, fresh, false);
        lvm::rename(*h, d.lv, old.name);
        try {
            lvm::rename(*h, fresh, d.lv.name);
        } catch (...) {
            CleanupScope undoing;  // the old name back, even after SIGTERM
            lvm::rename(*h, old, d.lv.name);
            throw;
        }
        if (st.active) {
            lvm::activate(*h, d.lv);
            lvm::deactivate(*h, old);
        }
        lvm::remove(*h, old);
        log::info("reverted " + quoted(disk.str()) + " to snapshot " + std::to_string(snap));
    }

    MonitorResult monitor(const DsDump& dump) {
        if (dump.datastore.id < 0) throw DriverError("the action data names no DATASTORE/ID");
        std::string vg = lvm::vg_of(dump.datastore.id);
        // The group is read where it is visible: a BRIDGE_LIST host, else the front-end.
        std::vector<std::string> hosts;
        {
            std::istringstream in(dump.datastore.attr("BRIDGE_LIST"));
            for (std::string w; in >> w;) hosts.push_back(w);
        }
        hosts.push_back("");
        for (const auto& name : hosts) {
            Host& h = Host::get(name);
            lvm::VgUsage u;
            try {
                u = lvm::usage(h, vg);
            } catch (const DriverError& e) {
                log::info(std::string("no volume group here: ") + e.what());
                continue;
            }
            MonitorResult m;
            m.total_mb = u.total_mb;
            m.free_mb = u.free_mb;
            m.used_mb = u.total_mb - u.free_mb;
            if (dump.monitor_vm_disks) m.vms = vm_usage(lvm::list(h, vg));
            return m;
        }
        return CommonTm::monitor(dump);  // no group anywhere: the directory's file system
    }

private:
    struct Disk {
        long ds = -1;
        int id = -1;
        lvm::Lv lv;
    };

    // What lvcreate made for this action (the volume, and the VM's thin pool when it had to
    // be made): removed again unless kept. Nothing is armed before lvcreate succeeds, so a
    // volume that already existed (lvcreate refuses it) is never removed by us.
    struct Created {
        Host* h;
        lvm::Lv lv;
        bool lv_made = false, pool_made = false, kept = false;
        std::string pool;
        void keep() { kept = true; }
        Created(Host& host, lvm::Lv l) : h(&host), lv(std::move(l)) {}
        Created(Created&&) = delete;
        ~Created() {
            if (kept || (!lv_made && !pool_made)) return;
            CleanupScope undoing;  // runs after SIGTERM too: that is when it matters most
            try {
                log::info("removing " + quoted(lv_made ? lv.spec() : lv.vg + "/" + pool) + ", made by this failed action");
                if (lv_made)
                    destroy(*h, lv, false);  // and the pool, when it holds nothing else
                else
                    remove_pool_if_unused(*h, {lv.vg, pool});
            } catch (const std::exception& e) {
                log::error(std::string("could not remove ") + quoted(lv.spec()) + ": " + e.what());
            }
        }
    };

    static long ds_of(const HostPath& p) {
        // <root>/<sys ds>/<vmid>[/disk.N]
        std::string dir = disk_id_of(p.path) >= 0 ? dirname_of(p.path) : p.path;
        std::string ds = basename_of(dirname_of(dir));
        if (ds.empty() || ds.size() > 9 || ds.find_first_not_of("0123456789") != std::string::npos)
            throw DriverError(quoted(p.str()) + " is not under a system datastore directory <root>/<id>/<vmid>");
        return std::stol(ds);
    }

    // disk.N of this VM that is a link to its own LV; nullopt when it is not an LV link.
    // A link to any other VM's (or disk's) LV is refused: it is never touched.
    static std::optional<Disk> lv_disk_of(const TmContext& c, Host& h, const HostPath& disk) {
        int id = disk_id_of(disk.path);
        std::string link = h.readlink(disk.path);
        if (id < 0 || link.empty() || link.rfind("/dev/", 0) != 0) return std::nullopt;
        auto ref = lvm::parse_disk_device(link);
        long ds = ds_of(disk);
        if (!ref || ref->vmid != c.vmid || ref->disk != id || (ref->ds != ds && c.action != "mv"))
            throw DriverError(quoted(disk.str()) + " points at " + quoted(link) + ", not at " +
                              quoted(lvm::disk_lv(ds, c.vmid, id).device()) + ": refusing to touch it");
        return Disk{ref->ds, id, lvm::disk_lv(ref->ds, c.vmid, id)};
    }

    static Disk disk_of(const TmContext& c, const HostPath& disk) {
        check_disk_path(disk, c.vmid);
        auto d = lv_disk_of(c, Host::get(disk.host), disk);
        if (!d) throw DriverError(quoted(disk.str()) + " is not a logical volume disk");
        return *d;
    }

    struct ThinDisk {
        Host* h;
        Disk d;
        lvm::LvState st;
    };
    ThinDisk thin_disk(const TmContext& c, const HostPath& disk, const std::string& action) const {
        Disk d = disk_of(c, disk);
        Host& h = Host::get(disk.host);
        auto st = lvm::find(h, d.lv);
        if (!st) throw DriverError(quoted(d.lv.spec()) + " does not exist");
        if (st->pool.empty())
            unsupported("fs_lvm", action,
                        quoted(d.lv.spec()) + " is a linear volume; snapshots need thin volumes (LVM_THIN_ENABLE=yes)");
        return {&h, d, *st};
    }

    // Makes the volume `made` guards: linear, or thin in the VM's pool (made when missing).
    static void create(Created& made, long vmid, unsigned long long mb, bool thin) {
        if (thin) {
            lvm::Lv pool = lvm::pool_lv(made.lv.vg, vmid);
            made.pool = pool.name;
            lvm::create_thin(*made.h, made.lv, pool, mb, [&] { made.pool_made = true; });
        } else {
            lvm::create_linear(*made.h, made.lv, mb);
        }
        made.lv_made = true;
    }

    void deploy(const TmContext& c, const HostPath& src, const HostPath& dst) {
        check_disk_path(dst, c.vmid);
        int id = disk_id_of(dst.path);
        if (id < 0) throw DriverError(quoted(dst.str()) + " is not a disk.N path");
        const VmDisk& vd = c.vm().require_disk(id);
        Host& h = Host::get(dst.host);
        std::string image = host_image_path(src.path, dst.path);
        // The image is checked before any volume exists: its declared format, no backing
        // or data file outside its own snapshot directory.
        std::string format = image_format(h, image, vd, false);
        qemu::ImageInfo info = qemu::validate(h, image, format, image + ".snap");
        unsigned long long mb = std::max<unsigned long long>(static_cast<unsigned long long>(std::max(0L, vd.size_mb("SIZE"))),
                                                             io::mib_ceil(info.virtual_size));
        bool thin = disk_flag(vd, "LVM_THIN_ENABLE");
        lvm::Lv lv = lvm::disk_lv(ds_of(dst), c.vmid, id);
        h.mkdir_p(dirname_of(dst.path));
        Created made(h, lv);  // what lvcreate makes is this action's: removed on failure
        create(made, c.vmid, mb, thin);
        log::info("writing " + quoted(image) + " (" + format + ") into " + quoted(lv.spec()));
        // Only the part the image does not cover (the copy writes or zeroes the rest).
        if (!thin && config().get_bool("ZERO_LVM_ON_CREATE")) lvm::zero(h, lv.device(), info.virtual_size & ~4095ull);
        write_volume(h, image, format, lv.device(), thin);
        place(h, lv, dst);
        made.keep();
    }

    // qemu-img writes every allocated extent and zeroes the holes (BLKZEROOUT on a block
    // device); a new thin volume already reads zeros, so holes are skipped there.
    static void write_volume(Host& h, const std::string& src, const std::string& format, const std::string& dev, bool thin) {
        Argv a = config().get_words("QEMU_IMG");
        a.insert(a.end(), {"convert", "-q", "-n", "-W", "-f", format, "-O", "raw"});
        if (thin) a.push_back("--target-is-zero");
        a.insert(a.end(), {src, dev});
        h.run(a, {.timeout_s = static_cast<int>(config().get_int("COPY_TIMEOUT")),
                  .what = "cannot write " + quoted(h.label(src)) + " into " + quoted(dev),
                  .limits = qemu::data_limits()});
    }

    // A volume of another system datastore, copied by a host that sees both groups.
    static void copy_volume(const TmContext& c, Host& h, const Disk& d, const lvm::Lv& to) {
        auto st = lvm::find(h, d.lv);
        if (!st) throw DriverError(quoted(d.lv.spec()) + " does not exist");
        bool thin = !st->pool.empty();
        Created made(h, to);
        create(made, c.vmid, (st->bytes + kMiB - 1) / kMiB, thin);
        lvm::activate(h, d.lv);
        log::info("copying " + quoted(d.lv.spec()) + " to " + quoted(to.spec()) + " on " + h.name());
        write_volume(h, d.lv.device(), "raw", to.device(), thin);
        made.keep();
    }

    // The disk's (or a snapshot's) content as an image file: beside the target, synced,
    // renamed onto it. The image's own format is kept (an LV is raw).
    void export_to(const TmContext& c, Host& h, const Disk& d, const lvm::Lv& from, const std::string& target) {
        const VmDisk* vd = c.vm().disk(d.id);
        std::string format = vd ? vd->get("FORMAT") : "";
        if (format.empty()) format = "raw";
        if (format != "raw" && format != "qcow2") throw DriverError("unsupported image format " + quoted(format));
        auto st = lvm::find(h, from);
        if (!st) throw DriverError(quoted(from.spec()) + " does not exist");
        if (!st->active) lvm::activate(h, from);
        h.mkdir_p(dirname_of(target));
        RemoteTemp tmp(h, io::temp_name_for(target));
        log::info("copying " + quoted(from.spec()) + " to " + quoted(h.label(target)));
        Argv a = config().get_words("QEMU_IMG");
        a.insert(a.end(), {"convert", "-q", "-W", "-f", "raw", "-O", format, from.device(), tmp.path()});
        h.run(a, {.timeout_s = static_cast<int>(config().get_int("COPY_TIMEOUT")),
                  .what = "cannot copy " + quoted(from.spec()) + " to " + quoted(h.label(target))});
        h.sync(tmp.path());
        h.commit(tmp, target, true);
        if (!st->active) lvm::deactivate(h, from);
    }

    // Removes a disk's volume, its snapshots and, when it was the last one, its pool.
    // ZERO_LVM_ON_DELETE zeroes a linear volume first (a thin pool zeroes what it reuses).
    static void destroy(Host& h, const lvm::Lv& lv, bool zero = true) {
        auto all = lvm::list(h, lv.vg);
        auto it = all.find(lv.name);
        if (it == all.end()) return;
        std::string pool = it->second.pool;
        for (const auto& [n, s] : all)
            if (n.rfind(lv.name + "_s", 0) == 0 && n.find_first_not_of("0123456789", lv.name.size() + 2) == std::string::npos)
                lvm::remove(h, {lv.vg, n});
        if (pool.empty() && zero && config().get_bool("ZERO_LVM_ON_DELETE")) {
            if (!it->second.active) lvm::activate(h, lv);
            lvm::zero(h, lv.device(), 0);
        }
        lvm::remove(h, lv);
        if (!pool.empty()) remove_pool_if_unused(h, {lv.vg, pool});
    }

    static void remove_pool_if_unused(Host& h, const lvm::Lv& pool) {
        for (const auto& [n, s] : lvm::list(h, pool.vg))
            if (s.pool == pool.name) return;
        lvm::remove(h, pool);
    }

    // disk.N -> the device, and the host that owns the VM (read at boot by upstream's activate).
    static void place(Host& h, const lvm::Lv& lv, const HostPath& dst) {
        h.symlink(lv.device(), dst.path);
        mark_host(h, dirname_of(dst.path));
        log::info(quoted(dst.str()) + " is " + quoted(lv.device()));
    }

    static void mark_host(Host& h, const std::string& vm_dir) {
        if (h.local()) return;
        h.run({"sh", "-c", scripts::kWriteLine, "sh", h.name(), join_path(vm_dir, ".host")},
              {.timeout_s = 60, .what = "cannot write " + quoted(h.label(join_path(vm_dir, ".host")))});
    }

    // The VM's own LV disks in its directory (as `h` sees it).
    static std::vector<lvm::Lv> vm_volumes(const TmContext& c, Host& h, const std::string& vm_dir) {
        std::string dir = clean_path(vm_dir, "VM directory");
        std::vector<lvm::Lv> out;
        for (const auto& n : h.list(dir)) {
            if (disk_id_of("/" + n) < 0) continue;
            HostPath disk{h.name(), join_path(dir, n)};
            if (auto d = lv_disk_of(c, h, disk)) out.push_back(d->lv);
        }
        return out;
    }

    // Each VM's disk LVs and their snapshot LVs (<name>_s<snap>), in name order.
    static std::vector<VmDiskUsage> vm_usage(const std::map<std::string, lvm::LvState>& lvs) {
        std::map<long, VmDiskUsage> polls;
        for (const auto& [n, s] : lvs) {
            auto ref = lvm::parse_disk_device("/dev/vg-one-0/" + n.substr(0, n.find('_')));
            if (!ref) continue;
            unsigned long long mb = (s.bytes + kMiB - 1) / kMiB;
            auto us = n.find("_s");
            if (us == std::string::npos)
                polls[ref->vmid].disk(ref->disk, mb);
            else if (n.size() > us + 2 && n.find_first_not_of("0123456789", us + 2) == std::string::npos)
                polls[ref->vmid].snapshot(n.substr(us + 2), ref->disk, mb);
        }
        std::vector<VmDiskUsage> out;
        for (auto& [vm, u] : polls) {
            u.vm_id = std::to_string(vm);
            out.push_back(std::move(u));
        }
        return out;
    }
};

}  // namespace

const TmTable& fs_lvm_table() {
    static FsLvm b;
    static const TmTable t{"fs_lvm",
                           {{"clone", op(b, &FsLvm::clone)},
                            {"ln", op(b, &FsLvm::ln)},
                            {"mvds", op(b, &FsLvm::mvds)},
                            {"cpds", op(b, &FsLvm::cpds)},
                            {"mv", op(b, &FsLvm::mv)},
                            {"premigrate", op(b, &FsLvm::premigrate)},
                            {"postmigrate", op(b, &FsLvm::postmigrate)},
                            {"failmigrate", op(b, &FsLvm::failmigrate)},
                            {"activate", op(b, &FsLvm::activate_host)},
                            {"snap_create", op(b, &FsLvm::snap_create)},
                            {"snap_delete", op(b, &FsLvm::snap_delete)},
                            {"snap_revert", op(b, &FsLvm::snap_revert)},
                            {"context", op(b, &FsLvm::context)},
                            {"delete", op(b, &FsLvm::del)},
                            {"mkimage", op(b, &FsLvm::mkimage)},
                            {"mkswap", mkswap_of(b)},
                            {"monitor", op(b, &FsLvm::monitor)},
                            {"resize", op(b, &FsLvm::resize)}}};
    return t;
}

}  // namespace onestor::backends
