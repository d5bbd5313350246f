// Over 400 lines: the whole fs datastore table, every action with its bridge hand-off and
// its two image layouts (full-copy snapshots, or a qcow2 chain whose model and checks are
// src/tools/qcow2_chain.cpp, shared with the qcow2 transfer driver).
//
// The `fs` datastore driver: images are files under the datastore's BASE_PATH on the
// front-end, or on its BRIDGE_LIST hosts (bridge.hpp: the same actions, run there by
// onestor), imported from a local file or downloaded (image_source.hpp). Every new file is written beside its
// target under a temporary name and renamed when complete and synced; SOURCE names are
// random and claimed with RENAME_NOREPLACE, so concurrent actions never collide.
#include "bridge.hpp"
#include "image_source.hpp"
#include "onestor/backend.hpp"
#include "onestor/config.hpp"
#include "onestor/dry_run.hpp"
#include "onestor/error.hpp"
#include "onestor/exec.hpp"
#include "onestor/host.hpp"
#include "onestor/imgformat.hpp"
#include "onestor/io.hpp"
#include "onestor/lock.hpp"
#include "onestor/log.hpp"
#include "onestor/mkfs.hpp"
#include "onestor/numbers.hpp"
#include "onestor/paths.hpp"
#include "onestor/protocol.hpp"
#include "onestor/qcow2_chain.hpp"
#include "onestor/qemu.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <climits>
#include <map>
#include <set>
#include <sstream>

namespace onestor::backends {
namespace {

std::string upper(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
}

std::string fd_path(int fd) {
    char buf[PATH_MAX];
    ssize_t n = ::readlink(("/proc/self/fd/" + std::to_string(fd)).c_str(), buf, sizeof buf - 1);
    if (n < 0) throw_errno("cannot resolve the opened file", "/proc/self/fd");
    return std::string(buf, static_cast<size_t>(n));
}

class Fs final {
public:
    DsResult cp(const DsDump& d, long id) {
        const Image& img = d.img();
        if (bridge::serving())  // the front-end checked PATH and streams its bytes
            return store(d, base_path(d), Origin::Import,
                         [&](int out_fd, const std::string&) { bridge::receive_image(d, out_fd); });
        reject_unsupported_sources(img.path);
        bool remote = image_source::remote(img.path);
        io::File in = remote ? io::File() : open_allowed(d, img.path);
        log::info((remote ? "downloading " : "copying ") + onestor::quoted(download::display_url(img.path)) + " into datastore " +
                  std::to_string(d.datastore.id));
        if (bridge::applies(d))
            return bridge::image(d, id, "cp",
                                 [&](image_source::RawSink& s) { image_source::stream_raw(d, remote ? -1 : in.fd(), s); });
        std::string base = base_path(d);
        return store(d, base, Origin::Import,
                     [&](int out_fd, const std::string&) { image_source::fill(d, remote ? -1 : in.fd(), out_fd); });
    }

    DsResult mkfs(const DsDump& d, long id) {
        if (bridge::applies(d)) return bridge::image(d, id, "mkfs");
        const Image& img = d.img();
        std::string base = base_path(d);
        std::string fstype = img.fstype, format = img.format, fs = img.fs;
        if (fstype == "save_as") {  // a later TM cpds fills it: create nothing
            return {unique_source(base), format.empty() ? "raw" : format};
        }
        if (format.empty()) format = (fstype == "qcow2") ? "qcow2" : "raw";
        if (fs.empty() && fstype != "raw" && fstype != "qcow2" && fstype != "swap" && !fstype.empty()) fs = fstype;
        if (format != "raw" && format != "qcow2") throw DriverError("unsupported image format " + onestor::quoted(format));
        if (!fs.empty()) mkfs::check(fs);
        if (img.size_mb <= 0) throw DriverError("image SIZE must be a positive number of MiB");
        return store(
            d, base, Origin::Created,
            [&](int fd, const std::string& tmp) {
                Host& h = Host::local_host();
                // SIZE is at most kMaxSizeMb (xml.cpp): the shift stays far below off_t's limit.
                if (::ftruncate(fd, static_cast<off_t>(img.size_mb) << 20) != 0) throw_errno("cannot size", tmp);
                if (fstype == "swap") mkfs::swap(h, tmp);
                if (!fs.empty()) mkfs::filesystem(h, fs, tmp);
                if (format == "qcow2") {
                    // Convert the raw (possibly formatted) file in place: raw -> qcow2 beside it, renamed
                    // back; under a temp name of its own, so a sweep finds it should we be killed.
                    std::string q = io::temp_name_for(tmp);
                    try {
                        if (fs.empty() && fstype != "swap")
                            qemu::create(h, "qcow2", q, static_cast<unsigned long long>(img.size_mb));
                        else
                            qemu::convert(h, "raw", tmp, "qcow2", q);
                        io::rename_path(q, tmp, true);
                    } catch (...) {
                        ::unlink(q.c_str());
                        throw;
                    }
                }
            },
            format, /*path_callback=*/true);
    }

