// Paths are hostile until validated. This room owns every rule about them: how a
// "host:path" argument splits, how paths normalise (OpenNebula's fix_dir_slashes), whether
// a path lies inside a directory by components, and the RESTRICTED_DIRS/SAFE_DIRS policy.
#pragma once
#include <string>
#include <vector>

namespace onestor {

// Collapses repeated slashes, drops "." components and any trailing slash; refuses
// relative paths, ".." components and control characters (DriverError naming `what`).
std::string clean_path(const std::string& path, const std::string& what = "path");

std::string dirname_of(const std::string& clean);   // "/a/b/c" -> "/a/b"; "/a" -> "/"
std::string basename_of(const std::string& clean);  // "/a/b/c" -> "c"
std::string join_path(const std::string& dir, const std::string& name);

// True when `path` is `dir` itself or below it, compared by components (both clean).
bool within(const std::string& path, const std::string& dir);
// True when `path` is strictly below `dir`.
bool strictly_within(const std::string& path, const std::string& dir);

// A host name as OpenNebula would have it: letters, digits, '.', '-', '_' (and an
// optional user@), not starting with '-'. Anything else is refused.
std::string valid_host(const std::string& host);

// "host:/path" as TM actions receive it. A bare "/path" (mvds' dst in 5.x) has an empty host.
struct HostPath {
    std::string host;
    std::string path;  // clean
    std::string str() const { return host.empty() ? path : host + ":" + path; }
    static HostPath parse(const std::string& arg);
};

// A context file argument: "path" or "path:'name'" (FILES_DS images under their own names).
struct ContextFile {
    std::string path;  // clean absolute path on the front-end
    std::string name;  // name inside the ISO; never empty, never with '/'
};

// `disk.N` -> N; -1 when the basename is not a disk name.
int disk_id_of(const std::string& clean_path);

// RESTRICTED_DIRS / SAFE_DIRS, decided on a canonical path by whole components.
// The longest matching entry decides (a safe /var/tmp inside a restricted /); on a tie the
// restriction wins; the always-denied directories (/var/lib/one, /etc/one, $HOME) win over
// everything.
class PathPolicy {
public:
    PathPolicy(const std::string& restricted_dirs, const std::string& safe_dirs);
    // Throws DriverError("Not allowed to copy image from '<p>', check RESTRICTED_DIRS ...").
    void check(const std::string& canonical_path) const;
    bool allowed(const std::string& canonical_path) const;

private:
    std::vector<std::string> restricted_, safe_, always_;
};

}  // namespace onestor
