// Live-migration hooks, run by the VMM driver around a migration:
//   premigrate|postmigrate|failmigrate SRC_HOST DST_HOST VM_DIR VMID DSID [TEMPLATE_B64] [CALLER_TM]
// The VM template comes as the 6th argument (<= 5.8) or on stdin (5.10+); a last word that
// is not a template is the TM that called us through migrate_other (protocol::migrate_input
// tells them apart). They print nothing.
#include "onestor/protocol.hpp"
#include "onestor/registry.hpp"

namespace onestor::actions::tm_migrate {
namespace {

const std::vector<ArgSpec> kMigrate = {
    {"src_host", ArgKind::Host}, {"dst_host", ArgKind::Host}, {"dir", ArgKind::Path, Confine::VmDir},
    {"vmid", ArgKind::VmId},     {"dsid", ArgKind::DsId},     {"extra", ArgKind::Extra}};

MigrateRequest request(const Call& c) {
    protocol::MigrateInput in = protocol::migrate_input(c.args.extra());
    return {c.args.word("src_host"), c.args.word("dst_host"), c.args.path("dir").path, in.template_b64,
            in.caller_tm ? valid_tm_name(*in.caller_tm) : std::string()};
}

void pre(Call& c) { c.op<sig::Migrate>()(c.tm_context(), request(c)); }
void post(Call& c) { c.op<sig::Migrate>()(c.tm_context(), request(c)); }

const Register r_pre{{Kind::Tm, "premigrate", kMigrate, "prepare the destination host before a live migration", pre}};
void fail(Call& c) { c.op<sig::Migrate>()(c.tm_context(), request(c)); }

// activate: run by the host itself after a reboot (upstream's cron @reboot line), no arguments.
void activate(Call& c) { c.op<sig::Host>()(); }

const Register r_activate{
    {Kind::Tm, "activate", {}, "on a host after its boot: activate the volumes of the VMs it owns", activate}};
const Register r_fail{{Kind::Tm, "failmigrate", kMigrate, "undo premigrate after a failed live migration", fail}};
const Register r_post{{Kind::Tm, "postmigrate", kMigrate, "clean up the source host after a live migration", post}};

}  // namespace
}  // namespace onestor::actions::tm_migrate
