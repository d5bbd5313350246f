// The `qcow2` transfer driver: a non-persistent disk is a qcow2 overlay on the shared image,
// so a deploy costs an overlay, not a copy, and disk snapshots are overlays too. The layout
// is the one users' tools expect (upstream's):
//   <vm>/disk.N            -> disk.N.snap/<active>          (relative symlink)
//   <vm>/disk.N.snap/0        overlay on the image (absolute backing name, format explicit)
//   <vm>/disk.N.snap/k+1      made by snapshot k: overlay on "disk.N.snap/k"
//   <vm>/disk.N.snap/disk.N.snap -> .                      (resolves those relative names)
// A persistent image keeps its snapshots beside it: <SOURCE>.snap/0 -> <SOURCE>, overlays
// with absolute names, disk.N -> <SOURCE>.snap/<active>, disk.N.snap -> <SOURCE>.snap.
// Snapshot k is always file k; the active layer's number is the next snapshot id. Every
// change builds the new overlay completely under a temporary name, then renames it (or the
// disk.N link) into place, and the chain is validated before and after.
// No layer's format is ever probed: every layer we make is qcow2, and a persistent disk's
// layer 0 (the image itself, which its guest writes) has the format oned declares for it.
// A raw disk whose guest wrote a qcow2 header with a backing file must stay raw, or the
// next overlay would read the host's files through it.
#include "common.hpp"

#include "onestor/config.hpp"
#include "onestor/error.hpp"
#include "onestor/io.hpp"
#include "onestor/lock.hpp"
#include "onestor/log.hpp"
#include "onestor/qemu.hpp"

#include <memory>
#include <unistd.h>

namespace onestor::backends {
namespace {

bool numeric(const std::string& n) {
    return !n.empty() && n.size() < 10 && n.find_first_not_of("0123456789") == std::string::npos;
}

class Qcow2 final : public CommonTm {
public:
    std::string name() const override { return "qcow2"; }
    std::set<std::string> features() const override {
        return {"clone",       "ln",          "mvds",        "cpds",    "mv",     "premigrate", "postmigrate",
                "snap_create", "snap_delete", "snap_revert", "context", "delete", "mkimage",    "mkswap",
                "monitor",     "snap_create_live", "resize"};
    }

    void clone(const TmContext& c, const HostPath& src, const HostPath& dst) override {
        check_disk_path(dst, c.vmid);
        Host& h = Host::get(dst.host);
        std::string image = host_image_path(src.path, dst.path);
        int id = disk_id_of(dst.path);
        const VmDisk* d = id >= 0 ? c.vm().disk(id) : nullptr;
        if (!d || d->get("TYPE") == "CDROM") {  // kernels, initrds, ISOs: a plain copy
            h.mkdir_p(dirname_of(dst.path));
            h.copy_file(image, dst.path, true);
            return;
        }
        std::string format = image_format(h, image, *d, false);
        qemu::validate(h, image, format, image + ".snap");  // before anything is created
        h.mkdir_p(dirname_of(dst.path));
        std::string dir = dst.path + ".snap", leaf = "disk." + std::to_string(id) + ".snap";
        // Build the whole snapshot directory under a temporary name, then rename it in.
        RemoteTemp tmp(h, io::temp_name_for(dir));
        h.mkdir_p(tmp.path());
        std::string first = join_path(tmp.path(), "0");
        if (standalone(*d)) {
            log::info("standalone copy of " + quoted(image));
            qemu::convert(h, format, image, "qcow2", first);
        } else {
            qemu::create_overlay(h, image, format, first);
        }
        long size = d->size_mb("SIZE"), orig = d->size_mb("ORIGINAL_SIZE");
        if (size > orig && orig > 0) qemu::resize(h, "qcow2", first, static_cast<unsigned long long>(size));
        h.symlink(".", join_path(tmp.path(), leaf));
        check_chain(h, first, "qcow2", quoted(dst.str()));
        h.sync(first);
        h.remove(dir);  // a leftover of an earlier, failed deploy of this same disk
        h.rename(tmp.path(), dir, false);
        tmp.keep();
        h.symlink(leaf + "/0", dst.path);
        log::info("disk " + quoted(dst.str()) + (standalone(*d) ? " is a standalone copy of " : " is an overlay on ") +
                  quoted(image));
    }

