// Paths are hostile until validated. This room owns every rule about them: how a
// "host:path" argument splits, how paths normalise (OpenNebula's fix_dir_slashes), whether
// a path lies inside a directory by components, and the RESTRICTED_DIRS/SAFE_DIRS policy.
#pragma once
#include <functional>
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
    std::string path;  // clean absolute path on the front-end ("" for a URL)
    std::string url;   // an http(s):// source, downloaded as served ("" for a path)
    std::string name;  // name inside the ISO; never empty, never with '/'
};

// `disk.N` -> N; -1 when the basename is not a disk name.
int disk_id_of(const std::string& clean_path);

// Where a TM path argument must lie, by the shapes oned sends (<loc>: DATASTORE_LOCATION).
// oned gives disk actions the image's datastore id, and the system datastore's id only to
// actions on the VM directory and to context/mkimage/mkswap; a VM directory or disk is
// always <loc>/<ds id>/<vmid>[/...].
enum class Confine {
    None,
    Image,           // strictly inside <loc>/<n>/ (an image SOURCE)
    VmDisk,          // strictly inside <loc>/<n>/<vmid>/, any n
    VmDiskSys,       // strictly inside <loc>/<dsid>/<vmid>/
    VmDiskOrDir,     // VmDisk, or the VM directory <loc>/<dsid>/<vmid> itself
    VmDiskOrAnyDir,  // VmDisk, or <loc>/<n>/<vmid> (mv's source: the previous system DS)
    VmDir,           // <loc>/<dsid>/<vmid> itself
    Datastore,       // <loc>/<n> itself (monitor_ds, on a host)
};

// Checks clean `path` against `c` lexically and returns the datastore directory
// <loc>/<n> it lies in; throws DriverError quoting `shown` (the argument as given).
std::string confine(const std::string& path, Confine c, long vmid, long dsid, const std::string& location,
                    const std::string& shown);
// On the front-end: throws unless the canonical path of `path`'s parent (its deepest
// existing ancestor) stays inside the canonical `root`, so a symlinked directory cannot
// lead an operation outside the datastore. The message names `shown`, never a target.
void confine_resolved(const std::string& path, const std::string& root, const std::string& shown);

// RESTRICTED_DIRS / SAFE_DIRS, decided on a canonical path by whole components.
// The longest matching entry decides (a safe /var/tmp inside a restricted /); on a tie the
// restriction wins; the always-denied directories (/var/lib/one, /etc/one, $HOME) win over
// everything.
class PathPolicy {
public:
    PathPolicy(const std::string& restricted_dirs, const std::string& safe_dirs);
    // The canonical path of clean `given`, decided before anything is opened or stat'ed:
    // on the path as given, then on its canonical form. One refusal, quoting `given` and
    // never what it resolves to, whether it exists or not (a path that cannot be resolved
    // is refused like a restricted one, so answers cannot probe restricted directories).
    std::string resolve(const std::string& given) const;
    // The same, canonicalised by `realpath` ("" when it cannot be): a path on another host.
    std::string resolve(const std::string& given, const std::function<std::string(const std::string&)>& realpath) const;
    // Throws the same refusal (naming `given`) unless `path` is allowed.
    void check(const std::string& path, const std::string& given) const;
    bool allowed(const std::string& path) const;

private:
    std::vector<std::string> restricted_, safe_, always_;
};

}  // namespace onestor
