// LVM on a hypervisor host: a system datastore is the volume group vg-one-<ds>, a VM disk
// the logical volume lv-one-<vm>-<disk> (linear, or thin in the VM's pool lv-one-<vm>-pool),
// a thin snapshot lv-one-<vm>-<disk>_s<snap>. Every command is an argv run on the host
// (prefixed with LVM_SUDO). Changes to a group's metadata (create, extend, rename, remove)
// are serialised by one front-end lock per group, waited for up to LOCK_TIMEOUT: LVM itself
// does not serialise hosts sharing a group on a SAN. Activation is per host and unlocked,
// as it only touches that host's kernel.
#pragma once
#include "onestor/host.hpp"
#include "onestor/lock.hpp"

#include <functional>
#include <map>
#include <optional>
#include <string>

namespace onestor::lvm {

struct Lv {
    std::string vg, name;
    std::string spec() const { return vg + "/" + name; }
    std::string device() const { return "/dev/" + vg + "/" + name; }
};

std::string vg_of(long ds);
Lv disk_lv(long ds, long vmid, int disk);
Lv pool_lv(const std::string& vg, long vmid);
Lv snapshot_lv(const Lv& disk, long snap);
// "/dev/vg-one-<ds>/lv-one-<vm>-<disk>" back to its parts; nullopt for anything else.
struct DiskRef {
    long ds = -1, vmid = -1;
    int disk = -1;
};
std::optional<DiskRef> parse_disk_device(const std::string& dev);

struct LvState {
    unsigned long long bytes = 0;
    bool active = false;  // in this host's kernel
    std::string pool;     // thin volumes: their pool
    bool is_pool = false;
};

// The group's LVs as `host` sees them (name -> state); throws when the group is missing.
std::map<std::string, LvState> list(Host& h, const std::string& vg);
std::optional<LvState> find(Host& h, const Lv& lv);
// The group's `lvs` (name|bytes|attr|pool a line) and `vgs` (size|free in MiB), for a batch
// of questions, and their outputs parsed; the parsers throw DriverError for anything else.
Argv list_command(const std::string& vg);
Argv usage_command(const std::string& vg);
std::map<std::string, LvState> parse_lvs(const std::string& out, const std::string& vg);

struct VgUsage {
    unsigned long long total_mb = 0, free_mb = 0;
};
VgUsage parse_vgs(const std::string& out, const std::string& vg);

// The changes as steps of one batch (Host::batch: one round trip per host). A batch with
// metadata changes (create, extend, rename, remove) is sent under the group's lock, held for
// that batch only (never for a copy or a zeroing: other actions on the group wait for it).
Lock metadata_lock(const std::string& vg);
Step create_linear_step(Host& h, const Lv& lv, unsigned long long mb);
// A thin volume of `mb` in the pool, made when missing (pool_exists: as listed before) or
// grown by `mb`: a pool never overcommits, so a full pool cannot stop a VM.
std::vector<Step> create_thin_steps(Host& h, const Lv& lv, const Lv& pool, unsigned long long mb, bool pool_exists);
Step snapshot_step(Host& h, const Lv& origin, const Lv& snap);
Step extend_step(Host& h, const Lv& lv, unsigned long long mb);
Step extend_pool_step(Host& h, const Lv& pool, unsigned long long by_mb);
// `undo`: what the batch runs there should this rename fail.
Step rename_step(Host& h, const Lv& from, const std::string& to, Argv undo = {});
Argv rename_command(const Lv& from, const std::string& to);
Step remove_step(Host& h, const Lv& lv);  // fails when it is missing: ask first

// Activation on one host. Deactivating a pool's last active thin volume deactivates the
// pool too (decided from `all`, the group as listed, which then shows them inactive): a pool
// active on two hosts at once would corrupt its metadata.
Step activate_step(Host& h, const Lv& lv);
std::vector<Step> deactivate_steps(Host& h, const Lv& lv, std::map<std::string, LvState>& all);
void activate(Host& h, const Lv& lv);
void deactivate(Host& h, const Lv& lv);

// Zeroes a device from `offset` to its end with BLKZEROOUT (blkdiscard -z): the storage does
// it (WRITE SAME / unmap) where it can, and no zero buffer crosses user space.
Step zero_step(Host& h, const std::string& device, unsigned long long offset);

// The one place "LVM" commands are spelled: LVM_SUDO then the words.
Argv command(std::initializer_list<std::string> words);

}  // namespace onestor::lvm
