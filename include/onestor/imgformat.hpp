// An image's format decided from its first bytes, read by us (no qemu-img child, so nothing
// the image names is ever opened), against an allow-list: qcow2 (magic QFI\xfb), and vmdk
// (monolithic sparse "KDMV" only), vdi and vhdx, which are recognised only so that DS cp
// converts them to the datastore's format on import; anything else is raw. An image that
// names another file (a qcow2 backing file or external data file, a vmdk descriptor or
// parent, a differencing vdi/vhdx) is refused: reading it would read that file.
// Never used on a guest-written disk: a guest chooses its first bytes (its format is the
// one declared for it, `declared`).
#pragma once
#include <functional>
#include <string>

namespace onestor {
class Host;
}

namespace onestor::imgformat {

struct Image {
    std::string format;                   // raw | qcow2 | vmdk | vdi | vhdx
    unsigned long long virtual_size = 0;  // bytes: a raw file's size, else from the header
};

// The largest virtual size accepted (2^61 bytes, what qemu's qcow2 can address at most):
// sizes from headers are refused above it, so MiB arithmetic on them never wraps.
constexpr unsigned long long kMaxVirtualSize = 1ull << 61;

// Reads up to n bytes at offset into buf; returns how many were read (fewer at the end).
using Reader = std::function<size_t(unsigned char* buf, size_t n, unsigned long long offset)>;

// The decision for an image of file_size bytes read through `read`; `what` names it in
// the DriverError of a refusal (one line, no byte of the image in it).
Image decide(const Reader& read, unsigned long long file_size, const std::string& what);
// Of an open regular file.
Image decide_fd(int fd, const std::string& what);
// Of a regular file on h (a remote host: its first 64 KiB, read with head).
Image decide_path(Host& h, const std::string& path);

// The format oned declares for an image or a disk: FORMAT (6.x), else DRIVER (5.x), else
// raw. Never a probe: a guest-written disk keeps this format whatever its guest wrote.
std::string declared(const std::string& format, const std::string& driver);

}  // namespace onestor::imgformat
