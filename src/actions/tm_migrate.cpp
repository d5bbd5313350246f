// Live-migration hooks, run by the VMM driver around a migration:
//   premigrate|postmigrate SRC_HOST DST_HOST VM_DIR VMID DSID [TEMPLATE_B64] [CALLER_TM]
// The VM template comes as the 6th argument (<= 5.8) or on stdin (5.10+); a last word that
// is not a template is the TM that called us through migrate_other. They print nothing.
#include "onestor/io.hpp"
#include "onestor/registry.hpp"

#include <unistd.h>

namespace onestor::actions::tm_migrate {
namespace {

const std::vector<ArgSpec> kMigrate = {{"src_host", ArgKind::Host}, {"dst_host", ArgKind::Host},
                                       {"dir", ArgKind::Path, Confine::VmDir}, {"vmid", ArgKind::VmId},
                                       {"dsid", ArgKind::DsId},     {"extra", ArgKind::Extra}};

bool looks_like_template(const std::string& w) {
    if (w.size() < 16) return false;
    try {
        return base64_decode(w).find("<VM") != std::string::npos;
    } catch (...) {
        return false;
    }
}

MigrateRequest request(const Call& c) {
    MigrateRequest r{c.args.word("src_host"), c.args.word("dst_host"), c.args.path("dir").path, {}, {}};
    for (const auto& w : c.args.extra()) {
        if (r.template_b64.empty() && looks_like_template(w))
            r.template_b64 = w;
        else if (r.caller_tm.empty())
            r.caller_tm = valid_tm_name(w);
    }
    if (r.template_b64.empty() && !isatty(0)) {
        std::string in = io::read_capped(0, io::kMaxStdin, "the VM template on stdin");
        while (!in.empty() && (in.back() == '\n' || in.back() == ' ')) in.pop_back();
        r.template_b64 = in;
    }
    return r;
}

void pre(Call& c) { c.tm().premigrate(c.tm_context(), request(c)); }
void post(Call& c) { c.tm().postmigrate(c.tm_context(), request(c)); }

const Register r_pre{{Kind::Tm, "premigrate", kMigrate, "prepare the destination host before a live migration", pre}};
const Register r_post{{Kind::Tm, "postmigrate", kMigrate, "clean up the source host after a live migration", post}};

}  // namespace
}  // namespace onestor::actions::tm_migrate
