#include "qcow2.hpp"

#include "onestor/error.hpp"
#include "onestor/io.hpp"
#include "onestor/lock.hpp"
#include "onestor/log.hpp"
#include "onestor/numbers.hpp"
#include "onestor/qemu.hpp"
#include "onestor/transfer.hpp"

namespace onestor::backends {

using chain::Active;
using chain::check_loops;
using chain::checked_layers;
using chain::shorten_names;
using chain::validated_active;

// ln.ssh: a persistent image runs from copies on the host's own datastore. Its layers
// (the image as layer 0, its snapshots <SOURCE>.snap/k) are checked where they lie,
// copied into a temporary disk.N.snap/ on the host, renamed as their new home names
// them (relative), checked again there, and only then renamed in. The image is only read.
void Qcow2::copy_in(const TmContext&, const HostPath& src, const HostPath& dst, const VmDisk& d) {
    Host& fe = Host::get(src.host);
    Host& h = Host::get(dst.host);
    std::string image = src.path;
    int id = disk_id_of(dst.path);
    Layout home = chain::beside_image(image, image_format(fe, image, d, true));
    Lock lock("image-" + basename_of(image));
    if (!fe.readlink(image).empty()) throw DriverError("image " + quoted(fe.label(image)) + " is a symlink");
    auto names = fe.list(home.dir);
    auto layers = checked_layers(fe, home, names, image);
    long active = layers.rbegin()->first;
    check_loops(qemu::chain(fe, active > 0 ? home.file(active) : image, home.format(active)), "disk " + quoted(fe.label(image)));
    std::string dir = dst.path + ".snap";
    RemoteTemp stage(h, io::temp_name_for(dir));
    Layout l = home;  // the same layers, in the host's disk.N.snap/ with relative names
    l.dir = stage.path();
    l.leaf = leaf_of(id);
    l.absolute = false;
    log::info("copying " + std::to_string(layers.size()) + " layer(s) of " + quoted(fe.label(image)) + " to " +
              quoted(dst.str()));
    if (active > 0) transfer::copy(fe, home.dir, h, l.dir);
    transfer::copy(fe, image, h, l.file(0));  // over the link to the image that came with the directory
    std::vector<Step> fix;
    if (active > 0)
        for (const auto& n : names)
            if (!numeric_name(n)) fix.push_back(h.remove_step(join_path(l.dir, n)));  // the image's self link, strays
    fix.push_back(h.symlink_step(".", join_path(l.dir, l.leaf)));
    for (const auto& [k, i] : layers) {
        if (k == 0) continue;
        long below = home.layer_of(i);
        fix.push_back(
            qemu::rebase_unsafe_step(h, l.file(k), k == active ? l.active_name(below) : l.frozen_name(below), i.backing_format));
        fix.push_back(h.sync_step(l.file(k)));
    }
    std::vector<std::string> copied;
    for (const auto& [k, i] : layers) copied.push_back(std::to_string(k));
    checked_layers(h, l, copied, "", std::move(fix));  // (one round trip: the fixes, then the checks)
    // Then in one more: the chain walked whole (qemu-img refuses one that loops, and nothing
    // goes in), the directory and the disk link put in place, the host's monitoring marked.
    auto out = h.batch({qemu::chain_step(h, l.file(active), l.format(active)), h.sync_step(l.dir),
                        h.remove_step(dir),  // a leftover of an earlier, failed deploy
                        h.rename_step(l.dir, dir, false), h.symlink_step(l.leaf + "/" + std::to_string(active), dst.path),
                        h.sync_step(dirname_of(dst.path)), local_monitoring_step(h, dirname_of(dst.path), "ssh")});
    stage.keep();
    check_loops(qemu::parse_chain(out[0]), "disk " + quoted(dst.str()));
    log::info("persistent disk " + quoted(dst.str()) + " runs on a copy of " + quoted(fe.label(image)) + ", layer " +
              std::to_string(active));
}

// mvds.ssh: the host's chain goes back beside the image. It is copied into a temporary
// directory beside <SOURCE>.snap, checked there, renamed as the image datastore names
// it (absolute names; layer 0 becomes <SOURCE> itself), checked again; then the image
// and the directory are renamed into place, the result is checked once more, and only
// then is the host's copy removed. A failure before that leaves the host's chain as it
// was, for oned to retry.
void Qcow2::copy_back(const TmContext& c, const HostPath& src, const HostPath& dst) {
    check_disk_path(src, c.vmid);
    Host& h = Host::get(src.host);
    Host& fe = Host::get(dst.host);
    Layout l = layout(h, c, src);
    if (!l.persistent) throw DriverError("disk " + quoted(src.str()) + " is not a persistent image: nothing to save back");
    Active a = validated_active(h, src, l);
    Layout home = chain::beside_image(dst.path, l.base_format);
    std::string image = dst.path;
    Lock lock("image-" + basename_of(image));
    RemoteTemp stage(fe, io::temp_name_for(home.dir));
    transfer::copy(h, l.dir, fe, stage.path());
    Layout staged = l;
    staged.dir = stage.path();
    // What arrived is checked where it lies: our self link, numbered layers, nothing else.
    auto names = fe.list(staged.dir);
    for (const auto& n : names)
        if (!numeric_name(n) && n != l.leaf)
            throw DriverError("the snapshot directory of " + quoted(src.str()) + " holds " + quoted(n) + ", not a layer");
    if (fe.readlink(join_path(staged.dir, l.leaf)) != ".")
        throw DriverError("the snapshot directory of " + quoted(src.str()) + " has no self link " + quoted(l.leaf + " -> ."));
    auto layers = checked_layers(fe, staged, names, "");
    check_loops(qemu::chain(fe, staged.file(a.id), staged.format(a.id)), "disk " + quoted(src.str()));
    RemoteTemp base(fe, io::temp_name_for(image));
    std::vector<Step> rename = {fe.remove_step(join_path(staged.dir, l.leaf))};
    for (const auto& [k, i] : layers) {
        if (k == 0) continue;
        rename.push_back(qemu::rebase_unsafe_step(fe, staged.file(k), home.active_name(staged.layer_of(i)), i.backing_format));
        rename.push_back(fe.sync_step(staged.file(k)));
    }
    rename.push_back(fe.rename_step(staged.file(0), base.path(), false));
    rename.push_back(fe.symlink_step(image, staged.file(0)));
    rename.push_back(fe.symlink_step(home.dir, join_path(staged.dir, home.leaf)));
    rename.push_back(fe.sync_step(staged.dir));
    fe.batch(rename);
    for (const auto& [k, i] : layers)  // the names they carry now, before they are used
        if (k > 0) qemu::validate(fe, staged.file(k), "qcow2", home.dir);
    fe.batch({fe.sync_step(base.path()), fe.rename_step(base.path(), image, true)});
    base.keep();
    fe.replace_dir(staged.dir, home.dir);
    stage.keep();
    fe.sync(dirname_of(image));
    check_loops(qemu::chain(fe, home.file(a.id), home.format(a.id)), "disk " + quoted(fe.label(image)));
    h.batch({h.remove_step(l.dir), h.remove_step(src.path)});
    log::info("persistent disk " + quoted(src.str()) + " saved to " + quoted(fe.label(image)) + " with " +
              std::to_string(layers.size() - 1) + " snapshot layer(s)");
}

}  // namespace onestor::backends