    void ln(const TmContext& c, const HostPath& src, const HostPath& dst) override {
        check_disk_path(dst, c.vmid);
        Host& h = Host::get(dst.host);
        std::string image = host_image_path(src.path, dst.path);
        int id = disk_id_of(dst.path);
        const VmDisk* d = id >= 0 ? c.vm().disk(id) : nullptr;
        if (!d || d->get("TYPE") == "CDROM") {
            h.mkdir_p(dirname_of(dst.path));
            h.symlink(image, dst.path);
            return;
        }
        std::string dir = image + ".snap";
        std::string format = image_format(h, image, *d, true);
        qemu::validate(h, image, format, dir);  // before anything is created
        h.mkdir_p(dirname_of(dst.path));
        Lock lock("image-" + basename_of(image));
        h.mkdir_p(dir);
        std::string self = join_path(dir, basename_of(image) + ".snap");
        if (!h.exists(self)) h.symlink(dir, self);
        if (active_id(h, dir) < 0) h.symlink(image, join_path(dir, "0"));
        long active = active_id(h, dir);
        // The snapshots an earlier VM left must still form a whole chain down to the image.
        check_chain(h, join_path(dir, std::to_string(active)), active == 0 ? format : "qcow2", quoted(dst.str()));
        h.symlink(dir, dst.path + ".snap");
        h.symlink(join_path(dir, std::to_string(active)), dst.path);
        log::info("persistent disk " + quoted(dst.str()) + " runs on " + quoted(join_path(dir, std::to_string(active))));
    }

    void mvds(const TmContext&, const HostPath& src, const HostPath&) override {
        log::info(quoted(src.str()) + " lives in its image's snapshot directory: nothing to move");
    }

    void cpds(const TmContext& c, const HostPath& src, const HostPath& dst, long snap) override {
        check_disk_path(src, c.vmid);
        Host& h = Host::get(src.host);
        Layout l = layout(h, c, src);
        long active = validated_active(h, src, l);
        long layer = snap >= 0 ? snap : active;
        std::string from = join_path(l.dir, std::to_string(layer));
        if (snap >= 0 && !h.exists(from))
            throw DriverError("snapshot " + std::to_string(snap) + " of " + quoted(src.str()) + " does not exist");
        std::string target = host_image_path(dst.path, src.path);
        // Never onto a file of the disk's own chain (the persistent image itself, a layer):
        // the layers above it would then read changed data. Onto the very file: nothing to do.
        if (std::string target_real = h.realpath(target); !target_real.empty()) {
            auto ch = qemu::chain(h, from, l.format(layer));
            for (size_t i = 0; i < ch.size(); ++i) {
                if (h.realpath(ch[i].filename) != target_real) continue;
                if (i == 0) {
                    log::info(quoted(h.label(from)) + " is " + quoted(target) + " already: nothing to copy");
                    return;
                }
                throw DriverError("cannot save " + quoted(src.str()) + " as " + quoted(target) +
                                  ": that file is part of the disk's own backing chain");
            }
        }
        h.mkdir_p(dirname_of(target));
        RemoteTemp tmp(h, io::temp_name_for(target));
        if (snap < 0 && c.vm().lcm_state == kHotplugSaveas) {
            live_copy(c, h, src, l.format(active), tmp.path());
        } else {
            // The export is flattened: a standalone image whatever the chain behind it.
            qemu::convert(h, l.format(layer), from, "qcow2", tmp.path());
        }
        h.sync(tmp.path());
        h.commit(tmp, target, true);
        log::info("saved " + quoted(h.label(from)) + " as " + quoted(target));
    }

