#include "qcow2.hpp"

#include "onestor/error.hpp"
#include "onestor/io.hpp"
#include "onestor/libvirt.hpp"
#include "onestor/lock.hpp"
#include "onestor/log.hpp"
#include "onestor/qemu.hpp"

#include <unistd.h>

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

void put_text(Host& h, const std::string& text, const std::string& path) {
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

}  // namespace

using chain::Active;
using chain::check_loops;
using chain::checked_layers;
using chain::shorten_names;
using chain::validated_active;

void Qcow2::snap_create_live(const TmContext& c, const HostPath& disk, long snap) {
    Lock lock("vm-" + std::to_string(c.vmid));
    Host& h = Host::get(disk.host);
    Layout l = layout(h, c, disk);
    const VmInfo& vm = c.vm();
    std::string next = l.file(snap + 1);
    Active a = validated_active(h, disk, l, {h.absent_step(next, "snapshot layer " + quoted(h.label(next)) + " already exists")});
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
    check_loops(qemu::parse_chain(out.back()), "disk " + quoted(disk.str()));
    log::info("live snapshot " + std::to_string(snap) + " of " + quoted(disk.str()) + "; the domain writes to layer " +
              std::to_string(snap + 1));
}

}  // namespace onestor::backends
