// Over 400 lines (774): the chain logic, the .ssh variants and the live (libvirt) snapshot
// and save-as are still one class here; the split into chain model (src/tools/), .ssh
// entries and live part is the next step of issue 10 (not done in this change).
//
// The `qcow2` transfer driver: a non-persistent disk is a qcow2 overlay on the shared image,
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
#include "common.hpp"

#include "onestor/config.hpp"
#include "onestor/error.hpp"
#include "onestor/io.hpp"
#include "onestor/libvirt.hpp"
#include "onestor/lock.hpp"
#include "onestor/log.hpp"
#include "onestor/numbers.hpp"
#include "onestor/qemu.hpp"
#include "onestor/registry.hpp"
#include "onestor/transfer.hpp"

#include <unistd.h>
#include <map>

namespace onestor::backends {
namespace {

class Qcow2 final : public CommonTm {
public:
    void clone(const TmContext& c, const HostPath& src, const HostPath& dst) {
        check_disk_path(dst, c.vmid);
        Host& h = Host::get(dst.host);
        std::string image = host_image_path(src.path, dst.path);
        int id = disk_id_of(dst.path);
        const VmDisk* d = id >= 0 ? c.vm().disk(id) : nullptr;
        if (!d || d->get("TYPE") == "CDROM") {   // kernels, initrds, ISOs: a plain copy
            h.copy_file(image, dst.path, true);  // (makes the VM directory)
            return;
        }
        std::string format = image_format(h, image, *d, false);
        qemu::validate(h, image, format, image + ".snap");  // before anything is created
        // A host's own datastore holds a copy of the image (the image datastore may be away
        // when the VM runs), as QCOW2_STANDALONE asks for anywhere.
        bool copy = standalone(*d) || local_system(c);
        if (copy) log::info("standalone copy of " + quoted(image));
        std::string dir = dst.path + ".snap", leaf = leaf_of(id);
        // The whole snapshot directory is built under a temporary name, then renamed in.
        RemoteTemp tmp(h, io::temp_name_for(dir));
        std::string first = join_path(tmp.path(), "0");
        std::vector<Step> build = {h.mkdir_step(tmp.path()), copy ? qemu::convert_step(h, format, image, "qcow2", first)
                                                                  : qemu::overlay_step(h, image, format, first)};
        if (auto size = grown_size_mb(c, dst.path)) build.push_back(qemu::resize_step(h, "qcow2", first, size));
        build.push_back(h.symlink_step(".", join_path(tmp.path(), leaf)));
        build.push_back(qemu::chain_step(h, first, "qcow2"));
        check_loops(qemu::parse_chain(h.batch(build).back()), quoted(dst.str()));
        h.batch({h.sync_step(first), h.sync_step(tmp.path()),
                 h.remove_step(dir),  // a leftover of an earlier, failed deploy of this same disk
                 h.rename_step(tmp.path(), dir, false), h.symlink_step(leaf + "/0", dst.path),
                 h.sync_step(dirname_of(dst.path))});
        tmp.keep();
        if (local_system(c)) mark_local_monitoring(h, dirname_of(dst.path), "ssh");
        log::info("disk " + quoted(dst.str()) + (copy ? " is a standalone copy of " : " is an overlay on ") + quoted(image));
    }

    void ln(const TmContext& c, const HostPath& src, const HostPath& dst) {
        check_disk_path(dst, c.vmid);
        Host& h = Host::get(dst.host);
        std::string image = host_image_path(src.path, dst.path);
        int id = disk_id_of(dst.path);
        const VmDisk* d = id >= 0 ? c.vm().disk(id) : nullptr;
        if (!d || d->get("TYPE") == "CDROM") {
            h.batch({h.mkdir_step(dirname_of(dst.path)), h.symlink_step(image, dst.path)});
            return;
        }
        if (local_system(c)) return copy_in(c, src, dst, *d);
        std::string format = image_format(h, image, *d, true);
        Layout home = image_dir_layout(image, format);
        qemu::validate(h, image, format, home.dir);  // before anything is created
        Lock lock("image-" + basename_of(image));
        auto names =
            Host::parse_list(h.batch({h.mkdir_step(dirname_of(dst.path)), h.mkdir_step(home.dir), h.list_step(home.dir)}).back());
        long active = -1;
        bool self = false;
        for (const auto& n : names) {
            if (numeric_name(n)) active = std::max(active, std::stol(n));
            self = self || n == home.leaf;
        }
        std::vector<Step> steps;
        if (!self) steps.push_back(h.symlink_step(home.dir, join_path(home.dir, home.leaf)));
        if (active < 0) {
            steps.push_back(h.symlink_step(image, home.file(0)));
            active = 0;
        }
        // The snapshots an earlier VM left must still form a whole chain down to the image.
        steps.push_back(qemu::chain_step(h, home.file(active), home.format(active)));
        check_loops(qemu::parse_chain(h.batch(steps).back()), quoted(dst.str()));
        h.batch({h.symlink_step(home.dir, dst.path + ".snap"), h.symlink_step(home.file(active), dst.path)});
        log::info("persistent disk " + quoted(dst.str()) + " runs on " + quoted(home.file(active)));
    }