    void mv(const TmContext& c, const HostPath& src, const HostPath& dst) override {
        if (src.path == dst.path || disk_id_of(src.path) >= 0) return;  // shared storage
        if (!is_vm_dir(src, c.vmid) || !is_vm_dir(dst, c.vmid))
            throw DriverError("cannot move " + quoted(src.str()) + " to " + quoted(dst.str()) +
                              ": not the directories of VM " + std::to_string(c.vmid));
        Host& h = Host::get(dst.host);
        Lock lock("vm-" + std::to_string(c.vmid));
        h.mkdir_p(dirname_of(dst.path));
        h.rename(src.path, dst.path, false);  // relative names inside keep the chains whole
    }

    void snap_create(const TmContext& c, const HostPath& disk, long snap) override {
        Lock lock("vm-" + std::to_string(c.vmid));
        Host& h = Host::get(disk.host);
        Layout l = layout(h, c, disk);
        long active = validated_active(h, disk, l);
        std::string next = join_path(l.dir, std::to_string(snap + 1));
        if (h.exists(next)) throw DriverError("snapshot layer " + quoted(h.label(next)) + " already exists");
        // oned numbers snapshots on (an id is not reused after a failed snapshot), so the
        // id may be past the active layer's number. The layer being frozen then takes the
        // snapshot's number (a hard link now, the old name dropped once disk.N has moved),
        // so snapshot k stays file k for revert and delete. (A persistent disk's layer 0 is
        // the image itself and keeps its name.)
        std::string top = join_path(l.dir, std::to_string(active)), frozen = join_path(l.dir, std::to_string(snap));
        long base = active;
        std::unique_ptr<RemoteTemp> alias;
        if (snap != active) {
            if (snap >= 0 && !h.exists(frozen) && !(l.persistent && active == 0)) {
                log::info("snapshot id " + std::to_string(snap) + " is past the active layer " + std::to_string(active) +
                          ": that layer becomes file " + std::to_string(snap));
                alias = std::make_unique<RemoteTemp>(h, frozen);
                h.run({"ln", "--", top, frozen}, {.what = "cannot link layer " + quoted(h.label(top))});
                base = snap;
            } else {
                log::info("snapshot id " + std::to_string(snap) + " differs from the active layer " + std::to_string(active));
            }
        }
        RemoteTemp tmp(h, io::temp_name_for(next));
        qemu::create_overlay(h, l.name(base), l.format(base), tmp.path());
        h.sync(tmp.path());
        h.rename(tmp.path(), next, false);
        tmp.keep();
        RemoteTemp placed(h, next);  // removed again should the swap fail
        h.symlink(l.link_target(snap + 1), disk.path);  // the atomic swap: disk.N -> new layer
        placed.keep();
        if (alias) {
            alias->keep();
            h.remove(top);
        }
        check_chain(h, disk.path, l.format(snap + 1), quoted(disk.str()));
        log::info("snapshot " + std::to_string(snap) + " of " + quoted(disk.str()) + " frozen; writes go to layer " +
                  std::to_string(snap + 1));
    }

    void snap_create_live(const TmContext& c, const HostPath& disk, long snap) override {
        Lock lock("vm-" + std::to_string(c.vmid));
        Host& h = Host::get(disk.host);
        Layout l = layout(h, c, disk);
        const VmInfo& vm = c.vm();
        long active = validated_active(h, disk, l);
        std::string next = join_path(l.dir, std::to_string(snap + 1));
        if (h.exists(next)) throw DriverError("snapshot layer " + quoted(h.label(next)) + " already exists");
        // The new layer is built first (under its final name: libvirt is given that name);
        // libvirt then switches the running disk onto it (--reuse-external), atomically
        // across the domain's disks (--atomic).
        RemoteTemp layer(h, next);
        qemu::create_overlay(h, l.name(active), l.format(active), next);
        h.sync(next);
        std::string target = vm.require_disk(disk_id_of(disk.path)).get("TARGET");
        if (target.empty()) throw DriverError("disk " + quoted(disk.str()) + " has no TARGET");
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
            Quiesce q(h, vm.deploy_id);
            h.run(virsh({"snapshot-create", "--domain", vm.deploy_id, "--disk-only", "--atomic", "--no-metadata",
                         "--reuse-external", "--xmlfile", xml_path}),
                  {.timeout_s = 300, .what = "cannot snapshot the running disk " + quoted(disk.str())});
        }
        layer.keep();
        h.symlink(l.link_target(snap + 1), disk.path);
        check_chain(h, disk.path, l.format(snap + 1), quoted(disk.str()));
        log::info("live snapshot " + std::to_string(snap) + " of " + quoted(disk.str()) + "; the domain writes to layer " +
                  std::to_string(snap + 1));
    }

