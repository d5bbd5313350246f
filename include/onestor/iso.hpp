// The context CD: an ISO 9660 image of a directory, volume label CONTEXT with Joliet and
// Rock Ridge names (what the guests' one-context packages look for), made on the front-end
// by the configured MKISOFS (genisoimage, or "xorriso -as mkisofs"), within COMMAND_TIMEOUT.
#pragma once
#include <string>

namespace onestor::iso {

void make(const std::string& dir, const std::string& out);

}  // namespace onestor::iso