    void rm(const DsDump& d, long id) {
        if (bridge::applies(d)) return bridge::image_void(d, id, "rm");
        std::string src = image_source(d);
        if (!io::exists(src)) {
            log::info("image " + onestor::quoted(src) + " is already gone");
        }
        for (const std::string& p : {src + ".snap", src + ".md5sum", src}) io::remove_tree(p);
        log::info("removed " + onestor::quoted(src));
    }

    ExportInfo export_image(const DsDump& d) {
        if (bridge::applies(d)) return bridge::export_image(d);
        std::string src = image_source(d);
        struct stat st {};
        if (::lstat(src.c_str(), &st) != 0) throw_errno("cannot export", src);
        if (!S_ISREG(st.st_mode)) throw DriverError("cannot export " + onestor::quoted(src) + ": not a regular file");
        Result r = run({"md5sum", "--", src}, {.timeout_s = static_cast<int>(config().get_int("COPY_TIMEOUT")),
                                               .what = "cannot checksum " + onestor::quoted(src),
                                               .asks = true});
        std::string md5 = r.out.substr(0, r.out.find(' '));
        if (md5.size() != 32 || md5.find_first_not_of("0123456789abcdef") != std::string::npos)
            throw DriverError("md5sum of " + onestor::quoted(src) + " printed no checksum");
        // The declared format, as everywhere: never what the guest wrote into the image.
        return {src, md5, declared_format(d), d.img().size_mb};
    }