    void snap_revert(const TmContext& c, const HostPath& disk, long snap) override {
        Lock lock("vm-" + std::to_string(c.vmid));
        Host& h = Host::get(disk.host);
        Layout l = layout(h, c, disk);
        long active = validated_active(h, disk, l);
        std::string target = join_path(l.dir, std::to_string(snap));
        if (snap == active || !h.exists(target))
            throw DriverError("snapshot " + std::to_string(snap) + " of " + quoted(disk.str()) + " does not exist");
        // A fresh overlay on the snapshot replaces the active layer in one rename: the
        // changes since the last snapshot are discarded, as a revert means.
        std::string top = join_path(l.dir, std::to_string(active));
        RemoteTemp tmp(h, io::temp_name_for(top));
        qemu::create_overlay(h, l.name(snap), l.format(snap), tmp.path());
        h.sync(tmp.path());
        h.commit(tmp, top, true);
        check_chain(h, disk.path, l.format(active), quoted(disk.str()));
        log::info("reverted " + quoted(disk.str()) + " to snapshot " + std::to_string(snap));
    }

    void snap_delete(const TmContext& c, const HostPath& disk, long snap) override {
        Lock lock("vm-" + std::to_string(c.vmid));
        Host& h = Host::get(disk.host);
        Layout l = layout(h, c, disk);
        long active = validated_active(h, disk, l);
        std::string victim = join_path(l.dir, std::to_string(snap));
        if (snap == active || !h.exists(victim))
            throw DriverError("snapshot " + std::to_string(snap) + " of " + quoted(disk.str()) + " does not exist");
        if (l.persistent && (snap == 0 || !h.readlink(victim).empty()))
            throw DriverError("snapshot " + std::to_string(snap) + " of " + quoted(disk.str()) +
                              " is the persistent image itself; it cannot be deleted (flatten the image instead)");
        qemu::ImageInfo vi = chain_top(h, victim, l.format(snap));
        std::string parent = vi.backing_file;  // as written in the victim: relative or absolute
        // The victim's backing format is the one we wrote into it (never probed); a
        // standalone victim has no backing file, and its children become standalone.
        if (!parent.empty() && vi.backing_format.empty())
            throw DriverError("snapshot " + std::to_string(snap) + " of " + quoted(disk.str()) +
                              " names no backing format; refusing to guess it");
        std::string parent_format = vi.backing_format.empty() ? "qcow2" : vi.backing_format;
        // Every layer built on the victim is rebased onto the victim's own backing file
        // (safe mode: the data the victim provided is copied into the child first).
        for (const auto& n : h.list(l.dir)) {
            if (!numeric(n) || n == std::to_string(snap)) continue;
            std::string f = join_path(l.dir, n);
            qemu::ImageInfo fi = qemu::info(h, f, l.format(std::stol(n)));
            // A child names the victim as we write names (l.name); any other spelling of
            // a file numbered like it is resolved to be sure.
            bool child = fi.backing_file == l.name(snap);
            if (!child && !fi.full_backing_file.empty() && basename_of(fi.full_backing_file) == std::to_string(snap))
                child = h.realpath(fi.full_backing_file) == h.realpath(victim);
            if (!child) continue;
            log::info("rebasing layer " + n + " off snapshot " + std::to_string(snap));
            qemu::rebase(h, f, parent, parent_format);
        }
        h.remove(victim);
        check_chain(h, disk.path, l.format(active), quoted(disk.str()));
        log::info("deleted snapshot " + std::to_string(snap) + " of " + quoted(disk.str()));
    }

