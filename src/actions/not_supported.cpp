// Action names the supported releases' oned can call on the drivers we ship, that none of
// them implements: each answers as upstream's tm/common/not_supported.sh does
// ("<action>: Operation not supported", in the caller profile's error form), whatever its
// arguments, after reading what oned wrote on stdin (so oned never blocks on a full pipe).
//   5.12+: none left (activate, failmigrate, snap_create_live are real actions or answer
//          from the backend); 6.x+: the backup hooks and restore of the TMs, the backup
//          datastores' restore/increment_flatten, and ssh's recovery_snap_create_live.
#include "onestor/error.hpp"
#include "onestor/registry.hpp"

#include <unistd.h>

namespace onestor::actions::not_supported {
namespace {

void drain_stdin() {
    if (::isatty(0)) return;
    char buf[65536];
    for (size_t total = 0; total < (64u << 20);) {  // oned's messages are far smaller
        ssize_t n = ::read(0, buf, sizeof buf);
        if (n > 0) {
            total += static_cast<size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        return;
    }
}

void answer(Call& c) {
    drain_stdin();
    throw DriverError(c.inv.action + ": Operation not supported");
}

Action unsupported(Kind kind, const char* name) {
    return {kind, name, {{"args", ArgKind::Unread}}, "not supported (answers as upstream's not_supported.sh)", answer};
}

const Register r_prebackup{unsupported(Kind::Tm, "prebackup")};
const Register r_prebackup_live{unsupported(Kind::Tm, "prebackup_live")};
const Register r_postbackup{unsupported(Kind::Tm, "postbackup")};
const Register r_postbackup_live{unsupported(Kind::Tm, "postbackup_live")};
const Register r_restore{unsupported(Kind::Tm, "restore")};
const Register r_recovery{unsupported(Kind::Tm, "recovery_snap_create_live")};
const Register r_ds_restore{unsupported(Kind::Ds, "restore")};
const Register r_ds_increment_flatten{unsupported(Kind::Ds, "increment_flatten")};

}  // namespace
}  // namespace onestor::actions::not_supported
