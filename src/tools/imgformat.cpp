#include "onestor/imgformat.hpp"
#include "onestor/scripts.hpp"

#include "onestor/error.hpp"
#include "onestor/host.hpp"
#include "onestor/io.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

namespace onestor::imgformat {
namespace {

constexpr size_t kHead = 64 * 1024;  // every header field we read lies in the first 64 KiB (but vhdx's)

unsigned long long be(const unsigned char* p, int n) {
    unsigned long long v = 0;
    for (int i = 0; i < n; ++i) v = (v << 8) | p[i];
    return v;
}
unsigned long long le(const unsigned char* p, int n) {
    unsigned long long v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}

[[noreturn]] void refuse(const std::string& what, const std::string& why) {
    throw DriverError("image " + quoted(what) + " " + why);
}

unsigned long long checked_size(unsigned long long size, const std::string& what, const std::string& format) {
    if (size == 0 || size > kMaxVirtualSize)
        refuse(what,
               "is not a valid " + format + " image: its virtual size (" + std::to_string(size) + " bytes) is out of range");
    return size;
}

bool contains(const std::vector<unsigned char>& b, const char* s) {
    size_t n = std::strlen(s);
    if (b.size() < n) return false;
    for (size_t i = 0; i + n <= b.size(); ++i)
        if (std::memcmp(b.data() + i, s, n) == 0) return true;
    return false;
}

// qemu's vmdk probe takes a text whose first line that is neither blank nor a comment is
// "version=N" for a descriptor; VMware's descriptors begin with "# Disk DescriptorFile".
bool vmdk_descriptor(const std::vector<unsigned char>& b) {
    const char* head = "# Disk DescriptorFile";
    if (b.size() >= std::strlen(head) && std::memcmp(b.data(), head, std::strlen(head)) == 0) return true;
    size_t i = 0;
    while (i < b.size()) {
        while (i < b.size() && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n')) ++i;
        if (i < b.size() && b[i] == '#') {
            while (i < b.size() && b[i] != '\n') ++i;
            continue;
        }
        return b.size() - i >= 8 && std::memcmp(b.data() + i, "version=", 8) == 0;
    }
    return false;
}

Image qcow2(const std::vector<unsigned char>& h, const std::string& what) {
    if (h.size() < 72) refuse(what, "is not a valid qcow2 image: its header is truncated");
    unsigned long long version = be(&h[4], 4);
    if (version != 2 && version != 3) refuse(what, "is not a valid qcow2 image: version " + std::to_string(version));
    if (be(&h[8], 8) != 0 && be(&h[16], 4) != 0) refuse(what, "has a backing file; import a standalone image");
    unsigned long long cluster_bits = be(&h[20], 4);
    if (cluster_bits < 9 || cluster_bits > 21)
        refuse(what, "is not a valid qcow2 image: cluster size 2^" + std::to_string(cluster_bits));
    if (be(&h[32], 4) != 0) refuse(what, "is encrypted; import an unencrypted image");
    if (version == 3) {
        if (h.size() < 104) refuse(what, "is not a valid qcow2 image: its header is truncated");
        unsigned long long incompatible = be(&h[72], 8);
        if (incompatible & 4) refuse(what, "has an external data file; import a standalone image");
        if (incompatible & ~0x1bull) refuse(what, "is not a valid qcow2 image: unknown incompatible features");
        if (be(&h[100], 4) < 104) refuse(what, "is not a valid qcow2 image: header length " + std::to_string(be(&h[100], 4)));
    }
    return {"qcow2", checked_size(be(&h[24], 8), what, "qcow2")};
}

// Monolithic sparse (hosted) vmdk: the grains are in the file itself. A header of capacity
// 0 makes qemu read the embedded descriptor as a descriptor file (its extents opened), and
// a parentFileNameHint in it makes qemu open a parent: both refused.
Image vmdk(const std::vector<unsigned char>& h, const std::string& what) {
    if (h.size() < 79) refuse(what, "is not a valid vmdk image: its header is truncated");
    unsigned long long capacity = le(&h[12], 8);
    if (capacity == 0) refuse(what, "is a vmdk whose descriptor names extent files; import a monolithic vmdk");
    if (contains(h, "parentFileNameHint")) refuse(what, "is a vmdk delta disk that names a parent; import a standalone image");
    return {"vmdk", checked_size(capacity > kMaxVirtualSize / 512 ? kMaxVirtualSize + 1 : capacity * 512, what, "vmdk")};
}

Image vdi(const std::vector<unsigned char>& h, const std::string& what) {
    if (h.size() < 0x178) refuse(what, "is not a valid vdi image: its header is truncated");
    unsigned long long type = le(&h[0x4c], 4);
    if (type != 1 && type != 2)
        refuse(what, "is a vdi of type " + std::to_string(type) + " (differencing or unknown); import a standalone image");
    return {"vdi", checked_size(le(&h[0x170], 8), what, "vdi")};
}

// The virtual size is in the metadata region the region table (at 192 KiB) points to.
Image vhdx(const Reader& read, unsigned long long file_size, const std::string& what) {
    static const unsigned char kMetadataRegion[16] = {0x06, 0xA2, 0x7C, 0x8B, 0x90, 0x47, 0x9A, 0x4B,
                                                      0xB8, 0xFE, 0x57, 0x5F, 0x05, 0x0F, 0x88, 0x6E};
    static const unsigned char kFileParameters[16] = {0x37, 0x67, 0xA1, 0xCA, 0x36, 0xFA, 0x43, 0x4D,
                                                      0xB3, 0xB6, 0x33, 0xF0, 0xAA, 0x44, 0xE7, 0x6B};
    static const unsigned char kVirtualDiskSize[16] = {0x24, 0x42, 0xA5, 0x2F, 0x1B, 0xCD, 0x76, 0x48,
                                                       0xB2, 0x11, 0x5D, 0xBE, 0xD8, 0x3B, 0xF4, 0xB8};
    static const unsigned char kParentLocator[16] = {0x2D, 0x5F, 0xD3, 0xA8, 0x0B, 0xB3, 0x4D, 0x45,
                                                     0xAB, 0xF7, 0xD3, 0xD8, 0x48, 0x34, 0xAB, 0x0C};
    auto bad = [&](const std::string& why) { refuse(what, "is not a valid vhdx image: " + why); };
    std::vector<unsigned char> t(64 * 1024);
    if (read(t.data(), t.size(), 192 * 1024) != t.size() || std::memcmp(t.data(), "regi", 4) != 0) bad("no region table");
    unsigned long long entries = le(&t[8], 4), meta = 0;
    if (entries > 2047) bad("too many regions");
    for (unsigned long long i = 0; i < entries; ++i) {
        const unsigned char* e = &t[16 + 32 * i];
        if (std::memcmp(e, kMetadataRegion, 16) == 0) meta = le(e + 16, 8);
    }
    if (meta == 0 || meta >= file_size) bad("no metadata region");
    std::vector<unsigned char> m(64 * 1024);
    if (read(m.data(), m.size(), meta) != m.size() || std::memcmp(m.data(), "metadata", 8) != 0) bad("no metadata table");
    unsigned long long items = le(&m[10], 2), size = 0;
    if (items > 2047) bad("too many metadata items");
    for (unsigned long long i = 0; i < items; ++i) {
        const unsigned char* e = &m[32 + 32 * i];
        unsigned long long off = le(e + 16, 4), len = le(e + 20, 4);
        if (std::memcmp(e, kParentLocator, 16) == 0)
            refuse(what, "is a differencing vhdx that names a parent; import a standalone image");
        bool params = std::memcmp(e, kFileParameters, 16) == 0, vsize = std::memcmp(e, kVirtualDiskSize, 16) == 0;
        if (!params && !vsize) continue;
        unsigned char v[8] = {};
        if (len < 8 || read(v, 8, meta + off) != 8) bad("a metadata item is truncated");
        if (params && (le(v + 4, 4) & 2)) refuse(what, "is a differencing vhdx that names a parent; import a standalone image");
        if (vsize) size = le(v, 8);
    }
    return {"vhdx", checked_size(size, what, "vhdx")};
}

}  // namespace

Image decide(const Reader& read, unsigned long long file_size, const std::string& what) {
    std::vector<unsigned char> h(kHead);
    h.resize(read(h.data(), h.size(), 0));
    auto magic = [&](const char* m, size_t at = 0) {
        size_t n = std::strlen(m);
        return h.size() >= at + n && std::memcmp(h.data() + at, m, n) == 0;
    };
    if (magic("QFI\xfb")) return qcow2(h, what);
    if (magic("KDMV")) return vmdk(h, what);
    if (magic("\x7f\x10\xda\xbe", 0x40)) return vdi(h, what);
    if (magic("vhdxfile")) return vhdx(read, file_size, what);
    if (vmdk_descriptor(h)) refuse(what, "is a vmdk descriptor that names extent files; import a monolithic image");
    return {"raw", file_size};
}

Image decide_fd(int fd, const std::string& what) {
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) refuse(what, "is not a regular file");
    return decide(
        [fd](unsigned char* buf, size_t n, unsigned long long off) {
            size_t done = 0;
            while (done < n) {
                ssize_t r = ::pread(fd, buf + done, n - done, static_cast<off_t>(off + done));
                if (r < 0 && errno == EINTR) continue;
                if (r <= 0) break;
                done += static_cast<size_t>(r);
            }
            return done;
        },
        static_cast<unsigned long long>(st.st_size), what);
}

Image decide_path(Host& h, const std::string& path) {
    if (h.local()) {
        struct stat st {};  // (a device is never opened: opening one can act, as /dev/watchdog does)
        if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) refuse(h.label(path), "is not a regular file");
        io::File f(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
        if (!f) throw_errno("cannot open image", path);
        return decide_fd(f.fd(), h.label(path));
    }
    // Only a regular file is read (a FIFO would block head), its size as stat gives it.
    Result r = h.run({"sh", "-c", scripts::kSizeAndHead, "sh", path},
                     {.timeout_s = 60, .what = "cannot read image " + quoted(h.label(path)), .asks = true});
    size_t nl = r.out.find('\n');
    if (nl == 0 || nl > 19 || r.out.find_first_not_of("0123456789") != nl)
        throw DriverError("cannot read image " + quoted(h.label(path)) + ": no size");
    unsigned long long size = std::stoull(r.out.substr(0, nl));
    std::string head = r.out.substr(nl + 1);
    return decide(
        [&head](unsigned char* buf, size_t n, unsigned long long off) {
            if (off >= head.size()) return size_t{0};
            size_t k = std::min<size_t>(n, head.size() - off);
            std::memcpy(buf, head.data() + off, k);
            return k;
        },
        size, h.label(path));
}

std::string declared(const std::string& format, const std::string& driver) {
    if (!format.empty()) return format;
    return driver.empty() ? "raw" : driver;
}

}  // namespace onestor::imgformat
