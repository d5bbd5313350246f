// LVM on a hypervisor host: a system datastore is the volume group vg-one-<ds>, a VM disk
// the logical volume lv-one-<vm>-<disk> (linear, or thin in the VM's pool lv-one-<vm>-pool),
// a thin snapshot lv-one-<vm>-<disk>_s<snap>. Every command is an argv run on the host
// (prefixed with LVM_SUDO). Changes to a group's metadata (create, extend, rename, remove)
// are serialised by one front-end lock per group, waited for up to LOCK_TIMEOUT: LVM itself
// does not serialise hosts sharing a group on a SAN. Activation is per host and unlocked,
// as it only touches that host's kernel.
#pragma once
#include "onestor/host.hpp"

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
// The output of list's `lvs` (name|bytes|attr|pool a line) and usage's `vgs` (size|free in
// MiB), parsed; throws DriverError for anything else.
std::map<std::string, LvState> parse_lvs(const std::string& out, const std::string& vg);

struct VgUsage {
    unsigned long long total_mb = 0, free_mb = 0;
};
VgUsage usage(Host& h, const std::string& vg);
VgUsage parse_vgs(const std::string& out, const std::string& vg);

// The metadata changes. Each takes the group's lock for its own duration only.
void create_linear(Host& h, const Lv& lv, unsigned long long mb);
// A thin volume of `mb` in the pool (made when missing, and grown by `mb`: a pool never
// overcommits, so a full pool cannot stop a VM).
// `pool_made` is called as soon as the pool had to be made (so a caller can undo it).
void create_thin(Host& h, const Lv& lv, const Lv& pool, unsigned long long mb, const std::function<void()>& pool_made);
void snapshot(Host& h, const Lv& origin, const Lv& snap, bool activate);
void extend(Host& h, const Lv& lv, unsigned long long mb);
void extend_pool(Host& h, const Lv& pool, unsigned long long by_mb);
void rename(Host& h, const Lv& from, const std::string& to);
void remove(Host& h, const Lv& lv);  // missing is fine

// Activation on one host. deactivate() of a pool's last active thin volume deactivates the
// pool too: a pool active on two hosts at once would corrupt its metadata.
void activate(Host& h, const Lv& lv);
void deactivate(Host& h, const Lv& lv);

// Zeroes a device from `offset` to its end with BLKZEROOUT (blkdiscard -z): the storage does
// it (WRITE SAME / unmap) where it can, and no zero buffer crosses user space.
void zero(Host& h, const std::string& device, unsigned long long offset);

// The one place "LVM" commands are spelled: LVM_SUDO then the words.
Argv command(std::initializer_list<std::string> words);

}  // namespace onestor::lvm
