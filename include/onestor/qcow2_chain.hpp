// The qcow2 snapshot chain model, shared by the qcow2 transfer driver (VM disks: disk.N ->
// disk.N.snap/<active>, or beside a persistent image) and the fs datastore (an image's
// <SOURCE>.snap/): which file is which layer, how layers name each other, and the checks a
// chain passes before anything reads or changes it. Layers are found by their names and the
// headers qemu-img reads with the format we wrote (never probed); see src/backends/qcow2.hpp
// for the layout.
#pragma once
#include "onestor/host.hpp"
#include "onestor/paths.hpp"
#include "onestor/qemu.hpp"

#include <map>
#include <string>
#include <vector>

namespace onestor::chain {

struct Layout {
    std::string dir;                    // the snapshot directory
    std::string leaf;                   // the self link's name in it ("disk.N.snap")
    bool absolute = false;              // layers name each other by absolute path (beside a persistent image)
    bool persistent = false;            // layer 0 is the persistent image (or its copy): never deleted
    std::string base_format = "qcow2";  // layer 0's; every other layer is a qcow2 we made
    std::string file(long k) const { return join_path(dir, std::to_string(k)); }
    // The backing name of the active layer over layer k (it is opened through disk.N,
    // from the VM directory), and of a frozen one (opened from inside the directory).
    std::string active_name(long k) const { return absolute ? file(k) : leaf + "/" + std::to_string(k); }
    std::string frozen_name(long k) const { return absolute ? file(k) : std::to_string(k); }
    std::string format(long k) const { return k == 0 ? base_format : "qcow2"; }
    // The layer an image's backing file is (-1: none, or not a layer of this directory).
    long layer_of(const qemu::ImageInfo& i) const;
};

// An image's own snapshot directory, <image>.snap, in its datastore: layer 0 is a link to
// the image (of `format`), overlays name their backing by absolute path.
Layout beside_image(const std::string& image, const std::string& format);

// No image in a chain qemu-img walked is its own ancestor; `what` names the chain's owner
// ("disk 'host:/path'").
void check_loops(const std::vector<qemu::ImageInfo>& chain, const std::string& what);

struct Active {
    long id = -1;                        // the active layer
    std::vector<qemu::ImageInfo> chain;  // from disk.N down to its base
    std::vector<std::string> also;       // what the extra steps printed
};

// The active layer of `disk` (a link to a numbered layer of l.dir), after checking the chain
// is whole: qemu-img walks it to its base without a loop. `also` runs in the same round trip
// (checks and reads the action needs).
Active validated_active(Host& h, const HostPath& disk, const Layout& l, std::vector<Step> also = {});

// Steps giving the frozen layers of a chain the short names of frozen layers (header only,
// qemu-img rebase -u): the layer just frozen, and any a live snapshot left long. chain[0]
// is the layer that was active, now file `first`.
std::vector<Step> shorten_names(Host& h, const Layout& l, const std::vector<qemu::ImageInfo>& chain, long first);

// The numbered layers among `names` (entries of l.dir) checked where they lie, before
// anything uses them: each named as we name layers ("1", never "01"), not a symlink (on the
// front-end also a regular file: there the entries are a datastore's), opened with its format (layer 0:
// l.base_format, standing alone; any other: a qcow2 whose backing file is inside l.dir
// and names another layer of l.dir and its format). With `image`, layer 0 is a link to
// that image, which is checked instead. Returns layer -> header; layer 0 is always there.
// One round trip, which runs `before` first (changes that the checks are of).
std::map<long, qemu::ImageInfo> checked_layers(Host& h, const Layout& l, const std::vector<std::string>& names,
                                               const std::string& image, std::vector<Step> before = {});

}  // namespace onestor::chain