    // The active layer grows (a qcow2 overlay may be larger than its backing file); its
    // format is known, never probed: a persistent raw disk stays raw.
    void resize(const TmContext& c, const HostPath& disk, long size_mb) override {
        check_disk_path(disk, c.vmid);
        if (c.vm().lcm_state == kDiskResize) {  // a running VM: the hypervisor resizes
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
            format = l.format(validated_active(h, disk, l));
        }
        qemu::resize(h, format, disk.path, static_cast<unsigned long long>(size_mb));
        log::info("resized " + quoted(disk.str()) + " to " + std::to_string(size_mb) + " MiB");
    }

private:
    static constexpr int kHotplugSaveas = 26;  // LCM state of a save-as of a running VM
    static constexpr int kDiskResize = 62;     // LCM state of a resize of a running VM's disk

    static Argv virsh(std::initializer_list<std::string> args) {
        Argv a = config().get_words("VIRSH");
        a.insert(a.end(), {"-c", config().get("LIBVIRT_URI")});
        a.insert(a.end(), args);
        return a;
    }

    // Freezes the guest's filesystems through its agent, or suspends the domain when no
    // agent answers; thaws / resumes when it goes out of scope, on every path.
    class Quiesce {
    public:
        Quiesce(Host& h, std::string dom) : h_(h), dom_(std::move(dom)) {
            if (h_.run(virsh({"domfsfreeze", dom_}), {.timeout_s = 30, .check = false}).status == 0) {
                mode_ = "thaw";
            } else {
                h_.run(virsh({"suspend", dom_}), {.timeout_s = 30, .what = "cannot suspend domain " + quoted(dom_)});
                mode_ = "resume";
                log::info("no guest agent: domain " + dom_ + " suspended for the snapshot");
            }
        }
        ~Quiesce() {
            try {
                h_.run(virsh({mode_ == "thaw" ? "domfsthaw" : "resume", dom_}), {.timeout_s = 30, .check = false, .cleanup = true});
            } catch (...) {
            }
        }

    private:
        Host& h_;
        std::string dom_, mode_;
    };

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

    // Save-as of a running VM's disk: libvirt copies the live chain (blockcopy), falling
    // back to a quiesced qemu-img convert when blockcopy is refused.
    static void live_copy(const TmContext& c, Host& h, const HostPath& disk, const std::string& format,
                          const std::string& out) {
        const VmInfo& vm = c.vm();
        std::string target = vm.require_disk(disk_id_of(disk.path)).get("TARGET");
        if (target.empty()) throw DriverError("disk " + quoted(disk.str()) + " has no TARGET");
        Result r = h.run(virsh({"blockcopy", "--domain", vm.deploy_id, "--path", target, "--dest", out, "--format", "qcow2",
                                "--wait", "--finish", "--transient-job"}),
                         {.timeout_s = static_cast<int>(config().get_int("COPY_TIMEOUT")), .check = false});
        if (r.status == 0) {
            log::info("copied the running disk " + quoted(disk.str()) + " with virsh blockcopy");
            return;
        }
        log::info("blockcopy failed (" + failure_reason(r.err) + "): copying with the domain quiesced");
        // A copy job left running (virsh timed out) would keep writing to `out`: end it first.
        h.run(virsh({"blockjob", "--domain", vm.deploy_id, "--path", target, "--abort"}),
              {.timeout_s = 60, .check = false, .cleanup = true});
        h.remove(out);
        Quiesce q(h, vm.deploy_id);
        Argv a = config().get_words("QEMU_IMG");
        a.insert(a.end(), {"convert", "-q", "-U", "-f", format, "-O", "qcow2", disk.path, out});
        h.run(a, {.timeout_s = static_cast<int>(config().get_int("COPY_TIMEOUT")),
                  .what = "cannot copy the running disk " + quoted(disk.str())});
    }