    unsigned long long stat_mb(const DsDump& d) {
        const Image& img = d.img();
        reject_unsupported_sources(img.path);
        if (image_source::remote(img.path)) return io::mib_ceil(image_source::remote_size(d));
        std::string p = clean_path(img.path, "image path");
        PathPolicy policy(d.datastore.attr("RESTRICTED_DIRS"), d.datastore.attr("SAFE_DIRS"));
        std::string c = policy.resolve(p);
        struct stat st {};
        if (::stat(c.c_str(), &st) != 0) throw_errno("cannot stat", p);
        // qemu-img would block on a FIFO or read a device: only files and directories are images.
        if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) throw DriverError(onestor::quoted(p) + " is not a regular file");
        unsigned long long bytes = 0;
        if (S_ISDIR(st.st_mode)) {
            bytes = tree_bytes(c);
        } else {  // a raw file's size, or the virtual size in its header: no child process
            io::File f(::open(c.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
            if (!f) throw_errno("cannot open", p);
            bytes = imgformat::decide_fd(f.fd(), img.path).virtual_size;
        }
        if (bytes == 0) throw DriverError("cannot determine size for " + onestor::quoted(img.path) + ": it is empty");
        return io::mib_ceil(bytes);
    }

    // Callers before 6.6 give a clone the original's FORMAT: it is copied byte for byte. From
    // 6.6 oned records the format clone prints, and upstream converts to the datastore's
    // DRIVER (raw or qcow2): so does this, reading the original in its declared format. It may
    // be a persistent image written by its guest: its content never decides how it is read; a
    // declared qcow2 (whose header only qemu writes) must not name another file.
    DsResult clone(const DsDump& d, long id) {
        if (bridge::applies(d)) return bridge::image(d, id, "clone");
        const Image& img = d.img();
        std::string base = base_path(d);
        std::string from = clean_path(img.path, "image to clone");
        io::File in = open_in_datastores(base, from);
        std::string format = declared_format(d), driver = d.datastore.attr("DRIVER");
        bool convert = protocol::profile().clone_to_driver && (driver == "raw" || driver == "qcow2") && driver != format;
        log::info("cloning " + onestor::quoted(from) + (convert ? " (" + format + " to the datastore's " + driver + ")" : ""));
        if (!convert)
            return store(
                d, base, Origin::Clone, [&](int fd, const std::string& label) { io::copy_fd(in.fd(), fd, label); }, format);
        if (format == "qcow2" && imgformat::decide_fd(in.fd(), from).format != "qcow2")
            throw DriverError("image to clone " + onestor::quoted(from) + " is declared qcow2 but is not a qcow2 image");
        // qemu-img reads the file opened and checked above, through this process's descriptor.
        std::string opened = "/proc/" + std::to_string(::getpid()) + "/fd/" + std::to_string(in.fd());
        return store(
            d, base, Origin::Clone,
            [&](int, const std::string& tmp) {
                std::string out = io::temp_name_for(tmp);  // swept like tmp, should we be killed
                try {
                    qemu::convert(Host::local_host(), format, opened, driver, out);
                    io::rename_path(out, tmp, true);
                } catch (...) {
                    ::unlink(out.c_str());
                    throw;
                }
            },
            driver, /*path_callback=*/true);
    }

    MonitorResult monitor(const DsDump& d) {
        if (bridge::applies(d)) return bridge::monitor(d);
        std::string base = base_path(d);
        io::mkdir_p(base);
        io::sweep_temps(base);
        return filesystem_usage(base);
    }

    void snap_delete(const DsDump& d, long id) {
        if (bridge::applies(d)) return bridge::image_void(d, id, "snap_delete");
        Snapshot s = snapshot(d);
        Lock lock(s.lock_name);
        require(s.file);
        if (d.datastore.tm_mad == "qcow2") {
            delete_layer(d, s);
        } else {  // full copies: nothing is built on a snapshot
            io::remove_tree(s.file);
            io::fsync_dir(s.dir);
        }
        log::info("deleted snapshot " + onestor::quoted(s.file));
    }

    void snap_revert(const DsDump& d, long id) {
        if (bridge::applies(d)) return bridge::image_void(d, id, "snap_revert");
        Snapshot s = snapshot(d);
        Lock lock(s.lock_name);
        require(s.file);
        Host& h = Host::local_host();
        if (d.datastore.tm_mad == "qcow2") {
            // The active layer is the highest-numbered file; a fresh overlay on the snapshot
            // replaces it atomically (the overlay is complete before the rename).
            Chain c = checked_chain(d, s);
            long active_id = c.layers.rbegin()->first;
            // The highest file is the active layer, not a snapshot: an overlay on itself
            // would lose its data and leave an image backed by itself.
            if (s.id == active_id)
                throw DriverError("snapshot " + std::to_string(s.id) + " of " + onestor::quoted(s.source) +
                                  " is the active layer; there is nothing to revert to");
            std::string active = join_path(s.dir, std::to_string(active_id));
            std::string tmp = io::temp_name_for(active);
            try {
                qemu::create_overlay(h, s.file, c.format(s.id), tmp);
                h.sync(tmp);
                io::rename_path(tmp, active, true);
            } catch (...) {
                ::unlink(tmp.c_str());
                throw;
            }
        } else {
            h.copy_file(s.file, s.source, true);
        }
        log::info("reverted " + onestor::quoted(s.source) + " to snapshot " + std::to_string(s.id));
    }

    void snap_flatten(const DsDump& d, long id) {
        if (bridge::applies(d)) return bridge::image_void(d, id, "snap_flatten");
        Snapshot s = snapshot(d);
        Lock lock(s.lock_name);
        require(s.file);
        Host& h = Host::local_host();
        if (d.datastore.tm_mad == "qcow2") {
            // The image keeps its declared format (oned's FORMAT stays true). Snapshot 0 is
            // the image itself: nothing to write.
            Chain c = checked_chain(d, s);
            if (s.id != 0) {
                io::TempFile t(s.source);
                qemu::convert(h, c.format(s.id), s.file, c.layout.base_format, t.path());
                t.commit(true);
            }
        } else {
            io::rename_path(s.file, s.source, true);
            io::fsync_dir(dirname_of(s.source));
        }
        io::remove_tree(s.dir);
        log::info("flattened " + onestor::quoted(s.source) + " to snapshot " + std::to_string(s.id));
    }

private:
    struct Snapshot {
        std::string source, dir, file, lock_name;
        long id;
    };

    static std::string attr(const Attributes& a, const std::string& k) {
        auto it = a.find(k);
        return it == a.end() ? std::string{} : it->second;
    }

    static std::string base_path(const DsDump& d) {
        std::string b = d.datastore.base_path;
        if (b.empty()) {
            if (d.datastore.id < 0) throw DriverError("the action data names no DATASTORE/BASE_PATH nor ID");
            b = config().get("DATASTORE_LOCATION") + "/" + std::to_string(d.datastore.id);
        }
        return clean_path(b, "datastore BASE_PATH");
    }

    static void reject_unsupported_sources(const std::string& path) {
        if (path.empty()) throw DriverError("the image has no PATH");
        if (path.find("://") != std::string::npos && !image_source::remote(path))
            throw DriverError("cannot import " + onestor::quoted(download::display_url(path)) +
                              ": unsupported source (a local path, http://, https:// or s3://)");
    }

    // The image to import, opened after the path policy passed on its canonical path, and
    // checked again on the opened descriptor (a symlink swapped in between is caught).
    static io::File open_allowed(const DsDump& d, const std::string& path) {
        std::string p = clean_path(path, "image path");
        PathPolicy policy(d.datastore.attr("RESTRICTED_DIRS"), d.datastore.attr("SAFE_DIRS"));
        policy.resolve(p);
        int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) throw_errno("cannot open", p);
        io::File f(fd);
        policy.check(fd_path(fd), p);
        struct stat st {};
        if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) throw DriverError(onestor::quoted(p) + " is not a regular file");
        io::require_image_file(fd, p);  // and not empty, not a /proc or /sys file
        ::fcntl(fd, F_SETFL, O_RDONLY);
        return f;
    }

