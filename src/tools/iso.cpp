#include "onestor/iso.hpp"

#include "onestor/config.hpp"
#include "onestor/exec.hpp"

namespace onestor::iso {

void make(const std::string& dir, const std::string& out) {
    Argv a = config().get_words("MKISOFS");
    a.insert(a.end(), {"-o", out, "-V", "CONTEXT", "-J", "-R", "-quiet", dir});
    long limit = config().get_int("COMMAND_TIMEOUT");
    run(a, {.timeout_s = static_cast<int>(limit > 0 ? limit : 300), .what = "cannot build the context ISO"});
}

}  // namespace onestor::iso
