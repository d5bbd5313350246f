#include "qcow2.hpp"

#include "onestor/config.hpp"
#include "onestor/error.hpp"
#include "onestor/io.hpp"
#include "onestor/libvirt.hpp"
#include "onestor/lock.hpp"
#include "onestor/log.hpp"
#include "onestor/numbers.hpp"
#include "onestor/qemu.hpp"
#include "onestor/registry.hpp"
#include "onestor/scripts.hpp"
#include "onestor/transfer.hpp"

#include <map>
#include <sstream>

namespace onestor::backends {

using chain::Active;
using chain::check_loops;
using chain::checked_layers;
using chain::shorten_names;
using chain::validated_active;

void Qcow2::clone(const TmContext& c, const HostPath& src, const HostPath& dst) {
    check_disk_path(dst, c.vmid);
    Host& h = Host::get(dst.host);
    std::string image = host_image_path(src.path, dst.path);
    const VmDisk* d = disk_at(c, dst.path);
    if (!d || d->get("TYPE") == "CDROM") {   // kernels, initrds, ISOs: a plain copy
        h.copy_file(image, dst.path, true);  // (makes the VM directory)
        return;
    }
    std::string format = image_format(h, image, *d, false);
    // Two round trips: the image's header is checked before anything is made (its answer
    // decides), then the disk is built and put in place in one batch.
    qemu::validate(h, image, format, image + ".snap");
    // A host's own datastore holds a copy of the image (the image datastore may be away
    // when the VM runs), as QCOW2_STANDALONE asks for anywhere.
    bool copy = standalone(*d) || local_system(c);
    if (copy) log::info("standalone copy of " + quoted(image));
    std::string dir = dst.path + ".snap", leaf = leaf_of(disk_id_of(dst.path));
    // The whole snapshot directory is built under a temporary name, then renamed in.
    RemoteTemp tmp(h, io::temp_name_for(dir));
    std::string first = join_path(tmp.path(), "0");
    std::vector<Step> build = {h.mkdir_step(tmp.path()), copy ? qemu::convert_step(h, format, image, "qcow2", first, thick(d))
                                                              : qemu::overlay_step(h, image, format, first)};
    if (auto size = grown_size_mb(c, dst.path)) build.push_back(qemu::resize_step(h, "qcow2", first, size, thick(d)));
    build.push_back(h.symlink_step(".", join_path(tmp.path(), leaf)));
    build.push_back(qemu::chain_step(h, first, "qcow2"));  // (qemu-img refuses a chain that loops: nothing goes in)
    size_t chain = build.size() - 1;
    for (auto& s :
         {h.sync_step(first), h.sync_step(tmp.path()),
          h.remove_step(dir),  // a leftover of an earlier, failed deploy of this same disk
          h.rename_step(tmp.path(), dir, false), h.symlink_step(leaf + "/0", dst.path), h.sync_step(dirname_of(dst.path))})
        build.push_back(s);
    if (local_system(c)) build.push_back(local_monitoring_step(h, dirname_of(dst.path), "ssh"));
    auto out = h.batch(build);
    tmp.keep();
    check_loops(qemu::parse_chain(out[chain]), "disk " + quoted(dst.str()));
    log::info("disk " + quoted(dst.str()) + (copy ? " is a standalone copy of " : " is an overlay on ") + quoted(image));
}

void Qcow2::ln(const TmContext& c, const HostPath& src, const HostPath& dst) {
    check_disk_path(dst, c.vmid);
    Host& h = Host::get(dst.host);
    std::string image = host_image_path(src.path, dst.path);
    const VmDisk* d = disk_at(c, dst.path);
    if (!d || d->get("TYPE") == "CDROM") {
        h.batch({h.mkdir_step(dirname_of(dst.path)), h.symlink_step(image, dst.path)});
        return;
    }
    if (local_system(c)) return copy_in(c, src, dst, *d);
    std::string format = image_format(h, image, *d, true);
    Layout home = chain::beside_image(image, format);
    // Two round trips: the questions (the image's header, the layers an earlier VM left),
    // answered before anything is made, the lock's file included; then the links, the
    // chain checked before the VM's. (The lock is taken after the questions: should the
    // layers have changed meanwhile, e.g. a save-back of the image's last VM, the second
    // batch stops at its first step, before any link.)
    auto asked = h.batch({qemu::validate_step(h, image, format), h.list_step(home.dir, true)});
    qemu::validated(h, asked[0], image, format, home.dir);
    Lock lock("image-" + basename_of(image));
    long active = -1;
    bool self = false;
    for (const auto& n : Host::parse_list(asked[1])) {
        if (numeric_name(n)) active = std::max(active, std::stol(n));
        self = self || n == home.leaf;
    }
    std::vector<Step> steps = {
        h.absent_step(home.file(active + 1), "the snapshots of " + quoted(h.label(image)) + " changed meanwhile: try again"),
        h.mkdir_step(dirname_of(dst.path)), h.mkdir_step(home.dir)};
    if (active >= 0)
        steps.insert(steps.begin(), h.present_step(home.file(active), "the snapshots of " + quoted(h.label(image)) +
                                                                          " changed meanwhile: try again"));
    if (!self) steps.push_back(h.symlink_step(home.dir, join_path(home.dir, home.leaf)));
    if (active < 0) {
        steps.push_back(h.symlink_step(image, home.file(0)));
        active = 0;
    }
    // The snapshots an earlier VM left must still form a whole chain down to the image
    // (qemu-img refuses a chain that loops, so the VM's links are not made then).
    steps.push_back(qemu::chain_step(h, home.file(active), home.format(active)));
    size_t chain = steps.size() - 1;
    steps.push_back(h.symlink_step(home.dir, dst.path + ".snap"));
    steps.push_back(h.symlink_step(home.file(active), dst.path));
    check_loops(qemu::parse_chain(h.batch(steps)[chain]), "disk " + quoted(dst.str()));
    log::info("persistent disk " + quoted(dst.str()) + " runs on " + quoted(home.file(active)));
}

void Qcow2::mvds(const TmContext& c, const HostPath& src, const HostPath& dst) {
    if (local_system(c)) return copy_back(c, src, dst);
    log::info(quoted(src.str()) + " lives in its image's snapshot directory: nothing to move");
}

void Qcow2::cpds(const TmContext& c, const HostPath& src, const HostPath& dst, long snap) {
    check_disk_path(src, c.vmid);
    Host& h = Host::get(src.host);
    Layout l = layout(h, c, src);
    std::vector<Step> also;
    if (snap >= 0) {
        also.push_back(
            h.present_step(l.file(snap), "snapshot " + std::to_string(snap) + " of " + quoted(src.str()) + " does not exist"));
        also.push_back(qemu::chain_step(h, l.file(snap), l.format(snap)));
    }
    std::string target = host_image_path(dst.path, src.path);
    Argv ids_of = {"sh", "-c", scripts::kLayerIds, "sh", l.dir, target};
    const VmDisk& d = c.vm().require_disk(disk_id_of(src.path));
    if (!l.persistent && !d.get("SOURCE").empty())  // (the image below a clone's overlay)
        ids_of.push_back(host_image_path(clean_path(d.get("SOURCE"), "disk SOURCE"), src.path));
    also.push_back(h.ask_step(ids_of, "cannot identify the files of " + quoted(src.str()), 60));
    Active a = validated_active(h, src, l, std::move(also));
    long layer = snap >= 0 ? snap : a.id;
    std::string from = l.file(layer);
    // Never onto a file of the disk's layers (the persistent image itself, through layer 0's
    // link, or any layer): a layer above would then read changed data. Onto the very file:
    // nothing to do. (Files compared by device and inode, asked with the chain.)
    std::map<std::string, std::string> ids;  // layer name -> DEV:INO
    std::string target_id;
    std::istringstream lines(a.also.back());
    for (std::string line; std::getline(lines, line);) {
        size_t sp = line.find(' ');
        if (sp == std::string::npos) continue;
        if (line.compare(0, sp, "target") == 0)
            target_id = line.substr(sp + 1);
        else if (line.compare(0, sp, "file") == 0 && sp + 1 == line.size())
            throw DriverError("cannot identify the image of " + quoted(src.str()));
        else if (line.compare(0, sp, "file") == 0)
            ids["file"] = line.substr(sp + 1);
        else
            ids[line.substr(sp + 1)] = line.substr(0, sp);
    }
    if (!target_id.empty()) {
        if (ids[std::to_string(layer)] == target_id) {
            log::info(quoted(h.label(from)) + " is " + quoted(target) + " already: nothing to copy");
            return;
        }
        for (const auto& [name, id] : ids)
            if (id == target_id)
                throw DriverError("cannot save " + quoted(src.str()) + " as " + quoted(target) +
                                  ": that file is part of the disk's own backing chain (" +
                                  (name == "file" ? "its image" : "layer " + name) + ")");
    }
    RemoteTemp tmp(h, io::temp_name_for(target));
    std::vector<Step> save = {h.mkdir_step(dirname_of(target))};
    if (snap < 0 && c.vm().lcm_state == lcm::HotplugSaveas) {
        h.batch(save);
        save.clear();
        // libvirt copies the live chain (the domain keeps running on it).
        libvirt::live_copy(h, c.vm().deploy_id, disk_target(c, src), src.path, l.format(a.id), "qcow2", tmp.path());
    } else {
        // The export is flattened: a standalone image whatever the chain behind it.
        save.push_back(qemu::convert_step(h, l.format(layer), from, "qcow2", tmp.path()));
    }
    save.push_back(h.sync_step(tmp.path()));
    save.push_back(h.rename_step(tmp.path(), target, true));
    save.push_back(h.sync_step(dirname_of(target)));
    h.batch(save);
    tmp.keep();
    log::info("saved " + quoted(h.label(from)) + " as " + quoted(target));
}

void Qcow2::mv(const TmContext& c, const HostPath& src, const HostPath& dst) {
    if (src.path == dst.path || disk_id_of(src.path) >= 0) return;  // shared storage
    move_vm_dir(c, src, dst);
}

void Qcow2::snap_create(const TmContext& c, const HostPath& disk, long snap) {
    Lock lock("vm-" + std::to_string(c.vmid));
    Host& h = Host::get(disk.host);
    Layout l = layout(h, c, disk);
    std::string next = l.file(snap + 1), frozen = l.file(snap);
    Active a = validated_active(
        h, disk, l, {h.absent_step(next, "snapshot layer " + quoted(h.label(next)) + " already exists"), h.exists_step(frozen)});
    bool frozen_exists = !a.also[1].empty();
    // oned numbers snapshots on (an id is not reused after a failed snapshot), so the
    // id may be past the active layer's number. The layer being frozen then takes the
    // snapshot's number (a hard link now, the old name dropped once disk.N has moved),
    // so snapshot k stays file k for revert and delete. (A persistent disk's layer 0 is
    // the image, or its copy, and keeps its name.)
    std::string top = l.file(a.id);
    long base = a.id;
    bool alias = false;
    if (snap != a.id) {
        if (snap >= 0 && !(l.persistent && a.id == 0) && !frozen_exists) {
            log::info("snapshot id " + std::to_string(snap) + " is past the active layer " + std::to_string(a.id) +
                      ": that layer becomes file " + std::to_string(snap));
            alias = true;
            base = snap;
        } else {
            log::info("snapshot id " + std::to_string(snap) + " differs from the active layer " + std::to_string(a.id));
        }
    }
    RemoteTemp tmp(h, io::temp_name_for(next));
    std::vector<Step> steps;
    if (alias) steps.push_back(h.run_step({"ln", "--", top, frozen}, "cannot link layer " + quoted(h.label(top))));
    // (the chain was walked just now, under the lock: its size is known)
    steps.push_back(qemu::overlay_step(h, l.active_name(base), l.format(base), tmp.path(), a.chain.front().virtual_size));
    steps.push_back(h.sync_step(tmp.path()));
    steps.push_back(h.rename_step(tmp.path(), next, false));
    steps.push_back(h.symlink_step(l.active_name(snap + 1), disk.path));  // the atomic swap: disk.N -> new layer
    if (alias) steps.push_back(h.remove_step(top));
    for (auto& s : shorten_names(h, l, a.chain, base)) steps.push_back(std::move(s));
    steps.push_back(h.sync_step(l.dir));
    steps.push_back(qemu::chain_step(h, disk.path, l.format(snap + 1)));
    std::vector<std::string> out;
    try {
        out = h.batch(steps);
    } catch (const DriverError&) {
        // Once disk.N points at the new layer, that layer (and the frozen one below it)
        // is the disk, whatever failed after; before that, both go again.
        try {
            if (h.readlink(disk.path) != l.active_name(snap + 1)) {
                h.remove(next);
                if (alias) h.remove(frozen);
            }
        } catch (const DriverError&) {  // the host cannot tell: leave everything as it is
        }
        throw;
    }
    tmp.keep();
    check_loops(qemu::parse_chain(out.back()), "disk " + quoted(disk.str()));
    log::info("snapshot " + std::to_string(snap) + " of " + quoted(disk.str()) + " frozen; writes go to layer " +
              std::to_string(snap + 1));
}

void Qcow2::snap_revert(const TmContext& c, const HostPath& disk, long snap) {
    Lock lock("vm-" + std::to_string(c.vmid));
    Host& h = Host::get(disk.host);
    Layout l = layout(h, c, disk);
    std::string missing = "snapshot " + std::to_string(snap) + " of " + quoted(disk.str()) + " does not exist";
    Active a = validated_active(h, disk, l, {h.present_step(l.file(snap), missing)});
    if (snap == a.id) throw DriverError(missing);
    // A fresh overlay on the snapshot replaces the active layer in one rename: the
    // changes since the last snapshot are discarded, as a revert means.
    std::string top = l.file(a.id);
    RemoteTemp tmp(h, io::temp_name_for(top));
    auto out =
        h.batch({qemu::overlay_step(h, l.active_name(snap), l.format(snap), tmp.path()), h.sync_step(tmp.path()),
                 h.rename_step(tmp.path(), top, true), h.sync_step(l.dir), qemu::chain_step(h, disk.path, l.format(a.id))});
    tmp.keep();
    check_loops(qemu::parse_chain(out.back()), "disk " + quoted(disk.str()));
    log::info("reverted " + quoted(disk.str()) + " to snapshot " + std::to_string(snap));
}

void Qcow2::snap_delete(const TmContext& c, const HostPath& disk, long snap) {
    Lock lock("vm-" + std::to_string(c.vmid));
    Host& h = Host::get(disk.host);
    Layout l = layout(h, c, disk);
    std::string victim = l.file(snap);
    std::string missing = "snapshot " + std::to_string(snap) + " of " + quoted(disk.str()) + " does not exist";
    Active a = validated_active(h, disk, l,
                                {h.present_step(victim, missing), qemu::chain_step(h, victim, l.format(snap)),
                                 qemu::layers_step(h, l.dir, l.format(0))});  // (what every layer is built on)
    if (snap == a.id) throw DriverError(missing);
    if (l.persistent && (snap == 0 || (l.absolute && !h.readlink(victim).empty())))
        throw DriverError("snapshot " + std::to_string(snap) + " of " + quoted(disk.str()) +
                          " is the persistent image itself; it cannot be deleted (flatten the image instead)");
    qemu::ImageInfo vi = qemu::parse_chain(a.also[1]).front();
    // The victim's backing format is the one we wrote into it (never probed); a
    // standalone victim has no backing file, and its children become standalone.
    if (!vi.backing_file.empty() && vi.backing_format.empty())
        throw DriverError("snapshot " + std::to_string(snap) + " of " + quoted(disk.str()) +
                          " names no backing format; refusing to guess it");
    long parent = l.layer_of(vi);
    std::string parent_format = vi.backing_format.empty() ? "qcow2" : vi.backing_format;
    // Every layer built on the victim is rebased onto the victim's own backing file
    // (safe mode: the data the victim provided is copied into the child first), named
    // as a layer in the child's place names it.
    std::vector<Step> steps;
    for (const auto& [k, header] : qemu::parse_layers(a.also[2])) {
        if (k == snap || l.layer_of(header) != snap) continue;
        std::string name = parent < 0 ? vi.backing_file : k == a.id ? l.active_name(parent) : l.frozen_name(parent);
        log::info("rebasing layer " + std::to_string(k) + " off snapshot " + std::to_string(snap));
        steps.push_back(qemu::rebase_step(h, l.file(k), name, parent_format));
    }
    steps.push_back(h.remove_step(victim));
    steps.push_back(h.sync_step(l.dir));
    steps.push_back(qemu::chain_step(h, disk.path, l.format(a.id)));
    check_loops(qemu::parse_chain(h.batch(steps).back()), "disk " + quoted(disk.str()));
    log::info("deleted snapshot " + std::to_string(snap) + " of " + quoted(disk.str()));
}

// The active layer grows (a qcow2 overlay may be larger than its backing file); its
// format is known, never probed: a persistent raw disk stays raw.
void Qcow2::resize(const TmContext& c, const HostPath& disk, long size_mb) {
    check_disk_path(disk, c.vmid);
    if (c.vm().lcm_state == lcm::DiskResize) {  // a running VM: the hypervisor resizes
        log::info("VM " + std::to_string(c.vmid) + " is running: the hypervisor resizes " + quoted(disk.str()));
        return;
    }
    if (size_mb <= 0) throw DriverError("cannot resize " + quoted(disk.str()) + " to " + std::to_string(size_mb) + " MiB");
    Lock lock("vm-" + std::to_string(c.vmid));
    Host& h = Host::get(disk.host);
    const VmDisk& d = c.vm().require_disk(disk_id_of(disk.path));
    auto mb = static_cast<unsigned long long>(size_mb);
    if (d.get("SOURCE").empty()) {  // a volatile disk: a plain file of its declared format, one round trip
        h.batch(
            {h.run_step({"test", "!", "-L", disk.path}, "disk " + quoted(disk.str()) + " is a link, not a volatile disk's file"),
             qemu::resize_step(h, disk_format(d), disk.path, mb, thick(&d))});
    } else {  // an image's: the format of its active layer is an answer (a second round trip)
        Layout l = layout(h, c, disk);
        qemu::resize(h, l.format(validated_active(h, disk, l).id), disk.path, mb, thick(&d));
    }
    log::info("resized " + quoted(disk.str()) + " to " + std::to_string(size_mb) + " MiB");
}

chain::Layout Qcow2::layout(Host& h, const TmContext& c, const HostPath& disk) {
    check_disk_path(disk, c.vmid);
    int id = disk_id_of(disk.path);
    if (id < 0) throw DriverError(quoted(disk.str()) + " is not a disk.N path");
    const VmDisk& d = c.vm().require_disk(id);
    Layout l;
    l.dir = disk.path + ".snap";
    l.leaf = leaf_of(id);
    if (d.get("CLONE") == "NO" && !d.get("SOURCE").empty()) {
        std::string image = host_image_path(clean_path(d.get("SOURCE"), "disk SOURCE"), disk.path);
        std::string format = image_format(h, image, d, true);
        if (d.get("FORMAT").empty() && d.get("DRIVER").empty()) qemu::validate(h, image, format, image + ".snap");
        // On a shared system datastore the disk runs on the image, its snapshots beside
        // it; on a host's own (ssh) one it runs on copies in disk.N.snap/.
        if (!local_system(c)) return chain::beside_image(image, format);
        l.persistent = true;
        l.base_format = format;
    }
    return l;
}

const TmTable& ssh_table();

// A qcow2 image datastore feeding hosts' own (ssh) system datastores: oned calls the .ssh
// variants. Most are the same primitive, which asks local_system(c); mv.ssh moves a disk
// between hosts' own system datastores as the ssh driver does.
const TmTable& qcow2_table() {
    static Qcow2 b;
    static const TmTable t{"qcow2",
                           {{"clone", op(b, &Qcow2::clone)},
                            {"clone.ssh", op(b, &Qcow2::clone)},
                            {"ln", op(b, &Qcow2::ln)},
                            {"ln.ssh", op(b, &Qcow2::ln)},
                            {"mvds", op(b, &Qcow2::mvds)},
                            {"mvds.ssh", op(b, &Qcow2::mvds)},
                            {"cpds", op(b, &Qcow2::cpds)},
                            {"cpds.ssh", op(b, &Qcow2::cpds)},
                            {"mv", op(b, &Qcow2::mv)},
                            {"mv.ssh", ssh_table().entry("mv")},
                            {"premigrate", op(b, &Qcow2::premigrate)},
                            {"postmigrate", op(b, &Qcow2::postmigrate)},
                            {"failmigrate", op(b, &Qcow2::failmigrate)},
                            {"snap_create", op(b, &Qcow2::snap_create)},
                            {"snap_create.ssh", op(b, &Qcow2::snap_create)},
                            {"snap_create_live", op(b, &Qcow2::snap_create_live)},
                            {"snap_create_live.ssh", op(b, &Qcow2::snap_create_live)},
                            {"snap_delete", op(b, &Qcow2::snap_delete)},
                            {"snap_delete.ssh", op(b, &Qcow2::snap_delete)},
                            {"snap_revert", op(b, &Qcow2::snap_revert)},
                            {"snap_revert.ssh", op(b, &Qcow2::snap_revert)},
                            {"context", op(b, &Qcow2::context)},
                            {"delete", op(b, &Qcow2::del)},
                            {"mkimage", op(b, &Qcow2::mkimage)},
                            {"mkswap", mkswap_of(b)},
                            {"monitor", op(b, &Qcow2::monitor)},
                            {"resize", op(b, &Qcow2::resize)},
                            {"resize.ssh", op(b, &Qcow2::resize)}}};
    return t;
}

}  // namespace onestor::backends