    // The image to clone: a file of a datastore (strictly inside the directory that holds
    // BASE_PATH, /var/lib/one/datastores, by its path as given and by the file opened), with
    // the same file-type rules as an import; opened without blocking (a FIFO is refused).
    static io::File open_in_datastores(const std::string& base, const std::string& path) {
        std::string root = dirname_of(base);
        auto refuse = [&] { return DriverError("image to clone " + onestor::quoted(path) + " is not inside the datastores"); };
        char real_root[PATH_MAX], real[PATH_MAX];
        if (root == "/" || !strictly_within(path, root) || !::realpath(root.c_str(), real_root)) throw refuse();
        // A link leading outside is refused before it is opened (a device is never opened).
        if (::realpath(path.c_str(), real) && !strictly_within(real, real_root)) throw refuse();
        int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) throw_errno("cannot open image to clone", path);
        io::File f(fd);
        if (!strictly_within(fd_path(fd), real_root)) throw refuse();
        io::require_image_file(fd, path);
        ::fcntl(fd, F_SETFL, O_RDONLY);
        return f;
    }

    static std::string unique_source(const std::string& base) { return join_path(base, io::random_hex(16)); }

    // Where a new image's content comes from: a user's file (checked, maybe converted), an
    // image of the datastore (copied as it is), or made here (its format is known).
    enum class Origin { Import, Clone, Created };

    // Writes a new image under a temp name in BASE_PATH with `fill`, then claims a fresh
    // random SOURCE for it with RENAME_NOREPLACE.
    template <class Fill>
    DsResult store(const DsDump& d, const std::string& base, Origin origin, Fill fill, std::string format = "",
                   bool path_callback = false) {
        io::mkdir_p(base);
        io::sweep_temps(base);  // what writers killed here left (never a live one's)
        std::string source = unique_source(base);
        io::TempFile t(source);
        if constexpr (std::is_invocable_v<Fill, int, const std::string&>) {
            fill(t.fd(), path_callback ? t.path() : onestor::quoted(source));
        }
        if (origin == Origin::Import) format = check_and_convert(d, t.path());
        // A datastore with SPARSE=NO (7.x) keeps imported images thick, as upstream's cp does.
        if (origin == Origin::Import && upper(d.datastore.attr("SPARSE")) == "NO")
            Host::local_host().batch({Host::local_host().preallocate_step(t.path())});
        for (int i = 0;; ++i) {
            try {
                t.commit(false);
                break;
            } catch (const DriverError&) {
                if (i == 4 || !io::exists(source)) throw;
                source = unique_source(base);  // astronomically unlikely collision
            }
        }
        log::info("new image source " + onestor::quoted(source));
        return {source, format};
    }

