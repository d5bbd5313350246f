// The argument kinds every action shares, parsed once by name (as Ceph's rbd does), so an
// action receives typed values: "host:/path", ids, sizes, the DS dump, context files.
#pragma once
#include "onestor/numbers.hpp"  // the ranges of ids and sizes
#include "onestor/paths.hpp"
#include "onestor/xml.hpp"

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace onestor {

enum class ArgKind {
    DsDump,      // DS form: "DUMP ID" (5.x) or "ID" with the base64 dump on stdin (6.8+)
    HostPath,    // host:/path
    Path,        // /path, or host:/path (mvds' destination comes both ways)
    Host,        // a bare host name (premigrate)
    VmId,        // integer 0..INT32_MAX (oned's ids are ints)
    DsId,        // integer 0..INT32_MAX
    SnapId,      // integer 0..INT32_MAX
    SaveSnapId,  // integer -1..INT32_MAX (cpds: -1 is the current state, not a snapshot)
    SizeMb,      // integer 1..kMaxSizeMb
    Format,      // raw | qcow2 | swap | ...: a plain word
    Files,       // context: one or more files, each "path" or "path:'name'"
    Extra,       // zero to two trailing words (pre/postmigrate: template, caller's TM)
    Unread,      // any words, never interpreted (an action that answers "not supported")
};

struct ArgSpec {
    std::string name;
    ArgKind kind;
    // Where a path argument must lie; checked by parse() once the ids are read, before any
    // backend runs (so every driver and every .ssh variant has the same rule).
    Confine confine = Confine::None;
};

class Args {
public:
    const HostPath& path(const std::string& name) const;
    const std::string& word(const std::string& name) const;
    long num(const std::string& name) const;
    const DsDump& dump() const;
    long id() const { return num("id"); }
    const std::vector<ContextFile>& files() const { return files_; }
    const std::vector<std::string>& extra() const { return extra_; }

    // Parses words against spec; throws DriverError (usage) before anything is touched.
    // `stdin_text` supplies the dump (6.8+ DS form) when only the id is given.
    // `rbd_images` (drivers whose images are RBD volumes, Table::rbd_images): an image
    // argument (Confine::Image) may be host:POOL/IMAGE, validated by rbd::parse_spec and
    // kept as that relative path, which no directory rule applies to.
    static Args parse(const std::vector<ArgSpec>& spec, const std::vector<std::string>& words, const std::string& action,
                      const std::function<std::string()>& stdin_text, bool rbd_images = false);

    static ContextFile parse_context_file(const std::string& word);
    // parse_number (numbers.hpp): strict decimal in [min, max]
    static long parse_int(const std::string& word, const std::string& what, long long min, long long max);

private:
    static void confine_paths(const std::vector<ArgSpec>& spec, const Args& a);
    std::map<std::string, HostPath> paths_;
    std::map<std::string, std::string> words_;
    std::map<std::string, long> nums_;
    std::optional<DsDump> dump_;
    std::vector<ContextFile> files_;
    std::vector<std::string> extra_;
};

std::string synopsis(const std::vector<ArgSpec>& spec);

}  // namespace onestor
