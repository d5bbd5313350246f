// Ceph RBD through its own tools (`rbd`, `ceph`), run on a bridge or hypervisor host through
// the host layer: typed names, the argv of each command, and parsers of their JSON output.
//
// Naming, as upstream's drivers (so a datastore they made keeps working):
//   image of the datastore       POOL/one-<IMAGE ID>
//   VM disk cloned from it       POOL/one-<IMAGE ID>-<VM ID>-<DISK ID>
//   volatile disk                POOL/one-sys-<VM ID>-<DISK ID>
//   the snapshot clones hang on  <image>@snap (protected)
//   a disk/image snapshot        <image>@<SNAPSHOT ID>
// Pool, image and user names are [A-Za-z0-9_.-] and never start with '-' (rbd would read an
// option) or '.', at most 100 characters: anything else is refused before a command runs.
#pragma once
#include "onestor/download.hpp"
#include "onestor/error.hpp"
#include "onestor/exec.hpp"

#include <optional>
#include <string>
#include <vector>

namespace onestor::rbd {

// Returns `s` when it is a valid pool/image/user name, else throws DriverError naming `what`.
const std::string& valid_name(const std::string& s, const std::string& what);

struct Image {
    std::string pool, name;
    std::string spec() const { return pool + "/" + name; }
    std::string snap(const std::string& s) const { return spec() + "@" + s; }
    bool operator==(const Image&) const = default;
};

// "POOL/NAME" (an image's SOURCE, a TM's disk source) into its parts, each validated.
Image parse_spec(const std::string& spec);
Image image_of(const std::string& pool, long image_id);           // one-<id>
Image disk_of(const Image& src, long vmid, int disk);             // <src>-<vm>-<disk>
Image volatile_of(const std::string& pool, long vmid, int disk);  // one-sys-<vm>-<disk>
constexpr const char* kCloneSnap = "snap";                        // @snap for clones

// How the tools reach the cluster: CEPH_USER (--id), CEPH_KEY (--keyfile, or --keyring for a
// *.keyring file), CEPH_CONF (-c). Each is validated when set (user: a name; key and conf:
// absolute clean paths). The timeout bounds connecting and each monitor/OSD operation, so
// an unreachable cluster gives an error instead of a hang.
struct Auth {
    std::string user, key, conf;
    int timeout_s = 30;
    void validate() const;
};

Argv rbd(const Auth&, const Argv& words);
Argv ceph(const Auth&, const Argv& words);

// `rbd info --format json`.
struct Parent {
    std::string pool, image, snapshot;
};
struct Info {
    std::string name;
    unsigned long long size = 0;
    int format = 2;
    unsigned long long snapshot_count = 0;
    std::optional<Parent> parent;
    bool is_protected = false;  // of `rbd info IMAGE@SNAP`: whether that snapshot is protected
};
Info parse_info(const std::string& json);

// `rbd snap ls --format json`.
struct Snap {
    unsigned long long id = 0;
    std::string name;
    unsigned long long size = 0;
    bool is_protected = false;
};
std::vector<Snap> parse_snaps(const std::string& json);

// `rbd ls --format json` (names) and `rbd children --format json` ("pool/image").
std::vector<std::string> parse_ls(const std::string& json);
std::vector<std::string> parse_children(const std::string& json);

// `rbd du --format json -p POOL`: each image's used bytes, and each snapshot's (named).
struct Usage {
    std::string image, snapshot;  // snapshot: empty for the image itself
    unsigned long long used = 0;
};
std::vector<Usage> parse_du(const std::string& json);

// `ceph df --format json`: the pool's stored bytes and what can still be written to it.
struct PoolUsage {
    unsigned long long used = 0, avail = 0;
};
PoolUsage parse_df(const std::string& json, const std::string& pool);

// The file at in_fd as the stream `rbd import-diff -` reads (Ceph's "rbd diff v1": the size,
// one 'w' record per run of data, the end mark), written to out_fd: only its data crosses,
// its holes and all-zero 4 KiB blocks never do, so a sparse image costs its data alone (a
// plain `rbd import -` reads every zero through the pipe). Constant memory; progress lines
// under `label`. Without the end mark (a failure here) `rbd import-diff` fails. Returns the
// bytes of data written; io::ReaderGone when import-diff stopped reading first.
unsigned long long write_diff(int in_fd, int out_fd, const std::string& label);

// The same stream for data of a length not known in advance (a download, as a
// download::SparseWriter hands it over), into a volume created empty: a 'w' record per run
// of data as it arrives, preceded by an 's' record growing the volume (by whole GiB) when a
// run goes past its size, then size(): the real size, and only end() writes the end mark,
// so a stream cut short, or one whose checksum turned out wrong, fails the import.
// import-diff resizes the volume at each 's' record, up and down (checked on Ceph 16.2):
// the volume is never much larger than the data, and ends exactly its size. A restart (a
// download begun again) zeroes ('z') what was written. head(): the first 64 KiB as written.
class DiffWriter final : public download::RunSink {
public:
    DiffWriter(int out_fd, unsigned long long size);  // the volume's size as created
    void run(unsigned long long offset, const char* p, size_t n) override;
    void size(unsigned long long n) override;
    void restart() override;
    void end();
    const std::string& head() const { return head_; }
    unsigned long long sent() const { return sent_; }  // bytes of data in 'w' records

private:
    int out_;
    unsigned long long size_, high_ = 0, sent_ = 0;
    std::string head_;
};

}  // namespace onestor::rbd