    // Decides the format of a freshly imported file from its first bytes (our own copy, so
    // what is checked is what is kept; imgformat refuses an image that names another file);
    // converts it to the datastore DRIVER when CONVERT allows (not for CDROM images or FILE
    // datastores), as upstream cp does. vmdk, vdi and vhdx are accepted only to be converted.
    static std::string check_and_convert(const DsDump& d, const std::string& tmp) {
        Host& h = Host::local_host();
        dry_run::ends_here("the image's format is read from the copy, which a dry run does not write");
        std::string fmt = imgformat::decide_fd(io::open_read(tmp).fd(), d.img().path).format;
        std::string driver = d.datastore.attr("DRIVER");
        bool convert = upper(d.datastore.attr("CONVERT")) != "NO" && d.datastore.type != 2 && (!d.image || d.image->type != 1);
        if (convert && (driver == "raw" || driver == "qcow2") && driver != fmt) {
            log::info("converting from " + fmt + " to " + driver);
            std::string out = io::temp_name_for(tmp);  // swept like tmp, should we be killed
            try {
                qemu::convert(h, fmt, tmp, driver, out);
                io::rename_path(out, tmp, true);
            } catch (...) {
                ::unlink(out.c_str());
                throw;
            }
            fmt = driver;
        }
        if (fmt != "raw" && fmt != "qcow2")
            throw DriverError("cannot import " + onestor::quoted(d.img().path) + ": a " + fmt +
                              " image is only taken to be converted (datastore DRIVER raw or qcow2, CONVERT not NO)");
        return fmt;
    }

    // The image's declared format: IMAGE/FORMAT, else its TEMPLATE/DRIVER, else raw (as the
    // TM's disk_format): what a guest wrote into it never decides how it is read.
    static std::string declared_format(const DsDump& d) {
        return imgformat::declared(d.img().format, attr(d.img().tmpl, "DRIVER"));
    }

    // IMAGE/SOURCE, refused unless strictly inside BASE_PATH (by components, and by the
    // canonical path of its directory, so a symlinked directory cannot lead outside).
    static std::string image_source(const DsDump& d) {
        const Image& img = d.img();
        if (img.source.empty()) throw DriverError("the image has no SOURCE");
        std::string base = base_path(d);
        std::string src = clean_path(img.source, "image SOURCE");
        if (!strictly_within(src, base))
            throw DriverError("image SOURCE " + onestor::quoted(src) + " is not inside the datastore " + onestor::quoted(base));
        char b[PATH_MAX], p[PATH_MAX];
        if (::realpath(base.c_str(), b) && ::realpath(dirname_of(src).c_str(), p) && !within(p, b))
            throw DriverError("image SOURCE " + onestor::quoted(src) + " leads outside the datastore " + onestor::quoted(base));
        return src;
    }

    static Snapshot snapshot(const DsDump& d) {
        Snapshot s;
        s.source = image_source(d);
        s.id = d.img().target_snapshot;
        if (s.id < 0) throw DriverError("the action data names no TARGET_SNAPSHOT");
        s.dir = s.source + ".snap";
        s.file = join_path(s.dir, std::to_string(s.id));
        s.lock_name = "image-" + basename_of(s.source);
        return s;
    }

    // The layers of a qcow2 image's <SOURCE>.snap, in the TM's layout (chain::beside_image:
    // 0 -> SOURCE, overlays naming their backing by absolute path, the highest the image's
    // active layer), checked by chain::checked_layers before anything reads them: layer 0 is
    // the image itself with its declared format (never probed: a raw image holds what its
    // guest wrote, maybe a qcow2 header naming a host file), every other layer a qcow2 that
    // names a layer of this directory and its format, leading down to layer 0 without a loop.
    struct Chain {
        chain::Layout layout;
        std::map<long, qemu::ImageInfo> layers;  // layer -> its header (0: SOURCE's)
        std::map<long, long> below;              // layer -> the layer it is built on
        std::string format(long k) const { return layout.format(k); }
    };