    struct Layout {
        std::string dir;         // the snapshot directory (for a persistent disk: <SOURCE>.snap)
        std::string leaf;        // "disk.N.snap"
        bool persistent = false;
        // The backing name a new layer uses for layer k (relative inside a VM directory, so
        // the directory can move; absolute for persistent images, as upstream).
        std::string name(long k) const {
            return persistent ? join_path(dir, std::to_string(k)) : leaf + "/" + std::to_string(k);
        }
        std::string link_target(long k) const { return name(k); }
        // Layer k's format. Every layer is a qcow2 we made, except a persistent disk's layer
        // 0: the image itself, which its guest writes, so its format is never probed.
        std::string base_format = "qcow2";
        std::string format(long k) const { return k == 0 ? base_format : "qcow2"; }
    };

    static Layout layout(Host& h, const TmContext& c, const HostPath& disk) {
        check_disk_path(disk, c.vmid);
        int id = disk_id_of(disk.path);
        if (id < 0) throw DriverError(quoted(disk.str()) + " is not a disk.N path");
        const VmDisk& d = c.vm().require_disk(id);
        Layout l;
        l.leaf = "disk." + std::to_string(id) + ".snap";
        l.persistent = d.get("CLONE") == "NO" && !d.get("SOURCE").empty();
        if (l.persistent) {
            std::string image = host_image_path(clean_path(d.get("SOURCE"), "disk SOURCE"), disk.path);
            l.dir = image + ".snap";
            l.base_format = image_format(h, image, d, true);
            if (d.get("FORMAT").empty() && d.get("DRIVER").empty()) qemu::validate(h, image, l.base_format, l.dir);
        } else {
            l.dir = disk.path + ".snap";
        }
        return l;
    }

    // The active layer's number, after checking the chain is whole: disk.N points at a
    // numbered layer of the snapshot directory and qemu-img can walk the chain to its base
    // without a loop.
    static long validated_active(Host& h, const HostPath& disk, const Layout& l) {
        std::string link = h.readlink(disk.path);
        std::string b = basename_of(link);
        if (link.empty() || !numeric(b))
            throw DriverError("disk " + quoted(disk.str()) + " is not a qcow2 snapshot chain (it points at " +
                              quoted(link) + ")");
        // By name, as we write it: "disk.N.snap/k" beside disk.N, or "<SOURCE>.snap/k".
        std::string layer = join_path(l.dir, b);
        if ((link[0] == '/' ? link : join_path(dirname_of(disk.path), link)) != layer)
            throw DriverError("disk " + quoted(disk.str()) + " points at " + quoted(link) + ", not at layer " + b + " of " +
                              quoted(l.dir));
        long active = std::stol(b);
        try {
            check_chain(h, disk.path, l.format(active), quoted(disk.str()));
        } catch (const DriverError&) {
            if (!h.exists(layer)) throw DriverError("disk " + quoted(disk.str()) + " points at a missing layer " + quoted(link));
            throw;
        }
        return active;
    }

    // qemu-img walks the chain from `path` (of the given format) to its base: every backing
    // file exists, and no image is its own ancestor.
    static void check_chain(Host& h, const std::string& path, const std::string& format, const std::string& what) {
        std::set<std::string> seen;
        for (const auto& i : qemu::chain(h, path, format))
            if (!seen.insert(i.filename).second)
                throw DriverError("disk " + what + " has a backing chain that loops at " + quoted(i.filename));
    }

    static qemu::ImageInfo chain_top(Host& h, const std::string& path, const std::string& format) {
        auto ch = qemu::chain(h, path, format);
        if (ch.empty()) throw DriverError("cannot read image " + quoted(h.label(path)));
        return ch.front();
    }

    static long active_id(Host& h, const std::string& dir) {
        long best = -1;
        for (const auto& n : h.list(dir))
            if (numeric(n)) best = std::max(best, std::stol(n));
        return best;
    }

    static bool standalone(const VmDisk& d) { return disk_flag(d, "QCOW2_STANDALONE"); }
};

}  // namespace

TmBackend& qcow2_backend() {
    static Qcow2 q;
    return q;
}

}  // namespace onestor::backends
