#include "qcow2.hpp"

#include "onestor/error.hpp"
#include "onestor/libvirt.hpp"
#include "onestor/lock.hpp"
#include "onestor/log.hpp"
#include "onestor/qemu.hpp"
#include "onestor/scripts.hpp"

namespace onestor::backends {
namespace {

std::string xml_escape(const std::string& s) {
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

}  // namespace

using chain::Active;
using chain::check_loops;
using chain::checked_layers;
using chain::shorten_names;
using chain::validated_active;

// Three round trips: the questions (the chain, the new layer's absence, the directory's
// canonical path, which libvirt is given); the snapshot (the new layer built under its final
// name, the domain's XML written, libvirt switching the running disk onto the layer,
// atomically across the domain's disks, with the guest quiesced around that alone); then
// the link. (The link is a batch of its own: should the snapshot batch fail, the new layer
// goes, which is safe only while QEMU has not switched to it, that is, not once the batch
// got past snapshot-create.)
void Qcow2::snap_create_live(const TmContext& c, const HostPath& disk, long snap) {
    Lock lock("vm-" + std::to_string(c.vmid));
    Host& h = Host::get(disk.host);
    Layout l = layout(h, c, disk);
    const VmInfo& vm = c.vm();
    std::string next = l.file(snap + 1);
    Active a = validated_active(
        h, disk, l, {h.absent_step(next, "snapshot layer " + quoted(h.label(next)) + " already exists"), h.realpath_step(l.dir)});
    std::string dir = a.also[1];
    while (!dir.empty() && dir.back() == '\n') dir.pop_back();
    if (dir.empty()) throw DriverError("cannot resolve " + quoted(h.label(l.dir)));
    std::string target = disk_target(c, disk);
    std::string xml = "<domainsnapshot><disks>";
    for (const auto& d : vm.disks) {
        std::string t = d.get("TARGET");
        if (t.empty()) continue;
        if (t == target)
            xml += "<disk name='" + xml_escape(t) + "' snapshot='external'><source file='" +
                   xml_escape(join_path(dir, basename_of(next))) + "'/></disk>";
        else
            xml += "<disk name='" + xml_escape(t) + "' snapshot='no'/>";
    }
    xml += "</disks></domainsnapshot>";
    std::string xml_path = join_path(dirname_of(disk.path), ".snapshot-" + std::to_string(snap) + ".xml");
    RemoteTemp layer(h, next), xml_file(h, xml_path);
    // (The XML is an argument, not the batch's stdin: a batch fed from stdin is not tied to
    // this process, and this one must end with the driver.)
    std::vector<Step> steps = {
        qemu::overlay_step(h, l.active_name(a.id), l.format(a.id), next), h.sync_step(next),
        h.run_step({"sh", "-c", scripts::kWriteLine, "sh", xml, xml_path}, "cannot write " + quoted(h.label(xml_path))),
        libvirt::quiesced_step(h, vm.deploy_id,
                               libvirt::virsh({"snapshot-create", "--domain", vm.deploy_id, "--disk-only", "--atomic",
                                               "--no-metadata", "--reuse-external", "--xmlfile", xml_path}),
                               "cannot snapshot the running disk " + quoted(disk.str()), 300)};
    libvirt::QuiescedBatch quiesced(h, vm.deploy_id);
    libvirt::log_quiesced(h.batch(steps).back(), vm.deploy_id);  // (nothing after snapshot-create: see above)
    quiesced.done();
    layer.keep();
    // The layer frozen now keeps its long backing name: QEMU holds it open, so its header
    // is not rewritten; the next snapshot taken offline shortens it.
    auto out = h.batch({h.symlink_step(l.active_name(snap + 1), disk.path), h.sync_step(l.dir),
                        qemu::chain_step(h, disk.path, l.format(snap + 1)), h.remove_step(xml_path)});
    xml_file.keep();
    check_loops(qemu::parse_chain(out[2]), "disk " + quoted(disk.str()));
    log::info("live snapshot " + std::to_string(snap) + " of " + quoted(disk.str()) + "; the domain writes to layer " +
              std::to_string(snap + 1));
}

}  // namespace onestor::backends