    static Chain checked_chain(const DsDump& d, const Snapshot& s) {
        Host& h = Host::local_host();
        Chain c;
        c.layout = chain::beside_image(s.source, declared_format(d));
        c.layers = chain::checked_layers(h, c.layout, h.list(s.dir), s.source);
        for (const auto& [k, i] : c.layers)
            if (k > 0) c.below[k] = c.layout.layer_of(i);
        return c;
    }

    // Snapshot k of a qcow2 image may have other layers built on it. Each of those is
    // rebased first (safe mode: the data it read through k is copied into it) onto k's own
    // backing file, so no chain ever breaks; only then does k go. The chains are checked
    // before anything is touched, and walked by qemu-img before and after.
    static void delete_layer(const DsDump& d, const Snapshot& s) {
        Host& h = Host::local_host();
        std::string what = "snapshot " + std::to_string(s.id) + " of " + onestor::quoted(s.source);
        long active = highest_snapshot(s.dir);
        if (s.id == active) throw DriverError(what + " is the image's active layer; it cannot be deleted");
        if (s.id == 0)
            throw DriverError(what +
                              " is the image itself, the base of its chain; it cannot be deleted (flatten the image instead)");
        Chain c = checked_chain(d, s);
        const auto& layers = c.layers;
        std::vector<long> children;
        for (const auto& [k, b] : c.below)
            if (b == s.id) children.push_back(k);
        auto walk = [&](long k) {  // qemu-img walks the chain from layer k to its base, no loop
            chain::check_loops(qemu::chain(h, join_path(s.dir, std::to_string(k)), "qcow2"),
                               "image " + onestor::quoted(s.source));
        };
        walk(active);
        for (long k : children) walk(k);
        const qemu::ImageInfo& victim = layers.at(s.id);
        for (long k : children) {
            std::string f = join_path(s.dir, std::to_string(k));
            log::info("rebasing layer " + std::to_string(k) + " off snapshot " + std::to_string(s.id));
            h.batch({qemu::rebase_step(h, f, victim.backing_file, victim.backing_format), h.sync_step(f)});
        }
        io::remove_tree(s.file);
        io::fsync_dir(s.dir);
        walk(active);
        for (long k : children) walk(k);
    }

    static void require(const std::string& file) {
        if (!io::exists(file)) throw DriverError("snapshot " + onestor::quoted(file) + " does not exist");
    }

    static long highest_snapshot(const std::string& dir) {
        long best = -1;
        if (DIR* dp = ::opendir(dir.c_str())) {
            while (auto* e = ::readdir(dp)) {
                std::string n = e->d_name;
                if (numeric_name(n)) best = std::max(best, std::stol(n));
            }
            ::closedir(dp);
        }
        if (best < 0) throw DriverError("no snapshots in " + onestor::quoted(dir));
        return best;
    }

    static unsigned long long tree_bytes(const std::string& dir) {
        unsigned long long total = 0;
        if (DIR* dp = ::opendir(dir.c_str())) {
            while (auto* e = ::readdir(dp)) {
                std::string n = e->d_name;
                if (n == "." || n == "..") continue;
                struct stat st {};
                std::string p = join_path(dir, n);
                if (::lstat(p.c_str(), &st) != 0) continue;
                total += S_ISDIR(st.st_mode) ? tree_bytes(p) : static_cast<unsigned long long>(st.st_size);
            }
            ::closedir(dp);
        }
        return total;
    }
};

}  // namespace

const DsTable& fs_table() {
    static Fs b;
    static const DsTable t{"fs",
                           {{"cp", op(b, &Fs::cp)},
                            {"mkfs", op(b, &Fs::mkfs)},
                            {"rm", op(b, &Fs::rm)},
                            {"stat", op(b, &Fs::stat_mb)},
                            {"clone", op(b, &Fs::clone)},
                            {"monitor", op(b, &Fs::monitor)},
                            {"snap_delete", op(b, &Fs::snap_delete)},
                            {"snap_flatten", op(b, &Fs::snap_flatten)},
                            {"snap_revert", op(b, &Fs::snap_revert)},
                            {"export", op(b, &Fs::export_image)}}};
    return t;
}

}  // namespace onestor::backends
