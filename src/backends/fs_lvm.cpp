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
        Seen t = disk_of(c, src);
        std::string target = host_image_path(dst.path, src.path);
        RemoteTemp tmp(*t.h, io::temp_name_for(target));
        std::vector<Step> steps = export_steps(c, t, t.d.lv, tmp.path(), target);
        // The disk's link goes once the image is saved and before the volume is zeroed: a
        // retry after a later failure finds no disk to save (an error), where it would
        // otherwise copy the zeroed volume over the saved image.
        steps.push_back(t.h->remove_step(src.path));
        for (auto& s : wipe_steps(*t.h, t.d.lv, t.lvs)) steps.push_back(std::move(s));
        t.h->batch(steps);
        tmp.keep();
        std::vector<Step> removal = removal_steps(*t.h, t.d.lv, t.lvs);
        auto lock = lvm::metadata_lock(t.d.lv.vg);
        t.h->batch(removal);  // (a third round trip: the group's lock is not held for the copy)
    }

    void cpds(const TmContext& c, const HostPath& src, const HostPath& dst, long snap) {
        Seen t = disk_of(c, src);
        lvm::Lv from = snap >= 0 ? lvm::snapshot_lv(t.d.lv, snap) : t.d.lv;
        if (snap >= 0 && !t.lvs.count(from.name))
            throw DriverError("snapshot " + std::to_string(snap) + " of " + quoted(src.str()) + " does not exist");
        std::string target = host_image_path(dst.path, src.path);
        RemoteTemp tmp(*t.h, io::temp_name_for(target));
        std::vector<Step> steps = export_steps(c, t, from, tmp.path(), target);
        if (auto st = t.lvs.find(from.name); st != t.lvs.end() && !st->second.active) {
            auto after = t.lvs;  // (export_steps activated it)
            after[from.name].active = true;
            for (auto& s : lvm::deactivate_steps(*t.h, from, after)) steps.push_back(std::move(s));
        }
        t.h->batch(steps);
        tmp.keep();
    }

    void mv(const TmContext& c, const HostPath& src, const HostPath& dst) {
        if (disk_id_of(src.path) < 0) {
            if (src.path != dst.path) move_vm_dir(c, src, dst);
            return;
        }
        check_disk_path(src, c.vmid);
        check_disk_path(dst, c.vmid);
        Host& from = Host::get(src.host);
        std::optional<Disk> d = lv_disk_of(c, src, from.readlink(src.path));  // (the group may not be visible there)
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
        std::vector<Step> steps;
        for (const auto& lv : vm_volumes(c, to, r.vm_dir).lvs) steps.push_back(lvm::activate_step(to, lv));
        to.batch(steps);
        migrate_other(c, r);
    }

    void postmigrate(const TmContext& c, const MigrateRequest& r) {
        deactivate_all(c, Host::get(r.src_host), r.vm_dir);
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
        deactivate_all(c, Host::get(r.dst_host), r.vm_dir);
        migrate_other(c, r);
    }

    void del(const TmContext& c, const HostPath& dst) {
        Host& h = Host::get(dst.host);
        Volumes v;
        if (is_vm_dir(dst, c.vmid)) {
            v = vm_volumes(c, h, dst.path);
        } else {
            check_disk_path(dst, c.vmid);
            Looked l = look(c, h, dst);
            if (l.d) v = {{l.d->lv}, l.lvs};
        }
        if (v.lvs.empty()) {
            CommonTm::del(c, dst);
            return;
        }
        std::vector<Step> wipe, removal;
        for (const auto& lv : v.lvs) {
            for (auto& s : wipe_steps(h, lv, v.group)) wipe.push_back(std::move(s));
            for (auto& s : removal_steps(h, lv, v.group)) removal.push_back(std::move(s));
        }
        h.batch(wipe);  // (a round trip of its own: the group's lock is not held for the zeroing)
        removal.push_back(h.remove_step(dst.path));
        auto lock = lvm::metadata_lock(v.lvs.front().vg);
        h.batch(removal);
        log::info("deleted " + quoted(dst.str()));
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
        Created made(h, lv);  // what lvcreate makes is this action's: removed on failure
        made.make(c.vmid, static_cast<unsigned long long>(size_mb), thin, {h.mkdir_step(dirname_of(dst.path))});
        // An LV is always raw: a qcow2 volatile disk is a raw one here, as upstream.
        std::vector<Step> steps;
        if (!thin && config().get_bool("ZERO_LVM_ON_CREATE")) steps.push_back(lvm::zero_step(h, lv.device(), 0));
        if (want.format == "swap") steps.push_back(mkfs::swap_step(h, lv.device()));
        if (!want.fs.empty()) steps.push_back(mkfs::filesystem_step(h, want.fs, lv.device()));
        for (auto& s : place_steps(h, lv, dst)) steps.push_back(std::move(s));
        h.batch(steps);  // (a round trip of its own: the group's lock is not held for the zeroing)
        made.keep();
        log::info(quoted(dst.str()) + " is " + quoted(lv.device()));
    }

    void resize(const TmContext& c, const HostPath& disk, long size_mb) {
        Seen t = disk_of(c, disk);
        Host& h = *t.h;
        const Disk& d = t.d;
        auto st = t.state();
        // size_mb is 1..kMaxSizeMb (ArgKind::SizeMb): `want` is at most 2^60, never wrapped.
        unsigned long long want = static_cast<unsigned long long>(size_mb) * kMiB;
        if (size_mb <= 0 || want < st->bytes)
            throw DriverError("cannot shrink " + quoted(disk.str()) + " to " + std::to_string(size_mb) + " MiB");
        if (want == st->bytes) return;
        unsigned long long grow_mb = (want - st->bytes + kMiB - 1) / kMiB;
        {
            std::vector<Step> steps;
            if (!st->pool.empty()) steps.push_back(lvm::extend_pool_step(h, {d.lv.vg, st->pool}, grow_mb));
            steps.push_back(lvm::extend_step(h, d.lv, static_cast<unsigned long long>(size_mb)));
            auto lock = lvm::metadata_lock(d.lv.vg);
            h.batch(steps);
        }
        if (st->pool.empty() && config().get_bool("ZERO_LVM_ON_CREATE")) {
            std::vector<Step> steps;
            if (!st->active) steps.push_back(lvm::activate_step(h, d.lv));
            steps.push_back(lvm::zero_step(h, d.lv.device(), st->bytes));
            auto after = t.lvs;
            after[d.lv.name].active = true;
            if (!st->active)
                for (auto& s : lvm::deactivate_steps(h, d.lv, after)) steps.push_back(std::move(s));
            h.batch(steps);  // (a round trip of its own: the group's lock is not held for the zeroing)
        }
        log::info("grew " + quoted(d.lv.spec()) + " to " + std::to_string(size_mb) + " MiB");
    }

    void snap_create(const TmContext& c, const HostPath& disk, long snap) {
        auto [h, d, st, lvs] = thin_disk(c, disk, "snap_create");
        lvm::Lv s = lvm::snapshot_lv(d.lv, snap);
        if (lvs.count(s.name))
            throw DriverError("snapshot " + std::to_string(snap) + " of " + quoted(disk.str()) + " already exists");
        // Room for the origin to be rewritten whole after the snapshot: the pool never
        // overcommits, so a full pool cannot stop the VM.
        auto lock = lvm::metadata_lock(d.lv.vg);
        h->batch({lvm::extend_pool_step(*h, {d.lv.vg, st.pool}, (st.bytes + kMiB - 1) / kMiB), lvm::snapshot_step(*h, d.lv, s)});
        log::info("snapshot " + std::to_string(snap) + " of " + quoted(disk.str()) + " is " + quoted(s.spec()));
    }

    void snap_delete(const TmContext& c, const HostPath& disk, long snap) {
        auto [h, d, st, lvs] = thin_disk(c, disk, "snap_delete");
        lvm::Lv s = lvm::snapshot_lv(d.lv, snap);
        if (!lvs.count(s.name))
            throw DriverError("snapshot " + std::to_string(snap) + " of " + quoted(disk.str()) + " does not exist");
        auto lock = lvm::metadata_lock(d.lv.vg);
        h->batch({lvm::remove_step(*h, s)});
    }

    void snap_revert(const TmContext& c, const HostPath& disk, long snap) {
        auto [h, d, st, lvs] = thin_disk(c, disk, "snap_revert");
        lvm::Lv s = lvm::snapshot_lv(d.lv, snap);
        if (!lvs.count(s.name))
            throw DriverError("snapshot " + std::to_string(snap) + " of " + quoted(disk.str()) + " does not exist");
        // The reverted volume is made whole first (a thin snapshot of the snapshot), then
        // takes the disk's name; the old volume goes last. A crash leaves either name set
        // complete, and the snapshot itself is never touched.
        lvm::Lv fresh{d.lv.vg, d.lv.name + "_new"}, old{d.lv.vg, d.lv.name + "_old"};
        std::vector<Step> steps;
        for (const auto& leftover : {fresh, old})  // of an interrupted revert
            if (lvs.count(leftover.name)) steps.push_back(lvm::remove_step(*h, leftover));
        steps.push_back(lvm::snapshot_step(*h, s, fresh));
        steps.push_back(lvm::rename_step(*h, d.lv, old.name));
        steps.push_back(lvm::rename_step(*h, fresh, d.lv.name, lvm::rename_command(old, d.lv.name)));
        if (st.active) {
            auto after = lvs;  // (the old volume keeps the disk's state; the disk keeps the pool active)
            after[old.name] = st;
            steps.push_back(lvm::activate_step(*h, d.lv));
            for (auto& x : lvm::deactivate_steps(*h, old, after)) steps.push_back(std::move(x));
        }
        steps.push_back(lvm::remove_step(*h, old));
        auto lock = lvm::metadata_lock(d.lv.vg);
        try {
            h->batch(steps);
        } catch (...) {
            CleanupScope undoing;  // the old name back, even after SIGTERM
            try {
                auto now = lvm::list(*h, d.lv.vg);
                if (!now.count(d.lv.name) && now.count(old.name)) h->batch({lvm::rename_step(*h, old, d.lv.name)});
            } catch (const std::exception& e) {
                log::error("could not rename " + quoted(old.spec()) + " back to " + quoted(d.lv.name) + ": " + e.what());
            }
            throw;
        }
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
            std::vector<Argv> questions{lvm::usage_command(vg)};
            if (dump.monitor_vm_disks) questions.push_back(lvm::list_command(vg));
            std::vector<std::string> a;
            lvm::VgUsage u;
            try {
                a = ask(h, questions);
                std::string why;
                auto vgs = answered(a[0], &why);
                if (!vgs) throw DriverError(why);
                u = lvm::parse_vgs(*vgs, vg);
            } catch (const DriverError& e) {
                log::info(std::string("no volume group here: ") + e.what());
                continue;
            }
            MonitorResult m;
            m.total_mb = u.total_mb;
            m.free_mb = u.free_mb;
            m.used_mb = u.total_mb - u.free_mb;
            if (dump.monitor_vm_disks) m.vms = vm_usage(group(a[1], vg));
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
    using Group = std::map<std::string, lvm::LvState>;

    // Questions whose failure does not end their batch (kAnswer), asked in one round trip.
    static std::vector<std::string> ask(Host& h, const std::vector<Argv>& questions) {
        std::vector<Step> steps;
        for (const auto& q : questions) {
            Argv a = {"sh", "-c", scripts::kAnswer, "sh"};
            a.insert(a.end(), q.begin(), q.end());
            steps.push_back(h.ask_step(a, "cannot ask host " + quoted(h.name()), 120));
        }
        return h.batch(steps);
    }
    // An answer's output; nullopt when the command failed (`complaint`: what it said).
    static std::optional<std::string> answered(const std::string& answer, std::string* complaint = nullptr) {
        size_t at = answer.find("\nexit ");
        if (at == std::string::npos) return answer;
        if (complaint) *complaint = failure_reason(answer.substr(std::min(answer.size(), answer.find('\n', at + 1) + 1)));
        return std::nullopt;
    }
    static Group group(const std::string& answer, const std::string& vg) {
        std::string why;
        auto out = answered(answer, &why);
        if (!out) throw DriverError("cannot list the logical volumes of " + quoted(vg) + ": " + why);
        return lvm::parse_lvs(*out, vg);
    }

    // What this action makes: the volume, and the VM's thin pool when the group (as listed
    // before) had none, sent in one batch under the group's lock. Should anything fail, the
    // guard removes them: the volume once that batch succeeded (its lvcreate is the last
    // step, so a volume that already existed -- lvcreate refuses it -- is never removed by
    // us), the pool if the batch was sent and nothing else uses it.
    struct Created {
        Host* h;
        lvm::Lv lv;
        lvm::Lv pool;
        bool lv_made = false, pool_sent = false, kept = false;
        void keep() { kept = true; }
        Created(Host& host, lvm::Lv l) : h(&host), lv(std::move(l)) {}
        Created(Created&&) = delete;
        // `steps` go first in the batch (mkdir). Thin: whether the pool exists is read from
        // `listed` (the group's volumes, asked with the caller's questions), else asked here.
        void make(long vmid, unsigned long long mb, bool thin, std::vector<Step> steps, const Group* listed = nullptr) {
            bool makes_pool = false;
            if (thin) {
                pool = lvm::pool_lv(lv.vg, vmid);
                makes_pool = (listed ? *listed : lvm::list(*h, lv.vg)).count(pool.name) == 0;
                for (auto& s : lvm::create_thin_steps(*h, lv, pool, mb, !makes_pool)) steps.push_back(std::move(s));
            } else {
                steps.push_back(lvm::create_linear_step(*h, lv, mb));
            }
            auto lock = lvm::metadata_lock(lv.vg);
            pool_sent = makes_pool;  // (not before the lock: a lock timeout sent nothing)
            h->batch(steps);
            lv_made = true;
            log::info("created " + quoted(lv.spec()) + " (" + std::to_string(mb) + " MiB)");
        }
        ~Created() {
            if (kept || (!lv_made && !pool_sent)) return;
            CleanupScope undoing;  // runs after SIGTERM too: that is when it matters most
            try {
                log::info("removing " + quoted(lv_made ? lv.spec() : pool.spec()) + " if made by this failed action");
                if (lv_made)
                    destroy(*h, lv, false);  // and the pool, when it holds nothing else
                else
                    remove_pool_if_unused(*h, pool);
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

    // disk.N of this VM that links (`link`) to its own LV; nullopt when it is not an LV link.
    // A link to any other VM's (or disk's) LV is refused: it is never touched.
    static std::optional<Disk> lv_disk_of(const TmContext& c, const HostPath& disk, const std::string& link) {
        int id = disk_id_of(disk.path);
        if (id < 0 || link.empty() || link.rfind("/dev/", 0) != 0) return std::nullopt;
        auto ref = lvm::parse_disk_device(link);
        long ds = ds_of(disk);
        if (!ref || ref->vmid != c.vmid || ref->disk != id || (ref->ds != ds && c.action != "mv"))
            throw DriverError(quoted(disk.str()) + " points at " + quoted(link) + ", not at " +
                              quoted(lvm::disk_lv(ds, c.vmid, id).device()) + ": refusing to touch it");
        return Disk{ref->ds, id, lvm::disk_lv(ref->ds, c.vmid, id)};
    }

    // disk.N's LV (nullopt: no LV link) and its group, asked together: one round trip.
    struct Looked {
        std::optional<Disk> d;
        Group lvs;
    };
    static Looked look(const TmContext& c, Host& h, const HostPath& disk) {
        std::string vg = lvm::vg_of(ds_of(disk));
        auto a = ask(h, {{"readlink", "-n", "--", disk.path}, lvm::list_command(vg)});
        Looked l{lv_disk_of(c, disk, answered(a[0]).value_or("")), {}};
        if (l.d && l.d->lv.vg == vg) l.lvs = group(a[1], vg);
        return l;
    }

    struct Seen {
        Host* h;
        Disk d;
        Group lvs;
        std::optional<lvm::LvState> state() const {
            auto it = lvs.find(d.lv.name);
            return it == lvs.end() ? std::nullopt : std::optional(it->second);
        }
    };
    static Seen disk_of(const TmContext& c, const HostPath& disk) {
        check_disk_path(disk, c.vmid);
        Host& h = Host::get(disk.host);
        Looked l = look(c, h, disk);
        if (!l.d) throw DriverError(quoted(disk.str()) + " is not a logical volume disk");
        Seen t{&h, *l.d, std::move(l.lvs)};
        if (!t.state()) throw DriverError(quoted(t.d.lv.spec()) + " does not exist");
        return t;
    }

    struct ThinDisk {
        Host* h;
        Disk d;
        lvm::LvState st;
        Group lvs;
    };
    ThinDisk thin_disk(const TmContext& c, const HostPath& disk, const std::string& action) const {
        Seen t = disk_of(c, disk);
        lvm::LvState st = *t.state();
        if (st.pool.empty())
            unsupported("fs_lvm", action,
                        quoted(t.d.lv.spec()) + " is a linear volume; snapshots need thin volumes (LVM_THIN_ENABLE=yes)");
        return {t.h, t.d, st, std::move(t.lvs)};
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
        bool thin = disk_flag(vd, "LVM_THIN_ENABLE");
        lvm::Lv lv = lvm::disk_lv(ds_of(dst), c.vmid, id);
        // One round trip of questions (the image's header; thin: the group's volumes), one for
        // the volume under the group's lock, one for the copy (the lock is not held for it).
        std::vector<Step> asked = {qemu::validate_step(h, image, format)};
        if (thin) {
            Argv a = {"sh", "-c", scripts::kAnswer, "sh"};
            for (auto& w : lvm::list_command(lv.vg)) a.push_back(std::move(w));
            asked.push_back(h.ask_step(a, "cannot ask host " + quoted(h.name()), 120));
        }
        auto answers = h.batch(asked);
        qemu::ImageInfo info = qemu::validated(h, answers[0], image, format, image + ".snap");
        std::optional<Group> listed;
        if (thin) listed = group(answers[1], lv.vg);
        unsigned long long mb = std::max<unsigned long long>(static_cast<unsigned long long>(std::max(0L, vd.size_mb("SIZE"))),
                                                             io::mib_ceil(info.virtual_size));
        Created made(h, lv);  // what lvcreate makes is this action's: removed on failure
        made.make(c.vmid, mb, thin, {h.mkdir_step(dirname_of(dst.path))}, listed ? &*listed : nullptr);
        log::info("writing " + quoted(image) + " (" + format + ") into " + quoted(lv.spec()));
        std::vector<Step> steps;
        // Only the part the image does not cover (the copy writes or zeroes the rest).
        if (!thin && config().get_bool("ZERO_LVM_ON_CREATE"))
            steps.push_back(lvm::zero_step(h, lv.device(), info.virtual_size & ~4095ull));
        steps.push_back(write_step(h, image, format, lv.device(), thin));
        for (auto& s : place_steps(h, lv, dst)) steps.push_back(std::move(s));
        h.batch(steps);  // (a round trip of its own: the group's lock is not held for the copy)
        made.keep();
        log::info(quoted(dst.str()) + " is " + quoted(lv.device()));
    }

    // qemu-img writes every allocated extent and zeroes the holes (BLKZEROOUT on a block
    // device); a new thin volume already reads zeros, so holes are skipped there.
    static Step write_step(Host& h, const std::string& src, const std::string& format, const std::string& dev, bool thin) {
        Argv a = config().get_words("QEMU_IMG");
        a.insert(a.end(), {"convert", "-q", "-n", "-W", "-f", format, "-O", "raw"});
        if (thin) a.push_back("--target-is-zero");
        a.insert(a.end(), {src, dev});
        return h.run_step(a, "cannot write " + quoted(h.label(src)) + " into " + quoted(dev),
                          static_cast<int>(config().get_int("COPY_TIMEOUT")), qemu::data_limits());
    }

    // A volume of another system datastore, copied by a host that sees both groups.
    static void copy_volume(const TmContext& c, Host& h, const Disk& d, const lvm::Lv& to) {
        auto st = lvm::find(h, d.lv);
        if (!st) throw DriverError(quoted(d.lv.spec()) + " does not exist");
        bool thin = !st->pool.empty();
        Created made(h, to);
        made.make(c.vmid, (st->bytes + kMiB - 1) / kMiB, thin, {});
        log::info("copying " + quoted(d.lv.spec()) + " to " + quoted(to.spec()) + " on " + h.name());
        h.batch({lvm::activate_step(h, d.lv), write_step(h, d.lv.device(), "raw", to.device(), thin)});
        made.keep();
    }

    // The steps that write the disk's (or a snapshot's) content as an image file: into tmp
    // (beside the target), synced, renamed onto it. The image's own format is kept (an LV is
    // raw). `from` is activated when it is not (the caller lets go of it).
    static std::vector<Step> export_steps(const TmContext& c, const Seen& t, const lvm::Lv& from, const std::string& tmp,
                                          const std::string& target) {
        const VmDisk* vd = c.vm().disk(t.d.id);
        std::string format = vd ? vd->get("FORMAT") : "";
        if (format.empty()) format = "raw";
        if (format != "raw" && format != "qcow2") throw DriverError("unsupported image format " + quoted(format));
        auto st = t.lvs.find(from.name);
        if (st == t.lvs.end()) throw DriverError(quoted(from.spec()) + " does not exist");
        Host& h = *t.h;
        std::vector<Step> steps;
        if (!st->second.active) steps.push_back(lvm::activate_step(h, from));
        steps.push_back(h.mkdir_step(dirname_of(target)));
        log::info("copying " + quoted(from.spec()) + " to " + quoted(h.label(target)));
        Argv a = config().get_words("QEMU_IMG");
        a.insert(a.end(), {"convert", "-q", "-W", "-f", "raw", "-O", format, from.device(), tmp});
        steps.push_back(h.run_step(a, "cannot copy " + quoted(from.spec()) + " to " + quoted(h.label(target)),
                                   static_cast<int>(config().get_int("COPY_TIMEOUT"))));
        steps.push_back(h.sync_step(tmp));
        steps.push_back(h.rename_step(tmp, target, true));
        return steps;
    }

    // Removes a disk's volume, its snapshots and, when it was the last one, its pool.
    static void destroy(Host& h, const lvm::Lv& lv, bool zero = true) {
        Group all = lvm::list(h, lv.vg);
        if (zero) h.batch(wipe_steps(h, lv, all));
        std::vector<Step> steps = removal_steps(h, lv, all);
        auto lock = lvm::metadata_lock(lv.vg);
        h.batch(steps);
    }

    // ZERO_LVM_ON_DELETE zeroes a linear volume before its removal (a thin pool zeroes what
    // it reuses).
    static std::vector<Step> wipe_steps(Host& h, const lvm::Lv& lv, const Group& all) {
        auto it = all.find(lv.name);
        if (it == all.end() || !it->second.pool.empty() || !config().get_bool("ZERO_LVM_ON_DELETE")) return {};
        std::vector<Step> steps;
        if (!it->second.active) steps.push_back(lvm::activate_step(h, lv));
        steps.push_back(lvm::zero_step(h, lv.device(), 0));
        return steps;
    }

    // The removal of a volume, its snapshots and, when nothing else is in it, its pool (as
    // listed in `all`, which loses them).
    static std::vector<Step> removal_steps(Host& h, const lvm::Lv& lv, Group& all) {
        auto it = all.find(lv.name);
        if (it == all.end()) return {};
        std::string pool = it->second.pool;
        std::vector<Step> steps;
        for (auto n = all.begin(); n != all.end();) {
            const std::string& name = n->first;
            bool snap = name.rfind(lv.name + "_s", 0) == 0 &&
                        name.find_first_not_of("0123456789", lv.name.size() + 2) == std::string::npos;
            if (!snap) {
                ++n;
                continue;
            }
            steps.push_back(lvm::remove_step(h, {lv.vg, name}));
            n = all.erase(n);
        }
        steps.push_back(lvm::remove_step(h, lv));
        all.erase(lv.name);
        if (pool.empty() || !all.count(pool)) return steps;
        for (const auto& [n, s] : all)
            if (s.pool == pool) return steps;
        steps.push_back(lvm::remove_step(h, {lv.vg, pool}));
        all.erase(pool);
        return steps;
    }

    static void remove_pool_if_unused(Host& h, const lvm::Lv& pool) {
        Group all = lvm::list(h, pool.vg);
        if (!all.count(pool.name)) return;
        for (const auto& [n, s] : all)
            if (s.pool == pool.name) return;
        auto lock = lvm::metadata_lock(pool.vg);
        h.batch({lvm::remove_step(h, pool)});
    }

    // disk.N -> the device, and the host that owns the VM (read at boot by upstream's activate).
    static std::vector<Step> place_steps(Host& h, const lvm::Lv& lv, const HostPath& dst) {
        std::vector<Step> steps{h.symlink_step(lv.device(), dst.path)};
        for (auto& s : mark_steps(h, dirname_of(dst.path))) steps.push_back(std::move(s));
        return steps;
    }

    static std::vector<Step> mark_steps(Host& h, const std::string& vm_dir) {
        if (h.local()) return {};
        return {h.run_step({"sh", "-c", scripts::kWriteLine, "sh", h.name(), join_path(vm_dir, ".host")},
                           "cannot write " + quoted(h.label(join_path(vm_dir, ".host"))), 60)};
    }
    static void mark_host(Host& h, const std::string& vm_dir) { h.batch(mark_steps(h, vm_dir)); }

    // The VM's own LV disks in its directory (as `h` sees it) and their group, asked together:
    // the disk.N links with their targets (a line "disk.N target" each; none when the directory
    // is missing) and the group's volumes.
    struct Volumes {
        std::vector<lvm::Lv> lvs;
        Group group;
    };
    static Volumes vm_volumes(const TmContext& c, Host& h, const std::string& vm_dir) {
        std::string dir = clean_path(vm_dir, "VM directory");
        std::string vg = lvm::vg_of(ds_of({h.name(), dir}));
        auto a =
            ask(h, {{"find", dir, "-mindepth", "1", "-maxdepth", "1", "-name", "disk.*", "-type", "l", "-printf", "%f %l\\n"},
                    lvm::list_command(vg)});
        std::map<std::string, std::string> links;  // (in name order)
        std::istringstream in(answered(a[0]).value_or(""));
        for (std::string line; std::getline(in, line);) {
            size_t sp = line.find(' ');
            // (a name twice: a target holding a newline made a line up)
            if (sp == std::string::npos || !links.emplace(line.substr(0, sp), line.substr(sp + 1)).second)
                throw DriverError("unexpected listing of " + quoted(h.label(dir)) + ": " + quoted(line));
        }
        Volumes v;
        for (const auto& [name, target] : links)
            if (auto d = lv_disk_of(c, {h.name(), join_path(dir, name)}, target)) v.lvs.push_back(d->lv);
        if (!v.lvs.empty()) v.group = group(a[1], vg);
        return v;
    }

    // The VM's volumes let go of on this host (and their pool, with the last of them).
    static void deactivate_all(const TmContext& c, Host& h, const std::string& vm_dir) {
        Volumes v = vm_volumes(c, h, vm_dir);
        std::vector<Step> steps;
        for (const auto& lv : v.lvs)
            for (auto& s : lvm::deactivate_steps(h, lv, v.group)) steps.push_back(std::move(s));
        h.batch(steps);
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
