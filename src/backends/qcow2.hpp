// The `qcow2` transfer driver, in three files by role: qcow2.cpp (the chain on shared
// storage: deploy, snapshots, save-as, resize, and the table), qcow2_ssh.cpp (the .ssh
// variants' copies of a persistent chain to and from a host's own datastore) and
// qcow2_live.cpp (a running domain's snapshot through libvirt). The chain model itself
// (layout, layer checks) is src/tools/qcow2_chain.cpp, shared with the fs datastore.
//
// A non-persistent disk is a qcow2 overlay on the shared image,
// so a deploy costs an overlay, not a copy, and disk snapshots are overlays too. The layout
// is the one users' tools expect (upstream's):
//   <vm>/disk.N            -> disk.N.snap/<active>          (relative symlink)
//   <vm>/disk.N.snap/0        overlay on the image (absolute backing name, format explicit)
//   <vm>/disk.N.snap/k+1      made by snapshot k: an overlay on layer k
//   <vm>/disk.N.snap/disk.N.snap -> .                      (resolves "disk.N.snap/k" inside)
// The active layer is opened through disk.N, from the VM directory, so it names its backing
// "disk.N.snap/k"; a frozen layer is only ever reached from inside the directory and names
// its backing "k". (Were every layer to say "disk.N.snap/k", each one would add a pass
// through the self link to the path QEMU opens, and the kernel gives up after 40 links: a
// chain 40 snapshots deep would not open.) Relative names let the VM directory move.
// A persistent image keeps its snapshots beside it: <SOURCE>.snap/0 -> <SOURCE>, overlays
// with absolute names, disk.N -> <SOURCE>.snap/<active>, disk.N.snap -> <SOURCE>.snap.
// On a host's own (ssh) system datastore (the .ssh actions) every disk is a chain of its own
// in disk.N.snap/: a standalone copy of the image (clone.ssh), or copies of the persistent
// image and its snapshots (ln.ssh), which mvds.ssh brings back beside the image.
// Snapshot k is always file k; the active layer's number is the next snapshot id. Every
// change builds the new overlay completely under a temporary name, then renames it (or the
// disk.N link) into place, and the chain is validated before and after. The steps of an
// action on a host are batched: a snapshot is two ssh round trips, a deploy three.
// No layer's format is ever probed: every layer we make is qcow2, and a persistent disk's
// layer 0 (the image itself, which its guest writes) has the format oned declares for it.
// A raw disk whose guest wrote a qcow2 header with a backing file must stay raw, or the
// next overlay would read the host's files through it.
#pragma once
#include "common.hpp"

#include "onestor/qcow2_chain.hpp"

namespace onestor::backends {

class Qcow2 final : public CommonTm {
public:
    // qcow2.cpp
    void clone(const TmContext& c, const HostPath& src, const HostPath& dst);
    void ln(const TmContext& c, const HostPath& src, const HostPath& dst);
    void mvds(const TmContext& c, const HostPath& src, const HostPath& dst);
    void cpds(const TmContext& c, const HostPath& src, const HostPath& dst, long snap);
    void mv(const TmContext& c, const HostPath& src, const HostPath& dst);
    void snap_create(const TmContext& c, const HostPath& disk, long snap);
    void snap_revert(const TmContext& c, const HostPath& disk, long snap);
    void snap_delete(const TmContext& c, const HostPath& disk, long snap);
    void resize(const TmContext& c, const HostPath& disk, long size_mb);
    // qcow2_live.cpp
    void snap_create_live(const TmContext& c, const HostPath& disk, long snap);

private:
    using Layout = chain::Layout;
    // qcow2_ssh.cpp: ln.ssh and mvds.ssh of a persistent image
    void copy_in(const TmContext&, const HostPath& src, const HostPath& dst, const VmDisk& d);
    void copy_back(const TmContext& c, const HostPath& src, const HostPath& dst);

    // The disk's snapshot directory: disk.N.snap/, or beside its persistent image on a
    // shared system datastore.
    static Layout layout(Host& h, const TmContext& c, const HostPath& disk);
    static std::string leaf_of(int id) { return "disk." + std::to_string(id) + ".snap"; }
    // oned says "the system datastore is the host's own" by the .ssh suffix.
    static bool local_system(const TmContext& c) { return c.suffix == "ssh"; }

    static bool standalone(const VmDisk& d) { return disk_flag(d, "QCOW2_STANDALONE"); }
};

}  // namespace onestor::backends
