// From OpenNebula 6.2 the shared and qcow2 transfer drivers are one driver installed under
// both names (its install.sh: TM_QCOW2_FILES="${TM_SHARED_FILES}"). It reads each disk's
// FORMAT: a qcow2 disk gets the qcow2 layout (an overlay on the image, snapshots as layers,
// live snapshots through libvirt), any other disk a copy as the shared driver makes it (and a
// copy of the running disk as its live snapshot). So a
// 6.2+ caller gets that under either name, and the VMs its stock scripts deployed keep their
// layout; before 6.2 each name is its own driver. The tables registered as "shared" and
// "qcow2" therefore hold both drivers' entries, the one to run chosen per call by the
// caller's release and the disk's format; an action with no disk argument stays the named
// driver's.
#include "common.hpp"

#include "onestor/imgformat.hpp"
#include "onestor/paths.hpp"
#include "onestor/protocol.hpp"

#include <optional>

namespace onestor::backends {
const TmTable& shared_table();
const TmTable& qcow2_table();
const TmTable& ssh_table();

namespace {

bool one_driver() {
    const protocol::Profile& p = protocol::profile();
    return p.major > 6 || (p.major == 6 && p.minor >= 2);
}

// The disk a call works on: its first path argument that names a disk.N.
template <class A>
void note_disk(int&, const A&) {}
void note_disk(int& id, const HostPath& p) {
    if (id < 0) id = disk_id_of(p.path);
}

const TmTable& driver_for(const TmTable& named, const TmContext& c, int disk, const std::string& action) {
    if (!one_driver() || disk < 0) return named;
    const VmDisk* d = c.vm().disk(disk);
    if (!d) return named;
    if (imgformat::declared(d->get("FORMAT"), d->get("DRIVER")) == "qcow2") return qcow2_table();
    // A raw disk's live snapshot: upstream's copy of the running disk into disk.N.snap/S,
    // which ssh's live copy makes (libvirt's blockcopy, else suspended), in shared's layout.
    return action == "snap_create_live" ? ssh_table() : shared_table();
}

template <class... A>
Primitive chooser(const TmTable& named, const std::string& key, std::function<void(const TmContext&, A...)>*) {
    return std::function<void(const TmContext&, A...)>([&named, key](const TmContext& c, A... a) {
        int disk = -1;
        (note_disk(disk, a), ...);
        auto dot = key.find('.');
        std::string action = key.substr(0, dot), suffix = dot == std::string::npos ? "" : key.substr(dot + 1);
        const TmTable& t = driver_for(named, c, disk, action);
        t.entry(action, suffix).as<void(const TmContext&, A...)>(t.name, key)(c, std::forward<A>(a)...);
    });
}

// The entry of `key` in the table registered as `named`'s name: a chooser for the shapes
// that work on a VM's disks, the named driver's own entry for the others (monitor ...).
template <class... Sig>
std::optional<Primitive> chooser_for(const TmTable& named, const std::string& key, const Primitive& shape) {
    std::optional<Primitive> out;
    ((shape.shape() == typeid(std::function<Sig>) && !out
          ? void(out = chooser(named, key, static_cast<std::function<Sig>*>(nullptr)))
          : void()),
     ...);
    return out;
}

TmTable both(const TmTable& named) {
    TmTable t{named.name, {}};
    for (const TmTable* from : {&shared_table(), &qcow2_table()})
        for (const auto& [key, p] : from->ops) {
            if (t.ops.count(key)) continue;
            if (auto c = chooser_for<sig::Paths, sig::Cpds, sig::DiskNum, sig::One>(named, key, p))
                t.ops.emplace(key, *c);
            else if (named.supports(key))
                t.ops.emplace(key, named.ops.at(key));
        }
    return t;
}

}  // namespace

const TmTable& shared_tm_table() {
    static const TmTable t = both(shared_table());
    return t;
}

const TmTable& qcow2_tm_table() {
    static const TmTable t = both(qcow2_table());
    return t;
}

}  // namespace onestor::backends