    void mvds(const TmContext& c, const HostPath& src, const HostPath& dst) {
        if (local_system(c)) return copy_back(c, src, dst);
        log::info(quoted(src.str()) + " lives in its image's snapshot directory: nothing to move");
    }

    void cpds(const TmContext& c, const HostPath& src, const HostPath& dst, long snap) {
        check_disk_path(src, c.vmid);
        Host& h = Host::get(src.host);
        Layout l = layout(h, c, src);
        std::vector<Step> also;
        if (snap >= 0) {
            also.push_back(h.present_step(l.file(snap),
                                          "snapshot " + std::to_string(snap) + " of " + quoted(src.str()) + " does not exist"));
            also.push_back(qemu::chain_step(h, l.file(snap), l.format(snap)));
        }
        Active a = validated_active(h, src, l, std::move(also));
        long layer = snap >= 0 ? snap : a.id;
        std::string from = l.file(layer);
        auto ch = snap >= 0 ? qemu::parse_chain(a.also.back()) : a.chain;
        std::string target = host_image_path(dst.path, src.path);
        // Never onto a file of the disk's own chain (the persistent image itself, a layer):
        // the layers above it would then read changed data. Onto the very file: nothing to do.
        // (Files compared by device and inode, the target last: it may not exist.)
        Argv ids = {"stat", "-L", "-c", "%d:%i", "--"};
        for (const auto& i : ch) ids.push_back(i.filename);
        ids.push_back(target);
        Result r = h.run(ids, {.timeout_s = 60, .check = false});
        std::vector<std::string> lines;
        for (size_t b = 0, e; (e = r.out.find('\n', b)) != std::string::npos; b = e + 1) lines.push_back(r.out.substr(b, e - b));
        if (lines.size() < ch.size())
            throw DriverError("cannot identify the files of " + quoted(h.label(from)) + ": " + failure_reason(r.err));
        for (size_t i = 0; lines.size() > ch.size() && i < ch.size(); ++i) {
            if (lines[i] != lines.back()) continue;
            if (i == 0) {
                log::info(quoted(h.label(from)) + " is " + quoted(target) + " already: nothing to copy");
                return;
            }
            throw DriverError("cannot save " + quoted(src.str()) + " as " + quoted(target) +
                              ": that file is part of the disk's own backing chain");
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

    void mv(const TmContext& c, const HostPath& src, const HostPath& dst) {
        if (src.path == dst.path || disk_id_of(src.path) >= 0) return;  // shared storage
        move_vm_dir(c, src, dst);
    }

    void snap_create(const TmContext& c, const HostPath& disk, long snap) {
        Lock lock("vm-" + std::to_string(c.vmid));
        Host& h = Host::get(disk.host);
        Layout l = layout(h, c, disk);
        std::string next = l.file(snap + 1);
        Active a =
            validated_active(h, disk, l, {h.absent_step(next, "snapshot layer " + quoted(h.label(next)) + " already exists")});
        // oned numbers snapshots on (an id is not reused after a failed snapshot), so the
        // id may be past the active layer's number. The layer being frozen then takes the
        // snapshot's number (a hard link now, the old name dropped once disk.N has moved),
        // so snapshot k stays file k for revert and delete. (A persistent disk's layer 0 is
        // the image, or its copy, and keeps its name.)
        std::string top = l.file(a.id), frozen = l.file(snap);
        long base = a.id;
        bool alias = false;
        if (snap != a.id) {
            if (snap >= 0 && !(l.persistent && a.id == 0) && !h.exists(frozen)) {
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
        check_loops(qemu::parse_chain(out.back()), quoted(disk.str()));
        log::info("snapshot " + std::to_string(snap) + " of " + quoted(disk.str()) + " frozen; writes go to layer " +
                  std::to_string(snap + 1));
    }

    void snap_create_live(const TmContext& c, const HostPath& disk, long snap) {
        Lock lock("vm-" + std::to_string(c.vmid));
        Host& h = Host::get(disk.host);
        Layout l = layout(h, c, disk);
        const VmInfo& vm = c.vm();
        std::string next = l.file(snap + 1);
        Active a =
            validated_active(h, disk, l, {h.absent_step(next, "snapshot layer " + quoted(h.label(next)) + " already exists")});
        // The new layer is built first (under its final name: libvirt is given that name);
        // libvirt then switches the running disk onto it (--reuse-external), atomically
        // across the domain's disks (--atomic).
        RemoteTemp layer(h, next);
        h.batch({qemu::overlay_step(h, l.active_name(a.id), l.format(a.id), next), h.sync_step(next)});
        std::string target = disk_target(c, disk);
        std::string xml = "<domainsnapshot><disks>";
        for (const auto& d : vm.disks) {
            std::string t = d.get("TARGET");
            if (t.empty()) continue;
            if (t == target)
                xml += "<disk name='" + xml_escape(t) + "' snapshot='external'><source file='" + xml_escape(h.realpath(next)) +
                       "'/></disk>";
            else
                xml += "<disk name='" + xml_escape(t) + "' snapshot='no'/>";
        }
        xml += "</disks></domainsnapshot>";
        std::string xml_path = join_path(dirname_of(disk.path), ".snapshot-" + std::to_string(snap) + ".xml");
        RemoteTemp xml_file(h, xml_path);
        put_text(h, xml, xml_path);
        {
            libvirt::Quiesce q(h, vm.deploy_id);
            h.run(libvirt::virsh({"snapshot-create", "--domain", vm.deploy_id, "--disk-only", "--atomic", "--no-metadata",
                                  "--reuse-external", "--xmlfile", xml_path}),
                  {.timeout_s = 300, .what = "cannot snapshot the running disk " + quoted(disk.str())});
        }
        layer.keep();
        // The layer frozen now keeps its long backing name: QEMU holds it open, so its header
        // is not rewritten; the next snapshot taken offline shortens it.
        auto out = h.batch({h.symlink_step(l.active_name(snap + 1), disk.path), h.sync_step(l.dir),
                            qemu::chain_step(h, disk.path, l.format(snap + 1))});
        check_loops(qemu::parse_chain(out.back()), quoted(disk.str()));
        log::info("live snapshot " + std::to_string(snap) + " of " + quoted(disk.str()) + "; the domain writes to layer " +
                  std::to_string(snap + 1));
    }

    void snap_revert(const TmContext& c, const HostPath& disk, long snap) {
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
        check_loops(qemu::parse_chain(out.back()), quoted(disk.str()));
        log::info("reverted " + quoted(disk.str()) + " to snapshot " + std::to_string(snap));
    }

    void snap_delete(const TmContext& c, const HostPath& disk, long snap) {
        Lock lock("vm-" + std::to_string(c.vmid));
        Host& h = Host::get(disk.host);
        Layout l = layout(h, c, disk);
        std::string victim = l.file(snap);
        std::string missing = "snapshot " + std::to_string(snap) + " of " + quoted(disk.str()) + " does not exist";
        Active a = validated_active(
            h, disk, l, {h.present_step(victim, missing), qemu::chain_step(h, victim, l.format(snap)), h.list_step(l.dir)});
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
        // What every other layer is built on (one round trip for all of them).
        std::vector<long> others;
        std::vector<Step> reads;
        for (const auto& n : Host::parse_list(a.also[2])) {
            if (!numeric_name(n) || std::stol(n) == snap) continue;
            others.push_back(std::stol(n));
            reads.push_back(qemu::info_step(h, l.file(others.back()), l.format(others.back())));
        }
        auto headers = h.batch(reads);
        // Every layer built on the victim is rebased onto the victim's own backing file
        // (safe mode: the data the victim provided is copied into the child first), named
        // as a layer in the child's place names it.
        std::vector<Step> steps;
        for (size_t i = 0; i < others.size(); ++i) {
            if (l.layer_of(qemu::parse_info(headers[i])) != snap) continue;
            long k = others[i];
            std::string name = parent < 0 ? vi.backing_file : k == a.id ? l.active_name(parent) : l.frozen_name(parent);
            log::info("rebasing layer " + std::to_string(k) + " off snapshot " + std::to_string(snap));
            steps.push_back(qemu::rebase_step(h, l.file(k), name, parent_format));
        }
        steps.push_back(h.remove_step(victim));
        steps.push_back(h.sync_step(l.dir));
        steps.push_back(qemu::chain_step(h, disk.path, l.format(a.id)));
        check_loops(qemu::parse_chain(h.batch(steps).back()), quoted(disk.str()));
        log::info("deleted snapshot " + std::to_string(snap) + " of " + quoted(disk.str()));
    }

    // The active layer grows (a qcow2 overlay may be larger than its backing file); its
    // format is known, never probed: a persistent raw disk stays raw.
    void resize(const TmContext& c, const HostPath& disk, long size_mb) {
        check_disk_path(disk, c.vmid);
        if (c.vm().lcm_state == lcm::DiskResize) {  // a running VM: the hypervisor resizes
            log::info("VM " + std::to_string(c.vmid) + " is running: the hypervisor resizes " + quoted(disk.str()));
            return;
        }
        if (size_mb <= 0) throw DriverError("cannot resize " + quoted(disk.str()) + " to " + std::to_string(size_mb) + " MiB");
        Lock lock("vm-" + std::to_string(c.vmid));
        Host& h = Host::get(disk.host);
        std::string format;
        if (h.readlink(disk.path).empty()) {  // a volatile disk: a plain file of its declared format
            format = disk_format(c.vm().require_disk(disk_id_of(disk.path)));
        } else {
            Layout l = layout(h, c, disk);
            format = l.format(validated_active(h, disk, l).id);
        }
        qemu::resize(h, format, disk.path, static_cast<unsigned long long>(size_mb));
        log::info("resized " + quoted(disk.str()) + " to " + std::to_string(size_mb) + " MiB");
    }

private:
    // ln.ssh: a persistent image runs from copies on the host's own datastore. Its layers
    // (the image as layer 0, its snapshots <SOURCE>.snap/k) are checked where they lie,
    // copied into a temporary disk.N.snap/ on the host, renamed as their new home names
    // them (relative), checked again there, and only then renamed in. The image is only read.
    void copy_in(const TmContext&, const HostPath& src, const HostPath& dst, const VmDisk& d) {
        Host& fe = Host::get(src.host);
        Host& h = Host::get(dst.host);
        std::string image = src.path;
        int id = disk_id_of(dst.path);
        Layout home = image_dir_layout(image, image_format(fe, image, d, true));
        Lock lock("image-" + basename_of(image));
        if (!fe.readlink(image).empty()) throw DriverError("image " + quoted(fe.label(image)) + " is a symlink");
        auto names = fe.list(home.dir);
        auto layers = checked_layers(fe, home, names, image);
        long active = layers.rbegin()->first;
        check_loops(qemu::chain(fe, active > 0 ? home.file(active) : image, home.format(active)), quoted(fe.label(image)));
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
            fix.push_back(qemu::rebase_unsafe_step(h, l.file(k), k == active ? l.active_name(below) : l.frozen_name(below),
                                                   i.backing_format));
            fix.push_back(h.sync_step(l.file(k)));
        }
        h.batch(fix);
        std::vector<std::string> copied;
        for (const auto& [k, i] : layers) copied.push_back(std::to_string(k));
        checked_layers(h, l, copied, "");
        check_loops(qemu::chain(h, l.file(active), l.format(active)), quoted(dst.str()));
        h.batch({h.sync_step(l.dir), h.remove_step(dir),  // a leftover of an earlier, failed deploy
                 h.rename_step(l.dir, dir, false), h.symlink_step(l.leaf + "/" + std::to_string(active), dst.path),
                 h.sync_step(dirname_of(dst.path))});
        stage.keep();
        mark_local_monitoring(h, dirname_of(dst.path), "ssh");
        log::info("persistent disk " + quoted(dst.str()) + " runs on a copy of " + quoted(fe.label(image)) + ", layer " +
                  std::to_string(active));
    }

    // mvds.ssh: the host's chain goes back beside the image. It is copied into a temporary
    // directory beside <SOURCE>.snap, checked there, renamed as the image datastore names
    // it (absolute names; layer 0 becomes <SOURCE> itself), checked again; then the image
    // and the directory are renamed into place, the result is checked once more, and only
    // then is the host's copy removed. A failure before that leaves the host's chain as it
    // was, for oned to retry.
    void copy_back(const TmContext& c, const HostPath& src, const HostPath& dst) {
        check_disk_path(src, c.vmid);
        Host& h = Host::get(src.host);
        Host& fe = Host::get(dst.host);
        Layout l = layout(h, c, src);
        if (!l.persistent) throw DriverError("disk " + quoted(src.str()) + " is not a persistent image: nothing to save back");
        Active a = validated_active(h, src, l);
        Layout home = image_dir_layout(dst.path, l.base_format);
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
        check_loops(qemu::chain(fe, staged.file(a.id), staged.format(a.id)), quoted(src.str()));
        RemoteTemp base(fe, io::temp_name_for(image));
        std::vector<Step> rename = {fe.remove_step(join_path(staged.dir, l.leaf))};
        for (const auto& [k, i] : layers) {
            if (k == 0) continue;
            rename.push_back(
                qemu::rebase_unsafe_step(fe, staged.file(k), home.active_name(staged.layer_of(i)), i.backing_format));
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
        check_loops(qemu::chain(fe, home.file(a.id), home.format(a.id)), quoted(fe.label(image)));
        h.batch({h.remove_step(l.dir), h.remove_step(src.path)});
        log::info("persistent disk " + quoted(src.str()) + " saved to " + quoted(fe.label(image)) + " with " +
                  std::to_string(layers.size() - 1) + " snapshot layer(s)");
    }

    static std::string xml_escape(const std::string& s) {
        std::string o;
        for (char ch : s) {
            switch (ch) {
                case '&': o += "&amp;"; break;
                case '<': o += "&lt;"; break;
                case '>': o += "&gt;"; break;
                case '\'': o += "&apos;"; break;
                case '"': o += "&quot;"; break;
                default: o += ch;
            }
        }
        return o;
    }

    static void put_text(Host& h, const std::string& text, const std::string& path) {
        char tmpl[] = "/tmp/onestor-xml.XXXXXX";
        int fd = ::mkstemp(tmpl);
        if (fd < 0) throw_errno("cannot create a file in", "/tmp");
        io::File f(fd);
        struct Unlink {
            std::string p;
            ~Unlink() { ::unlink(p.c_str()); }
        } u{tmpl};
        if (::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) throw_errno("cannot write", tmpl);
        h.put_file(tmpl, path);
    }

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
        long layer_of(const qemu::ImageInfo& i) const {
            std::string b = i.full_backing_file.empty() ? i.backing_file : i.full_backing_file;
            if (b.empty() || b[0] != '/' || !numeric_name(basename_of(b))) return -1;
            std::string d = dirname_of(b);
            while (d != dir && basename_of(d) == leaf) d = dirname_of(d);  // through the self link
            return d == dir ? std::stol(basename_of(b)) : -1;
        }
    };

    // A persistent image's own snapshot directory in the image datastore.
    static Layout image_dir_layout(const std::string& image, const std::string& format) {
        Layout l;
        l.dir = image + ".snap";
        l.leaf = basename_of(image) + ".snap";
        l.absolute = l.persistent = true;
        l.base_format = format;
        return l;
    }

    static std::string leaf_of(int id) { return "disk." + std::to_string(id) + ".snap"; }
    // oned says "the system datastore is the host's own" by the .ssh suffix.
    static bool local_system(const TmContext& c) { return c.suffix == "ssh"; }

    static Layout layout(Host& h, const TmContext& c, const HostPath& disk) {
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
            if (!local_system(c)) return image_dir_layout(image, format);
            l.persistent = true;
            l.base_format = format;
        }
        return l;
    }

    struct Active {
        long id = -1;                        // the active layer
        std::vector<qemu::ImageInfo> chain;  // from disk.N down to its base
        std::vector<std::string> also;       // what the extra steps printed
    };

    // The active layer, after checking the chain is whole: disk.N points at a numbered layer
    // of the snapshot directory and qemu-img walks the chain to its base without a loop.
    // `also` runs in the same round trip (checks and reads the action needs).
    static Active validated_active(Host& h, const HostPath& disk, const Layout& l, std::vector<Step> also = {}) {
        // When every layer is a qcow2 the chain is read with the link; a persistent raw
        // layer 0 only once the link has said it is the active one.
        bool together = l.base_format == "qcow2";
        std::vector<Step> steps = {
            h.readlink_step(disk.path, "disk " + quoted(disk.str()) + " is not a qcow2 snapshot chain (it is no symlink)")};
        if (together) steps.push_back(qemu::chain_step(h, disk.path, "qcow2"));
        size_t first = steps.size();
        for (auto& s : also) steps.push_back(std::move(s));
        std::vector<std::string> out;
        try {
            out = h.batch(steps);
        } catch (const DriverError&) {
            // A chain that does not open because disk.N points at a missing layer: say that.
            std::string link = h.readlink(disk.path);
            if (!link.empty() && !h.exists(l.file(active_of(disk, l, link))))
                throw DriverError("disk " + quoted(disk.str()) + " points at a missing layer " + quoted(link));
            throw;
        }
        Active a;
        a.id = active_of(disk, l, out[0]);
        a.chain = together ? qemu::parse_chain(out[1]) : qemu::chain(h, disk.path, l.format(a.id));
        check_loops(a.chain, quoted(disk.str()));
        a.also.assign(out.begin() + static_cast<long>(first), out.end());
        return a;
    }

    // The layer disk.N's link names, by name as we write it: "disk.N.snap/k" beside disk.N,
    // or "<SOURCE>.snap/k".
    static long active_of(const HostPath& disk, const Layout& l, const std::string& link) {
        std::string b = link.substr(link.rfind('/') + 1);
        if (!numeric_name(b))
            throw DriverError("disk " + quoted(disk.str()) + " is not a qcow2 snapshot chain (it points at " + quoted(link) +
                              ")");
        if ((link[0] == '/' ? link : join_path(dirname_of(disk.path), link)) != join_path(l.dir, b))
            throw DriverError("disk " + quoted(disk.str()) + " points at " + quoted(link) + ", not at layer " + b + " of " +
                              quoted(l.dir));
        return std::stol(b);
    }

    // No image in a chain qemu-img walked is its own ancestor.
    static void check_loops(const std::vector<qemu::ImageInfo>& chain, const std::string& what) {
        std::set<std::string> seen;
        for (const auto& i : chain)
            if (!seen.insert(i.filename).second)
                throw DriverError("disk " + what + " has a backing chain that loops at " + quoted(i.filename));
    }

    // Steps giving the frozen layers of a chain the short names of frozen layers (header
    // only, qemu-img rebase -u): the layer just frozen, and any a live snapshot left long.
    // chain[0] is the layer that was active, now file `first`.
    static std::vector<Step> shorten_names(Host& h, const Layout& l, const std::vector<qemu::ImageInfo>& chain, long first) {
        std::vector<Step> steps;
        if (l.absolute) return steps;
        long id = first;
        for (const auto& i : chain) {
            long below = l.layer_of(i);
            if (below < 0) break;
            if (i.backing_file != l.frozen_name(below) && !i.backing_format.empty()) {
                steps.push_back(qemu::rebase_unsafe_step(h, l.file(id), l.frozen_name(below), i.backing_format));
                steps.push_back(h.sync_step(l.file(id)));
            }
            id = below;
        }
        return steps;
    }

    // The numbered layers among `names` (entries of l.dir) checked where they lie, before
    // anything uses them: each a file, not a symlink, opened with its format (layer 0:
    // l.base_format, standing alone; any other: a qcow2 that names another layer of l.dir
    // and its format). With `image`, layer 0 is a link to that image, which is checked
    // instead. Returns layer -> header; layer 0 is always there.
    static std::map<long, qemu::ImageInfo> checked_layers(Host& h, const Layout& l, const std::vector<std::string>& names,
                                                          const std::string& image) {
        std::map<long, qemu::ImageInfo> layers;
        if (!image.empty()) layers[0] = qemu::validate(h, image, l.base_format, "");
        for (const auto& n : names) {
            if (!numeric_name(n)) continue;
            long k = std::stol(n);
            std::string f = l.file(k);
            if (k == 0 && !image.empty()) {
                if (h.realpath(f) != h.realpath(image))
                    throw DriverError("layer 0 of " + quoted(h.label(image)) + " is not the image itself");
                continue;
            }
            if (!h.readlink(f).empty()) throw DriverError("layer " + quoted(h.label(f)) + " is a symlink");
            qemu::ImageInfo i = qemu::validate(h, f, l.format(k), k == 0 ? "" : l.dir);
            if (k > 0 && (l.layer_of(i) < 0 || i.backing_format.empty()))
                throw DriverError("layer " + quoted(h.label(f)) + " does not name a layer of its directory and its format");
            layers[k] = i;
        }
        if (!layers.count(0)) throw DriverError("snapshot directory " + quoted(h.label(l.dir)) + " has no layer 0");
        return layers;
    }

    static bool standalone(const VmDisk& d) { return disk_flag(d, "QCOW2_STANDALONE"); }
};

}  // namespace

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
