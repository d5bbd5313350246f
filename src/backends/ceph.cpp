// Over 400 lines: two driver tables (DS and TM) over one cluster model (Cluster, Made); the
// model is theirs alone, and splitting would make it a header for two files.
//
// The `ceph` datastore and transfer drivers: images and VM disks are RBD volumes in a Ceph
// pool (names and snapshots in upstream's scheme, see rbd.hpp). As upstream, the `rbd` and
// `ceph` tools run on a bridge (DS: a BRIDGE_LIST host) or the hypervisor (TM) through the
// host layer: one connection per host and action, every command an argv of validated words.
//
// Safety: a new volume is made under a temporary name (`<name>.tmp`) and renamed only when
// complete, and a failed action removes what it made (a guard that runs after SIGTERM too);
// an image is removed only when no clone depends on it (else a clear error, nothing
// removed); a snapshot revert is `rbd snap rollback`, which leaves the snapshot untouched
// and completes when run again; a clone needs its parent snapshot protected.
//
// Volatile disks are RBD volumes too (one-sys-<VM>-<DISK>, as upstream). What stays files:
// the context and the VM directory live in the system datastore's directory (shared or
// ssh), as with the other drivers; `mv` of anything but an RBD disk is the ssh driver's
// (upstream's tm/ceph/mv is tm/ssh/mv).
//
// The .ssh variants (an ssh system datastore): the disk is a local file of its host,
// exported from the image (`rbd export`, sparse) and imported back (`rbd import` into a
// temporary volume, renamed or swapped in), the rbd tools running on that host.
#include "common.hpp"
#include "image_source.hpp"

#include "onestor/config.hpp"
#include "onestor/dry_run.hpp"
#include "onestor/error.hpp"
#include "onestor/imgformat.hpp"
#include "onestor/io.hpp"
#include "onestor/libvirt.hpp"
#include "onestor/log.hpp"
#include "onestor/mkfs.hpp"
#include "onestor/paths.hpp"
#include "onestor/qemu.hpp"
#include "onestor/rbd.hpp"
#include "onestor/scripts.hpp"
#include "onestor/transfer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <algorithm>
#include <climits>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

namespace onestor::backends {
const TmTable& ssh_table();

namespace {

// How an action reaches the cluster: the host that runs the tools and their auth words.
// Each action sends its questions in one batch (ask: a question that fails, e.g. about a
// volume that does not exist, does not end it), decides the changes here, then sends them
// in one batch (step), which stops at the first that fails.
struct Cluster {
    Host* h = nullptr;
    rbd::Auth auth;
    std::string data_pool;  // EC_POOL_NAME: --data-pool of new volumes

    int timeout(bool copy) const { return copy ? static_cast<int>(config().get_int("COPY_TIMEOUT")) : auth.timeout_s + 30; }
    Step step(const Argv& words, const std::string& what, bool copy = false) const {
        return h->run_step(rbd::rbd(auth, words), what, timeout(copy));
    }
    Argv new_volume(Argv words) const {  // words of a command that makes a volume
        if (!data_pool.empty()) words.insert(words.begin() + 1, {"--data-pool", data_pool});
        return words;
    }
    // The words under kAnswer: their output, or their failure as the answer (the batch goes
    // on); a question (asks) or a change whose failure is looked at later (a leftover's removal).
    Step answered(const Argv& words, bool asks) const {
        Argv a = {"sh", "-c", scripts::kAnswer, "sh"};
        for (auto& w : rbd::rbd(auth, words)) a.push_back(std::move(w));
        std::string what = "cannot ask the cluster on " + h->name();
        return asks ? h->ask_step(a, what, timeout(false)) : h->run_step(a, what, timeout(false));
    }
    Step question(const Argv& words) const { return answered(words, true); }
    // The removal of a temporary volume, answered (the batch goes on): one a killed writer
    // left is still watched for up to the OSDs' watch timeout, which this waits out (kWatchWait).
    Step removal_of_temporary(const rbd::Image& tmp) const {
        Argv a = {"sh", "-c", scripts::kAnswerUnwatched, "sh", std::to_string(kWatchWait)};
        for (auto& w : rbd::rbd(auth, {"rm", "--no-progress", tmp.spec()})) a.push_back(std::move(w));
        return h->run_step(a, "cannot remove " + quoted(tmp.spec()) + " on " + h->name(), timeout(false) + kWatchWait);
    }
    static constexpr int kWatchWait = 40;                                     // s: osd_client_watch_timeout (30 s) and slack
    std::vector<std::string> ask(const std::vector<Argv>& questions) const {  // one round trip
        std::vector<Step> steps;
        for (const auto& q : questions) steps.push_back(question(q));
        return h->batch(steps);
    }
    // An answer's output; nullopt when rbd says "No such file or directory" (ENOENT: the image
    // is missing); anything else (no cluster, wrong key) is an error of its own.
    std::optional<std::string> found(const std::string& answer, const std::string& what) const {
        size_t at = answer.find("\nexit ");
        if (at == std::string::npos) return answer;
        size_t nl = answer.find('\n', at + 1);
        std::string err = nl == std::string::npos ? "" : answer.substr(nl + 1);
        if (err.find("No such file or directory") != std::string::npos) return std::nullopt;
        std::string why = failure_reason(err);
        throw DriverError(what + " on " + h->name() + ": " +
                          (why.empty() ? "exit code " + answer.substr(at + 6, nl - at - 6) : why));
    }

    static Argv info_of(const rbd::Image& img) { return {"info", "--format", "json", img.spec()}; }
    static Argv snaps_of(const rbd::Image& img) { return {"snap", "ls", "--format", "json", img.spec()}; }
    // Clones of the snapshot, or with none named, of any snapshot of the image.
    static Argv children_of(const std::string& spec) { return {"children", "--format", "json", spec}; }

    std::optional<rbd::Info> info(const std::string& answer, const rbd::Image& img) const {
        auto out = found(answer, "cannot read " + quoted(img.spec()));
        return out ? std::optional(rbd::parse_info(*out)) : std::nullopt;
    }
    rbd::Info require(const std::string& answer, const rbd::Image& img) const {
        auto i = info(answer, img);
        if (!i) throw DriverError("RBD image " + quoted(img.spec()) + " does not exist");
        return *i;
    }
    rbd::Info require(const rbd::Image& img) const { return require(ask({info_of(img)})[0], img); }
    std::vector<rbd::Snap> snaps(const std::string& answer, const rbd::Image& img) const {
        auto out = found(answer, "cannot list the snapshots of " + quoted(img.spec()));
        if (!out) throw DriverError("RBD image " + quoted(img.spec()) + " does not exist");
        return rbd::parse_snaps(*out);
    }
    static rbd::Snap named(const std::vector<rbd::Snap>& ss, const rbd::Image& img, const std::string& name) {
        for (const auto& s : ss)
            if (s.name == name) return s;
        throw DriverError("snapshot " + name + " of " + quoted(img.spec()) + " does not exist");
    }
    rbd::Snap snap(const rbd::Image& img, const std::string& name) const {
        return named(snaps(ask({snaps_of(img)})[0], img), img, name);
    }
    std::vector<std::string> children(const std::string& answer, const std::string& spec) const {
        auto out = found(answer, "cannot list the clones of " + quoted(spec));
        return out ? rbd::parse_children(*out) : std::vector<std::string>{};
    }

    std::vector<Step> snap_removal(const rbd::Image& img, const rbd::Snap& s) const {
        std::vector<Step> out;
        if (s.is_protected)
            out.push_back(step({"snap", "unprotect", img.snap(s.name)}, "cannot unprotect " + quoted(img.snap(s.name))));
        out.push_back(step({"snap", "rm", "--no-progress", img.snap(s.name)}, "cannot remove " + quoted(img.snap(s.name))));
        return out;
    }
    // The snapshot, refused while clones depend on it.
    void snap_delete(const rbd::Image& img, const std::string& name) const {
        auto a = ask({snaps_of(img), children_of(img.snap(name))});
        rbd::Snap s = named(snaps(a[0], img), img, name);
        if (!children(a[1], img.snap(name)).empty())
            throw DriverError("cannot delete snapshot " + quoted(img.snap(name)) + ": clones depend on it");
        h->batch(snap_removal(img, s));
    }
    void snap_revert(const rbd::Image& img, const std::string& name) const {
        snap(img, name);
        h->batch({step({"snap", "rollback", "--no-progress", img.snap(name)},
                       "cannot revert " + quoted(img.spec()) + " to snapshot " + name)});
    }
    // The image and its snapshots; refused, before anything is removed, while clones depend
    // on it. With `to_trash` (CEPH_TRASH) it goes to the pool's trash with its snapshots
    // instead, flattened first when it is a clone (a clone in the trash would hold its
    // parent's snapshot), so `rbd trash restore` gives it back whole. (The second round
    // trip: which snapshots there are to remove is an answer.)
    // `parent`: the image img is a clone of, whose @snap goes too when no other clone
    // depends on it (a failure there is logged: a clone made meanwhile keeps it).
    void remove(const rbd::Image& img, bool to_trash = false, const rbd::Image* parent = nullptr) const {
        std::vector<Argv> questions = {snaps_of(img), children_of(img.spec())};
        if (to_trash) questions.push_back(info_of(img));  // (a clone is flattened)
        size_t asked_parent = questions.size();
        if (parent) {
            questions.push_back(snaps_of(*parent));
            questions.push_back(children_of(parent->snap(rbd::kCloneSnap)));
        }
        auto a = ask(questions);
        auto listed = found(a[0], "cannot list the snapshots of " + quoted(img.spec()));
        if (!listed) return;
        auto kids = children(a[1], img.spec());
        if (!kids.empty()) {
            std::string list;
            for (const auto& k : kids) list += (list.empty() ? "" : ", ") + k;
            throw DriverError("cannot remove " + quoted(img.spec()) + ": clones depend on it (" + list + ")");
        }
        std::vector<Step> steps;
        if (to_trash) {
            if (require(a[2], img).parent)
                steps.push_back(step({"flatten", "--no-progress", img.spec()}, "cannot flatten " + quoted(img.spec()), true));
            steps.push_back(step({"trash", "move", img.spec()}, "cannot move " + quoted(img.spec()) + " to the trash"));
        } else {
            for (const auto& s : rbd::parse_snaps(*listed))
                for (auto& x : snap_removal(img, s)) steps.push_back(std::move(x));
            steps.push_back(step({"rm", "--no-progress", img.spec()}, "cannot remove " + quoted(img.spec())));
        }
        size_t parent_steps = steps.size();
        if (parent && last_clone_of(a[asked_parent], a[asked_parent + 1], *parent, img)) {
            steps.push_back(answered({"snap", "unprotect", parent->snap(rbd::kCloneSnap)}, false));
            steps.push_back(answered({"snap", "rm", "--no-progress", parent->snap(rbd::kCloneSnap)}, false));
        }
        auto out = h->batch(steps);
        for (size_t i = parent_steps; i < out.size(); ++i) {
            try {
                found(out[i], "could not remove " + quoted(parent->snap(rbd::kCloneSnap)) + " (kept)");
            } catch (const DriverError& e) {
                log::info(e.what());
                break;
            }
        }
    }

    // Whether `clone` is the only clone of parent@snap (answers: the parent's snapshots, the
    // snapshot's children), so the snapshot can go with it.
    bool last_clone_of(const std::string& snaps_answer, const std::string& children_answer, const rbd::Image& parent,
                       const rbd::Image& clone) const {
        auto listed = found(snaps_answer, "cannot list the snapshots of " + quoted(parent.spec()));
        if (!listed) return false;
        bool has = false;
        for (const auto& s : rbd::parse_snaps(*listed)) has = has || (s.name == rbd::kCloneSnap && s.is_protected);
        if (!has) return false;
        for (const auto& k : children(children_answer, parent.snap(rbd::kCloneSnap)))
            if (k != clone.spec()) return false;
        return true;
    }
};

// A volume this action makes under its temporary name, in one batch (make): a leftover of an
// interrupted attempt removed first (it holds nothing anyone uses), then the action's steps,
// then the rename. Should the batch fail anywhere, or the action after it was sent, the
// guard removes the temporary volume if it exists (runs after SIGTERM too).
//
// `replaces`: the final name holds the image the new volume takes the place of (mvds.ssh).
// rbd renames onto no taken name, so the old image is renamed aside (aside(), <name>.old),
// the new one in, and only then is the old one removed. Should the batch stop between the
// two renames, or the action be killed there, the guard renames the old image back (a rename
// that fails while the name is taken): the name never holds a partial image, nor is the old
// one lost. The caller checks that the final name exists before (an aside() found then is a
// leftover of a completed swap, and goes first).
class Made {
public:
    // `leftover`: whether a temporary of an interrupted attempt may be there (false only when
    // the caller has just seen the pool without one: its removal is then not sent).
    Made(const Cluster& c, rbd::Image final_name, bool replaces = false, bool leftover = true)
        : c_(c),
          final_(std::move(final_name)),
          tmp_{final_.pool, final_.name + ".tmp"},
          aside_{final_.pool, final_.name + ".old"},
          replaces_(replaces),
          leftover_(leftover) {}
    Made(const Made&) = delete;
    ~Made() {
        if (done_ || !sent_) return;
        CleanupScope undoing;
        try {
            std::vector<Step> undo;
            if (replaces_) undo.push_back(c_.answered({"rename", aside_.spec(), final_.spec()}, false));
            undo.push_back(c_.removal_of_temporary(tmp_));
            auto a = c_.h->batch(undo);
            if (replaces_ && a[0].find("\nexit ") == std::string::npos)
                log::info("renamed " + quoted(aside_.spec()) + " back to " + quoted(final_.spec()) + " after this failed action");
            if (c_.found(a.back(), "cannot remove " + quoted(tmp_.spec())))
                log::info("removed " + quoted(tmp_.spec()) + ", made by this failed action");
        } catch (const std::exception& e) {
            log::error("could not undo what this failed action may have made (" + quoted(tmp_.spec()) +
                       (replaces_ ? ", " + quoted(final_.spec()) + " renamed to " + quoted(aside_.spec()) : "") +
                       "): " + e.what());
        }
    }
    const rbd::Image& tmp() const { return tmp_; }
    const rbd::Image& aside() const { return aside_; }
    const rbd::Image& final_name() const { return final_; }
    // The steps write tmp(); a final name that exists already is refused by the rename (but
    // when replacing). `after` runs once the volume is in place, in the same batch.
    void make(std::vector<Step> steps, int stdin_fd = -1, std::vector<Step> after = {}) {
        if (leftover_)
            steps.insert(steps.begin(), c_.removal_of_temporary(tmp_));  // (its failure shows in the next step: tmp exists)
        if (replaces_) {
            steps.insert(steps.begin(), c_.answered(drop(aside_), false));
            steps.push_back(c_.step({"rename", final_.spec(), aside_.spec()},
                                    "cannot rename " + quoted(final_.spec()) + " to " + quoted(aside_.spec())));
        }
        steps.push_back(c_.step({"rename", tmp_.spec(), final_.spec()},
                                "cannot rename " + quoted(tmp_.spec()) + " to " + quoted(final_.spec())));
        size_t removed = steps.size();  // (the old image's removal, when replacing)
        if (replaces_) steps.push_back(c_.answered(drop(aside_), false));
        for (auto& s : after) steps.push_back(std::move(s));
        sent_ = true;
        auto out = c_.h->batch(steps, stdin_fd);
        done_ = true;
        if (!replaces_) return;
        try {  // (the new image is in place: a leftover old one is logged, not fatal; the next save removes it)
            c_.found(out[removed],
                     "could not remove " + quoted(aside_.spec()) + ", which " + quoted(final_.spec()) + " replaced,");
        } catch (const DriverError& e) {
            log::error(e.what());
        }
    }

private:
    static Argv drop(const rbd::Image& img) { return {"rm", "--no-progress", img.spec()}; }
    const Cluster& c_;
    rbd::Image final_, tmp_, aside_;
    bool replaces_, leftover_;
    bool sent_ = false, done_ = false;
};

std::string first_word_of(const std::string& list, long pick) {
    std::vector<std::string> hosts;
    std::istringstream in(list);
    for (std::string w; in >> w;) hosts.push_back(w);
    if (hosts.empty()) return "";
    return hosts[static_cast<size_t>(pick < 0 ? 0 : pick) % hosts.size()];
}

rbd::Auth auth_from(const std::string& user, const std::string& key, const std::string& conf) {
    rbd::Auth a{user, key, conf, static_cast<int>(config().get_int("CEPH_TIMEOUT"))};
    a.validate();
    return a;
}

std::string data_pool_of(const std::string& ec) { return ec.empty() ? "" : rbd::valid_name(ec, "EC_POOL_NAME"); }

// ---- datastore ------------------------------------------------------------------------

class CephDs final {
public:
    DsResult cp(const DsDump& d, long id) {
        const Image& img = d.img();
        rbd::Image target = rbd::image_of(pool_of(d), id);
        if (img.path.empty()) throw DriverError("the image has no PATH");
        bool remote = image_source::remote(img.path);
        if (img.path.find("://") != std::string::npos && !remote)
            throw DriverError("cannot import " + quoted(download::display_url(img.path)) +
                              ": unsupported source (a local path, http://, https://, s3:// or ssh)");
        io::File in = remote ? io::File() : open_allowed(d, img.path);
        if (remote || image_source::must_check(d, in.fd())) {
            // (its bytes are seen only as they arrive: the format it is declared to have
            // decides whether it is staged to be converted, and what arrives must agree)
            auto driver = img.tmpl.find("DRIVER");
            if (imgformat::declared(img.format, driver == img.tmpl.end() ? "" : driver->second) != "raw")
                return import_converted(d, id, target, in.fd());
            return import_stream(d, id, target, in.fd());
        }
        imgformat::Image f = imgformat::decide_fd(in.fd(), img.path);
        if (f.format != "raw") return import_converted(d, id, target, in.fd());
        struct stat st {};
        if (::fstat(in.fd(), &st) != 0) throw_errno("cannot stat", img.path);
        Cluster c = cluster(d, id);
        Made made(c, target);
        log::info("importing " + quoted(img.path) + " into " + quoted(target.spec()) + " on " + c.h->name());
        // Streamed: a volume of the file's size, then only its data (rbd::write_diff) into
        // `rbd import-diff -` on the bridge: no copy lands there, no hole crosses the network,
        // and the volume holds only the data.
        send(made,
             {c.step(c.new_volume({"create", "--size", std::to_string(st.st_size) + "B", made.tmp().spec()}),
                     "cannot create " + quoted(target.spec())),
              import_diff(c, made, img.path)},
             "send the data of " + quoted(img.path) + " as an rbd diff stream",
             [&](int out) { rbd::write_diff(in.fd(), out, img.path); });
        return {target.spec(), "raw"};
    }

    // A download (http, https, s3, a file of an ssh host) or a local file to check or unpack:
    // through the download pipeline (checksums, decompression, the size limit) into an rbd
    // diff stream (rbd::DiffWriter) as the bytes arrive, into `rbd import-diff -` on the
    // bridge: constant memory, no copy anywhere. The volume starts empty and grows with the
    // data; the end mark follows only a verified checksum, so a wrong one (or a download cut
    // short, or past the limit) fails the import and Made removes the volume. The limit:
    // MAX_DOWNLOAD_SIZE, or the pool's free space (asked first, as the fs driver's
    // datastore's).
    DsResult import_stream(const DsDump& d, long id, const rbd::Image& target, int local_fd) {
        const Image& img = d.img();
        std::string shown = download::display_url(img.path);
        auto fill = image_source::fill_into(d, local_fd);
        Cluster c = cluster(d, id);
        download::Limit limit = download::limit_for(config(), pool_space(c, target.pool).avail);
        Made made(c, target);
        log::info("importing " + quoted(shown) + " into " + quoted(target.spec()) + " on " + c.h->name());
        send(made,
             {c.step(c.new_volume({"create", "--size", "0", made.tmp().spec()}), "cannot create " + quoted(target.spec())),
              import_diff(c, made, shown)},
             "send the image from " + quoted(shown) + " as an rbd diff stream", [&](int out) {
                 rbd::DiffWriter diff(out, 0);
                 download::SparseWriter w(diff);
                 fill(w, limit);
                 // The format of the bytes we received (imgformat: as the fs driver's import
                 // decides it from its copy, never by running a tool on them).
                 const std::string& h = diff.head();
                 imgformat::Image f = imgformat::decide(
                     [&](unsigned char* buf, size_t n, unsigned long long off) {
                         if (off >= h.size()) return size_t{0};
                         size_t k = std::min<size_t>(n, h.size() - off);
                         std::memcpy(buf, h.data() + off, k);
                         return k;
                     },
                     w.size(), shown);
                 if (f.format != "raw")
                     throw DriverError("cannot import " + quoted(shown) + ": it is " + f.format +
                                       ", not raw; declare its FORMAT to have it converted");
                 diff.end();
             });
        return {target.spec(), "raw"};
    }

    // An image to convert (qcow2, or vmdk, vdi, vhdx, which imgformat allows): RBD volumes
    // are raw. qemu-img needs to seek in it, so, as the fs driver's import, it is first copied
    // (or downloaded, checked and unpacked) into the datastore's STAGING_DIR on the front-end,
    // its format decided from that copy (imgformat: one that names another file, e.g. a qcow2
    // backing file, is refused), converted there to a sparse raw file (`qemu-img convert -f
    // FORMAT`: never probed), and streamed like a raw file. Both temporary files go on every
    // path, SIGTERM too. Space: the copy stops at the staging file system's free space (and
    // MAX_DOWNLOAD_SIZE), the conversion is refused with less free than the copy allocates
    // (a compressed qcow2 can hold more: then the conversion fails, cleanly).
    DsResult import_converted(const DsDump& d, long id, const rbd::Image& target, int local_fd) {
        const Image& img = d.img();
        std::string shown = download::display_url(img.path);
        Cluster c = cluster(d, id);
        std::string dir = staging_dir(d, target, 0);
        io::TempFile copy(dir + "/" + target.name + ".src");  // (never committed: removed on every path, SIGTERM too)
        image_source::fill(d, local_fd, copy.fd());
        dry_run::ends_here("the image's format is read from the copy, which a dry run does not write");
        imgformat::Image f = imgformat::decide_fd(copy.fd(), shown);
        std::string from = copy.path();
        std::optional<io::TempFile> raw;
        if (f.format != "raw") {
            struct stat st {};
            if (::fstat(copy.fd(), &st) != 0) throw_errno("cannot stat", copy.path());
            staging_dir(d, target, static_cast<unsigned long long>(st.st_blocks) * 512);
            log::info("converting " + quoted(shown) + " from " + f.format + " to raw");
            raw.emplace(dir + "/" + target.name + ".raw");
            qemu::convert(Host::local_host(), f.format, copy.path(), "raw", raw->path());
            from = raw->path();
        }
        io::File in = io::open_read(from);  // (by path: qemu-img may have replaced the inode)
        struct stat st {};
        if (::fstat(in.fd(), &st) != 0) throw_errno("cannot stat", from);
        Made made(c, target);
        log::info("importing " + quoted(shown) + " into " + quoted(target.spec()) + " on " + c.h->name());
        send(made,
             {c.step(c.new_volume({"create", "--size", std::to_string(st.st_size) + "B", made.tmp().spec()}),
                     "cannot create " + quoted(target.spec())),
              import_diff(c, made, shown)},
             "send the data of " + quoted(from) + " as an rbd diff stream",
             [&](int out) { rbd::write_diff(in.fd(), out, shown); });
        return {target.spec(), "raw"};
    }

    DsResult mkfs(const DsDump& d, long id) {
        const Image& img = d.img();
        rbd::Image target = rbd::image_of(pool_of(d), id);
        if (img.fstype == "save_as") return {target.spec(), "raw"};  // cpds makes it
        std::string fs = img.fs;
        if (fs.empty() && img.fstype != "raw" && img.fstype != "qcow2" && !img.fstype.empty()) fs = img.fstype;
        if (!img.format.empty() && img.format != "raw")
            throw DriverError("unsupported image format " + quoted(img.format) + ": RBD images are raw");
        if (img.size_mb <= 0) throw DriverError("image SIZE must be a positive number of MiB");
        bool swap = img.fstype == "swap";
        if (swap) fs.clear();
        if (!fs.empty()) mkfs::check(fs);
        Cluster c = cluster(d, id);
        if (fs.empty() && !swap) {
            Made made(c, target);
            made.make({c.step(c.new_volume({"create", "--size", std::to_string(img.size_mb) + "M", made.tmp().spec()}),
                              "cannot create " + quoted(target.spec()))});
            return {target.spec(), "raw"};
        }
        // The file system (or swap) is made by the front-end's own mkfs in a sparse file of the
        // image's size, then streamed like cp (rbd::write_diff: only the blocks mkfs wrote cross,
        // the rest stays unallocated in the pool). Not on the volume itself: that needs it
        // mapped on the bridge (krbd or rbd-nbd: a kernel module and root there), and a failure
        // could leave it mapped; the file needs neither, and mkfs writes little.
        unsigned long long bytes = static_cast<unsigned long long>(img.size_mb) << 20;  // (SIZE <= kMaxSizeMb)
        // mkfs writes only its metadata, holes elsewhere: 1/16 of the size (at most 1 GiB) is
        // more than ext4 or xfs write.
        io::TempFile file(staging_dir(d, target, std::min(bytes / 16, 1ull << 30)) + "/" + target.name +
                          ".fs");  // (never committed: removed on every path, SIGTERM too)
        if (::ftruncate(file.fd(), static_cast<off_t>(bytes)) != 0) throw_errno("cannot size", file.path());
        Host& fe = Host::local_host();
        if (swap)
            mkfs::swap(fe, file.path());
        else
            mkfs::filesystem(fe, fs, file.path());
        Made made(c, target);
        log::info("importing the new " + (swap ? std::string("swap") : fs) + " image into " + quoted(target.spec()) + " on " +
                  c.h->name());
        send(made,
             {c.step(c.new_volume({"create", "--size", std::to_string(bytes) + "B", made.tmp().spec()}),
                     "cannot create " + quoted(target.spec())),
              import_diff(c, made, file.path())},
             "send the data of " + quoted(file.path()) + " as an rbd diff stream", [&](int out) {
                 io::File in = io::open_read(file.path());  // (by path: mkfs may have replaced the inode)
                 rbd::write_diff(in.fd(), out, file.path());
             });
        return {target.spec(), "raw"};
    }

    void rm(const DsDump& d, long id) {
        rbd::Image img = rbd::parse_spec(d.img().source);
        cluster(d, id).remove(img, flag(d.datastore.attr("CEPH_TRASH"), "CEPH_TRASH"));
    }

    // For a marketplace, as upstream: where the image can be read (rbd://BRIDGE/POOL/IMAGE with
    // the auth attributes the reader needs), its MD5 (the template's, as checked at import, or
    // of `rbd export` on the bridge, streamed), its size and format (RBD images are raw).
    ExportInfo export_image(const DsDump& d) {
        const Image& img = d.img();
        rbd::Image src = rbd::parse_spec(img.source);
        Cluster c = cluster(d, img.id);
        c.require(src);
        std::string url = "rbd://" + c.h->name() + "/" + src.spec();
        char join = '?';
        for (const auto& [k, v] : {std::pair<std::string, std::string>{"CEPH_USER", c.auth.user},
                                   {"CEPH_KEY", c.auth.key},
                                   {"CEPH_CONF", c.auth.conf}})
            if (!v.empty()) url += join + k + "=" + url_value(v), join = '&';
        auto it = img.tmpl.find("MD5");
        std::string md5 = it == img.tmpl.end() ? "" : it->second;
        if (md5.size() != 32 || md5.find_first_not_of("0123456789abcdef") != std::string::npos) {
            Argv a = {"sh", "-c", scripts::kMd5Of, "sh"};
            for (auto& w : rbd::rbd(c.auth, {"export", "--no-progress", src.spec(), "-"})) a.push_back(std::move(w));
            Result r = c.h->run(a, {.timeout_s = static_cast<int>(config().get_int("COPY_TIMEOUT")),
                                    .what = "cannot checksum " + quoted(src.spec()),
                                    .asks = true});
            md5 = r.out.substr(0, r.out.find(' '));
            if (md5.size() != 32 || md5.find_first_not_of("0123456789abcdef") != std::string::npos)
                throw DriverError("the checksum of " + quoted(src.spec()) + " on " + c.h->name() + " is no MD5");
        }
        return {url, md5, "raw", img.size_mb};
    }

    // A query value: paths as they are, anything that could end it (&, =, #, space...) as %XX.
    static std::string url_value(const std::string& v) {
        static const char* hex = "0123456789ABCDEF";
        std::string o;
        for (unsigned char ch : v) {
            if (std::isalnum(ch) || ch == '/' || ch == '.' || ch == '_' || ch == '-')
                o += static_cast<char>(ch);
            else
                o += std::string("%") + hex[ch >> 4] + hex[ch & 15];
        }
        return o;
    }

    unsigned long long stat_mb(const DsDump& d) {
        const Image& img = d.img();
        if (image_source::remote(img.path)) return io::mib_ceil(image_source::remote_size(d));
        io::File in = open_allowed(d, img.path);
        return io::mib_ceil(imgformat::decide_fd(in.fd(), img.path).virtual_size);
    }

    DsResult clone(const DsDump& d, long id) {
        const Image& img = d.img();
        if (img.cloning_id < 0) throw DriverError("the action data names no CLONING_ID");
        rbd::Image from = rbd::parse_spec(img.source);
        rbd::Image target = rbd::image_of(pool_of(d), id);
        Cluster c = cluster(d, id);
        Made made(c, target);
        // A full copy: the new image owes nothing to the old one (which may be removed).
        made.make({c.step(c.new_volume({"copy", "--no-progress", from.spec(), made.tmp().spec()}),
                          "cannot copy " + quoted(from.spec()) + " to " + quoted(target.spec()), true)});
        return {target.spec(), "raw"};
    }

    MonitorResult monitor(const DsDump& d) { return pool_usage(cluster(d, d.datastore.id), pool_of(d), d.monitor_vm_disks); }

    void snap_delete(const DsDump& d, long id) {
        auto [c, img, name] = snapshot(d, id);
        c.snap_delete(img, name);
    }

    void snap_revert(const DsDump& d, long id) {
        auto [c, img, name] = snapshot(d, id);
        c.snap_revert(img, name);
    }

    // The image becomes the snapshot's content and keeps no snapshots (nor a parent).
    void snap_flatten(const DsDump& d, long id) {
        auto [c, img, want] = snapshot(d, id);
        auto a = c.ask({Cluster::snaps_of(img), Cluster::children_of(img.spec()), Cluster::info_of(img)});
        auto ss = c.snaps(a[0], img);
        rbd::Snap s = Cluster::named(ss, img, want);
        if (!c.children(a[1], img.spec()).empty())
            throw DriverError("cannot flatten " + quoted(img.spec()) + ": clones depend on its snapshots");
        std::vector<Step> steps = {c.step({"snap", "rollback", "--no-progress", img.snap(s.name)},
                                          "cannot revert " + quoted(img.spec()) + " to snapshot " + s.name)};
        for (const auto& x : ss)
            for (auto& r : c.snap_removal(img, x)) steps.push_back(std::move(r));
        if (c.require(a[2], img).parent)
            steps.push_back(c.step({"flatten", "--no-progress", img.spec()}, "cannot flatten " + quoted(img.spec())));
        c.h->batch(steps);
    }

    // The pool's usage (`ceph df`) and, with `vm_disks` (MONITOR_VM_DISKS=1), each VM's
    // disks and their snapshots (`rbd du` of the pool: one command, where upstream runs one
    // per volume): a VM's clones one-<IMAGE>-<VM>-<DISK> and volatile disks
    // one-sys-<VM>-<DISK>, as upstream (a persistent disk is its image, no VM's). One round trip.
    static MonitorResult pool_usage(const Cluster& c, const std::string& pool, bool vm_disks) {
        std::vector<Step> questions{df_question(c)};
        if (vm_disks) questions.push_back(c.question({"du", "--format", "json", "-p", pool}));  // (its failure: below)
        auto a = c.h->batch(questions);
        rbd::PoolUsage u = rbd::parse_df(a[0], pool);
        MonitorResult m;
        m.used_mb = u.used >> 20;
        m.free_mb = u.avail >> 20;
        m.total_mb = m.used_mb + m.free_mb;
        if (!vm_disks) return m;
        // `rbd du` reads every volume (fast-diff aside): on a pool where it fails or takes too
        // long, the datastore's usage is still reported, without the VMs'.
        std::vector<rbd::Usage> usage;
        try {
            if (auto out = c.found(a[1], "cannot read the volumes' usage")) usage = rbd::parse_du(*out);
        } catch (const DriverError& e) {
            log::error(std::string(e.what()) + ": the VMs' disk usage is not reported");
        }
        std::map<long, VmDiskUsage> vms;
        for (const auto& v : usage) {
            auto at = vm_disk_of(v.image);
            if (!at) continue;
            VmDiskUsage& vm = vms[at->first];
            vm.vm_id = std::to_string(at->first);
            if (v.snapshot.empty())
                vm.disk(at->second, io::mib_ceil(v.used));
            else if (v.snapshot.find_first_not_of("0123456789") == std::string::npos)  // (not the clones' @snap)
                vm.snapshot(v.snapshot, at->second, io::mib_ceil(v.used));
        }
        for (auto& [id, vm] : vms) m.vms.push_back(std::move(vm));
        return m;
    }

    // The VM and disk of a volume named one-<IMAGE>-<VM>-<DISK> or one-sys-<VM>-<DISK>.
    static std::optional<std::pair<long, int>> vm_disk_of(const std::string& name) {
        std::vector<std::string> part;
        std::istringstream in(name);
        for (std::string w; std::getline(in, w, '-');) part.push_back(w);
        auto number = [](const std::string& w) {
            return !w.empty() && w.size() < 10 && w.find_first_not_of("0123456789") == std::string::npos;
        };
        if (part.size() != 4 || part[0] != "one" || !(part[1] == "sys" || number(part[1])) || !number(part[2]) ||
            !number(part[3]))
            return std::nullopt;
        return std::pair{std::stol(part[2]), std::stoi(part[3])};
    }

private:
    static Step df_question(const Cluster& c) {
        return c.h->ask_step(rbd::ceph(c.auth, {"df", "--format", "json"}), "cannot read the cluster's usage on " + c.h->name(),
                             c.auth.timeout_s + 30);
    }
    static rbd::PoolUsage pool_space(const Cluster& c, const std::string& pool) {
        return rbd::parse_df(c.h->batch({df_question(c)})[0], pool);
    }

    static Step import_diff(const Cluster& c, const Made& made, const std::string& shown) {
        return c.step({"import-diff", "--no-progress", "-", made.tmp().spec()},
                      "cannot import " + quoted(shown) + " into " + quoted(made.final_name().spec()), true);
    }

    // Made's batch with `write` streaming into its stdin (import-diff -) from a thread. The
    // writer's own failure (a read error, a wrong checksum) is the reason given; one that only
    // says the import stopped reading leaves the bridge's. (A writer that fails writes no end
    // mark: import-diff fails, nothing is renamed.)
    static void send(Made& made, std::vector<Step> steps, const std::string& what, const std::function<void(int)>& write) {
        if (dry_run::skip(what)) {
            made.make(std::move(steps));
            return;
        }
        int p[2];
        if (::pipe2(p, O_CLOEXEC) != 0) throw_errno("cannot make a pipe for", "the rbd diff stream");
        io::File rd(p[0]), wr(p[1]);
        std::exception_ptr sending;
        std::thread sender([&] {
            try {
                write(wr.fd());
            } catch (...) {
                sending = std::current_exception();
            }
            wr = io::File();
        });
        auto sender_failed = [&] {
            if (!sending) return;
            try {
                std::rethrow_exception(sending);
            } catch (const io::ReaderGone&) {}
        };
        try {
            made.make(std::move(steps), rd.fd());
        } catch (...) {
            rd = io::File();  // (a sender still writing gets EPIPE)
            sender.join();
            sender_failed();
            throw;
        }
        rd = io::File();
        sender.join();
        sender_failed();
    }

    // Where mkfs and a conversion make their files for `target` on the front-end: the
    // datastore's STAGING_DIR (upstream's attribute, where its bridges stage images; /var/tmp
    // by default), refused with less than `need` bytes free. What a killed (SIGKILL) action
    // for the same image left there goes first.
    static std::string staging_dir(const DsDump& d, const rbd::Image& target, unsigned long long need) {
        std::string dir = d.datastore.attr("STAGING_DIR");
        dir = clean_path(dir.empty() ? "/var/tmp" : dir, "STAGING_DIR");
        io::sweep_temps(dir, "." + target.name + ".");
        struct statvfs sv {};
        if (::statvfs(dir.c_str(), &sv) != 0) throw_errno("cannot stat the file system of", dir);
        unsigned long long free = static_cast<unsigned long long>(sv.f_bavail) * sv.f_frsize;
        if (free < need)
            throw DriverError("not enough space in " + quoted(dir) + " (STAGING_DIR): " + std::to_string(free >> 20) +
                              " MiB free, " + std::to_string(need >> 20) + " MiB needed");
        return dir;
    }

    static std::string pool_of(const DsDump& d) {
        std::string p = d.datastore.attr("POOL_NAME");
        return rbd::valid_name(p.empty() ? "one" : p, "POOL_NAME");
    }

    static Cluster cluster(const DsDump& d, long pick) {
        const Datastore& ds = d.datastore;
        std::string bridge = first_word_of(ds.attr("BRIDGE_LIST"), pick);
        if (bridge.empty()) throw DriverError("the datastore has no BRIDGE_LIST: no host to run rbd on");
        rbd::Auth a = auth_from(ds.attr("CEPH_USER"), ds.attr("CEPH_KEY"), ds.attr("CEPH_CONF"));
        return {&Host::get(valid_host(bridge)), a, data_pool_of(ds.attr("EC_POOL_NAME"))};
    }

    struct Snapshot {
        Cluster c;
        rbd::Image img;
        std::string name;  // TARGET_SNAPSHOT
    };
    static Snapshot snapshot(const DsDump& d, long id) {
        const Image& img = d.img();
        if (img.target_snapshot < 0) throw DriverError("the action data names no TARGET_SNAPSHOT");
        return {cluster(d, id), rbd::parse_spec(img.source), std::to_string(img.target_snapshot)};
    }

    // The file to import, opened after the path policy passed on its canonical path and
    // checked again on the opened descriptor (as the fs driver does).
    static io::File open_allowed(const DsDump& d, const std::string& path) {
        std::string p = clean_path(path, "image path");
        PathPolicy policy(d.datastore.attr("RESTRICTED_DIRS"), d.datastore.attr("SAFE_DIRS"));
        policy.resolve(p);
        io::File f(::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
        if (!f) throw_errno("cannot open", p);
        char buf[PATH_MAX];
        ssize_t n = ::readlink(("/proc/self/fd/" + std::to_string(f.fd())).c_str(), buf, sizeof buf - 1);
        if (n < 0) throw_errno("cannot resolve the opened file", p);
        policy.check(std::string(buf, static_cast<size_t>(n)), p);
        io::require_image_file(f.fd(), p);
        return f;
    }
};

// ---- transfer manager -----------------------------------------------------------------

class CephTm final : public CommonTm {
public:
    // An RBD clone of the image's protected snapshot `snap` (made and protected on first
    // use, as upstream): O(1) whatever the size. Format 1 images have no clones: a copy.
    void clone(const TmContext& c, const HostPath& src, const HostPath& dst) {
        Disk d = disk_of(c, dst);
        rbd::Image image = rbd::parse_spec(src.path);
        if (!(image == d.image)) throw DriverError(quoted(src.path) + " is not the SOURCE of disk " + std::to_string(d.id));
        set_data_pool(c, d, c.dsid);
        const Cluster& cl = d.cl;
        // Two questions, each one rbd process (each opens the cluster: they are what a deploy
        // costs): the pool's names (is the clone there already, a leftover temporary?) and the
        // parent snapshot (its size, protection). A retry, or the image's first clone, asks
        // once more (the clone's parent; the image itself).
        const rbd::Image parent{image.pool, image.name + "@" + rbd::kCloneSnap};  // (image@snap, as info names it)
        auto a = cl.ask({{"ls", "--format", "json", d.rbd.pool}, Cluster::info_of(parent)});
        auto listed = cl.found(a[0], "cannot list pool " + quoted(d.rbd.pool));
        if (!listed) throw DriverError("pool " + quoted(d.rbd.pool) + " does not exist");
        auto names = rbd::parse_ls(*listed);
        auto has = [&](const std::string& n) { return std::find(names.begin(), names.end(), n) != names.end(); };
        if (has(d.rbd.name)) {  // a retry after it was made: the same clone is fine
            rbd::Info have = cl.require(d.rbd);
            if (!have.parent || have.parent->pool != image.pool || have.parent->image != image.name ||
                have.parent->snapshot != rbd::kCloneSnap)
                throw DriverError(quoted(d.rbd.spec()) + " exists and is no clone of " + quoted(image.snap(rbd::kCloneSnap)));
            return;
        }
        Made made(cl, d.rbd, false, has(d.rbd.name + ".tmp"));
        std::vector<Step> steps;
        rbd::Info src_info;
        if (auto snap = cl.info(a[1], parent)) {
            if (!snap->is_protected)
                throw DriverError("the clone snapshot " + quoted(image.snap(rbd::kCloneSnap)) + " is not protected");
            src_info = *snap;  // (the clone's size is the snapshot's)
        } else {               // the image's first clone, or a format 1 image
            auto more = cl.ask({Cluster::info_of(image), Cluster::snaps_of(image)});
            src_info = cl.require(more[0], image);
            if (src_info.format == 2) steps = parent_snapshot(cl, image, cl.snaps(more[1], image));
        }
        if (src_info.format == 2) {
            steps.push_back(cl.step(cl.new_volume({"clone", image.snap(rbd::kCloneSnap), made.tmp().spec()}),
                                    "cannot clone " + quoted(image.snap(rbd::kCloneSnap)) + " to " + quoted(d.rbd.spec())));
        } else {
            steps.push_back(cl.step(cl.new_volume({"copy", "--no-progress", image.spec(), made.tmp().spec()}),
                                    "cannot copy " + quoted(image.spec()) + " to " + quoted(d.rbd.spec()), true));
        }
        long size = d.vd->size_mb("SIZE");
        if (size > 0 && static_cast<unsigned long long>(size) << 20 > src_info.size)
            steps.push_back(cl.step({"resize", "--no-progress", "--size", std::to_string(size) + "M", made.tmp().spec()},
                                    "cannot grow " + quoted(d.rbd.spec()) + " to " + std::to_string(size) + " MiB"));
        made.make(std::move(steps));  // (a second round trip: what to make depends on the answers)
        log::info(quoted(dst.str()) + " is " + quoted(d.rbd.spec()));
    }

    // A persistent disk runs on the image itself: it must exist, nothing is copied.
    void ln(const TmContext& c, const HostPath& src, const HostPath& dst) {
        Disk d = disk_of(c, dst);
        if (!(rbd::parse_spec(src.path) == d.rbd))
            throw DriverError(quoted(src.path) + " is not the SOURCE of disk " + std::to_string(d.id));
        d.cl.require(d.rbd);
    }

    // The persistent disk was the image all along: nothing to write back, as upstream.
    void mvds(const TmContext& c, const HostPath& src, const HostPath& dst) {
        Disk d = disk_of(c, src);
        if (!(rbd::parse_spec(dst.path) == d.rbd))
            throw DriverError(quoted(dst.path) + " is not the SOURCE of disk " + std::to_string(d.id));
        d.cl.require(d.rbd);
    }

    // Save-as: a full copy of the disk (or one of its snapshots) into the new image.
    void cpds(const TmContext& c, const HostPath& src, const HostPath& dst, long snap) {
        Disk d = disk_of(c, src);
        set_data_pool(c, d, c.dsid);
        rbd::Image target = rbd::parse_spec(dst.path);
        Made made(d.cl, target);
        if (snap < 0) {
            made.make({d.cl.step(d.cl.new_volume({"copy", "--no-progress", d.rbd.spec(), made.tmp().spec()}),
                                 "cannot copy " + quoted(d.rbd.spec()) + " to " + quoted(target.spec()), true)});
            return;
        }
        // A clone of the (protected) snapshot, flattened: `rbd copy` of a snapshot of a
        // clone reads wrong data in Ceph 16.2.15 (the e2e suite caught it), and `rbd deep
        // cp` would carry the older snapshots along.
        rbd::Snap s = d.cl.snap(d.rbd, std::to_string(snap));
        std::vector<Step> steps;
        if (!s.is_protected)
            steps.push_back(d.cl.step({"snap", "protect", d.rbd.snap(s.name)}, "cannot protect " + quoted(d.rbd.snap(s.name))));
        steps.push_back(d.cl.step(d.cl.new_volume({"clone", d.rbd.snap(s.name), made.tmp().spec()}),
                                  "cannot clone " + quoted(d.rbd.snap(s.name)) + " to " + quoted(target.spec())));
        steps.push_back(
            d.cl.step({"flatten", "--no-progress", made.tmp().spec()}, "cannot flatten " + quoted(target.spec()), true));
        made.make(std::move(steps));  // (a second round trip: whether to protect is an answer)
    }

    // ---- the .ssh variants: an ssh system datastore, where the disk is a local file of its
    // host. The rbd tools run on that host (as above), in one batch after the questions.

    // clone.ssh: the image's protected snapshot `snap` (made on first use, as the clone's
    // parent is) exported into the disk's local file; a format 1 image, the image itself.
    void clone_ssh(const TmContext& c, const HostPath& src, const HostPath& dst) {
        Disk d = disk_of(c, dst);
        rbd::Image image = rbd::parse_spec(src.path);
        if (!(image == d.image)) throw DriverError(quoted(src.path) + " is not the SOURCE of disk " + std::to_string(d.id));
        require_raw(d);
        auto a = d.cl.ask({Cluster::info_of(image), Cluster::snaps_of(image)});
        rbd::Info info = d.cl.require(a[0], image);
        long size = d.vd->size_mb("SIZE");
        unsigned long long grow = size > 0 && static_cast<unsigned long long>(size) << 20 > info.size ? size : 0;
        if (info.format == 2)
            export_to_disk(d, dst, image.snap(rbd::kCloneSnap), grow, parent_snapshot(d.cl, image, d.cl.snaps(a[1], image)));
        else
            export_to_disk(d, dst, image.spec(), grow, {});
    }

    // ln.ssh: the persistent image exported into the disk's local file (mvds.ssh saves it back).
    void ln_ssh(const TmContext& c, const HostPath& src, const HostPath& dst) {
        Disk d = disk_of(c, dst);
        if (!(rbd::parse_spec(src.path) == d.rbd) || d.owned)
            throw DriverError(quoted(src.path) + " is not the persistent SOURCE of disk " + std::to_string(d.id));
        require_raw(d);
        d.cl.require(d.rbd);
        export_to_disk(d, dst, d.rbd.spec(), 0, {});
    }

    // mvds.ssh: the local file goes back into the persistent image, never written in place
    // (upstream's `qemu-img convert -n` leaves it half old, half new should it stop midway):
    // `rbd import` of the file (zero blocks are not written) into <name>.tmp, swapped in for
    // the image (Made, replacing: the old image aside, the new one renamed in, the old one
    // removed last). The swap would lose the image's snapshots, and the clones hanging on
    // them, so an image with snapshots is refused before anything changes. The local file
    // goes once the image is in place. As upstream, refused for a VM undeployed or stopped
    // (its disk is then on another host than the VM's last one).
    void mvds_ssh(const TmContext& c, const HostPath& src, const HostPath& dst) {
        Disk d = disk_of(c, src);
        if (!(rbd::parse_spec(dst.path) == d.rbd) || d.owned)
            throw DriverError(quoted(dst.path) + " is not the persistent SOURCE of disk " + std::to_string(d.id));
        if (src.host != c.vm().hostname)
            throw DriverError("cannot save " + quoted(src.str()) + ": VM " + std::to_string(c.vmid) +
                              " is undeployed or stopped (not supported, as upstream)");
        require_raw(d);
        set_data_pool(c, d, c.dsid);
        Made made(d.cl, d.rbd, true);
        Host& h = *d.cl.h;
        auto a = h.batch({d.cl.question(Cluster::info_of(d.rbd)), d.cl.question(Cluster::info_of(made.aside())),
                          h.exists_step(src.path), d.cl.question(Cluster::snaps_of(d.rbd)),
                          d.cl.question(Cluster::children_of(d.rbd.snap(rbd::kCloneSnap)))});
        if (a[2].empty()) throw DriverError(quoted(src.str()) + " does not exist");
        auto have = d.cl.info(a[0], d.rbd);
        if (!have)
            throw DriverError(
                "RBD image " + quoted(d.rbd.spec()) + " does not exist" +
                (d.cl.info(a[1], made.aside()) ? " (" + quoted(made.aside().spec()) + " holds it: an interrupted save)" : ""));
        // The @snap of earlier clones, none left, goes first (upstream's delete drops it with
        // the last clone); any other snapshot stays the image's and refuses the swap.
        std::vector<Step> steps;
        for (const auto& sn : d.cl.snaps(a[3], d.rbd)) {
            if (sn.name == rbd::kCloneSnap && d.cl.children(a[4], d.rbd.snap(sn.name)).empty()) {
                for (auto& x : d.cl.snap_removal(d.rbd, sn)) steps.push_back(std::move(x));
                continue;
            }
            throw DriverError("cannot save " + quoted(src.str()) + " into " + quoted(d.rbd.spec()) + ": it has snapshot " +
                              quoted(sn.name) + ", which replacing it would lose");
        }
        steps.push_back(import_step(d, src, made.tmp()));
        made.make(std::move(steps), -1, {h.remove_step(src.path)});
        log::info("persistent disk " + quoted(src.str()) + " saved to " + quoted(d.rbd.spec()));
    }

    // cpds.ssh: save-as of the local file, imported into the new image (Made). Its snapshots
    // are not RBD snapshots: a snapshot's save-as is refused, as upstream.
    void cpds_ssh(const TmContext& c, const HostPath& src, const HostPath& dst, long snap) {
        Disk d = disk_of(c, src);
        if (snap != -1)
            throw DriverError("cannot save snapshot " + std::to_string(snap) + " of " + quoted(src.str()) +
                              ": a local copy of an RBD disk has no snapshots to save (not supported, as upstream)");
        require_raw(d);
        set_data_pool(c, d, c.dsid);
        rbd::Image target = rbd::parse_spec(dst.path);
        Made made(d.cl, target);
        // A running VM's disk (a hot save-as) is read with the guest quiesced, as upstream.
        std::optional<libvirt::Quiesce> held;
        if (c.vm().lcm_state == lcm::HotplugSaveas) held.emplace(*d.cl.h, c.vm().deploy_id);
        made.make({import_step(d, src, made.tmp())});  // (a missing file: rbd's "error opening")
    }

    // resize.ssh: the local file grows (qemu-img resize, which refuses to shrink).
    void resize_ssh(const TmContext& c, const HostPath& disk, long size_mb) {
        require_raw(disk_of(c, disk));
        CommonTm::resize(c, disk, size_mb);
    }

    void mv(const TmContext& c, const HostPath& src, const HostPath& dst) {
        if (auto d = rbd_disk(c, src); d && !d->local_file) return;        // in the cluster, seen from every host
        ssh_table().entry("mv").as<sig::Paths>("ssh", "mv")(c, src, dst);  // upstream's tm/ceph/mv is tm/ssh/mv
    }

    // A clone or volatile disk of this VM is removed (a persistent image stays); the last clone
    // of an image takes the image's @snap with it, as upstream, so the next clone is of the
    // image as it is then (a persistent use may have changed it).
    void del(const TmContext& c, const HostPath& dst) {
        if (auto d = rbd_disk(c, dst); d && !d->local_file) {
            if (d->owned) d->cl.remove(d->rbd, disk_flag(*d->vd, "CEPH_TRASH"), d->is_volatile ? nullptr : &d->image);
            return;
        }
        CommonTm::del(c, dst);
    }

    // A volatile disk is an RBD volume, POOL/one-sys-<VM>-<DISK>, as upstream (the domain
    // the VMM defines reads it there), in the pool oned copies into the disk from the system
    // datastore (upstream's default: one). Always raw: a qcow2 request is a raw volume, as
    // fs_lvm's. Empty: `rbd create`. A swap signature or a file system is made by the host's
    // own tools in a sparse file beside the disk, then `rbd import`ed (it writes no zero
    // block); the file goes in the same batch, or with the guard on a failure.
    void mkimage(const TmContext& c, long size_mb, const std::string& format, const HostPath& dst) {
        if (size_mb <= 0) throw DriverError("cannot make a volatile disk of " + std::to_string(size_mb) + " MiB");
        auto rbd_volume = rbd_disk(c, dst);
        if (!rbd_volume) return CommonTm::mkimage(c, size_mb, format, dst);  // DISK_TYPE FILE: a file, as the VMM reads it
        Disk& d = *rbd_volume;
        if (!d.is_volatile)
            throw DriverError("disk " + std::to_string(d.id) + " of VM " + std::to_string(c.vmid) + " is no volatile disk");
        mkfs::Request want = mkfs::volatile_disk(format, d.vd->get("FS"));
        set_data_pool(c, d, c.dsid);
        Host& h = *d.cl.h;
        std::string size = std::to_string(size_mb) + "M";
        Made made(d.cl, d.rbd);
        // A volume of this name is this disk's, left by an earlier attempt that failed after
        // its rename (oned makes a volatile disk once): it goes, so the retry completes.
        // (answered: most often there is none; one that cannot go fails the rename below)
        std::vector<Step> steps{d.cl.answered({"rm", "--no-progress", d.rbd.spec()}, false)};
        if (want.format != "swap" && want.fs.empty()) {
            steps.push_back(d.cl.step(d.cl.new_volume({"create", "--size", size, made.tmp().spec()}),
                                      "cannot create " + quoted(d.rbd.spec())));
            made.make(std::move(steps));
        } else {
            RemoteTemp file(h, io::temp_name_for(dst.path));
            steps.push_back(h.mkdir_step(dirname_of(dst.path)));
            steps.push_back(qemu::create_step(h, "raw", file.path(), static_cast<unsigned long long>(size_mb)));
            steps.push_back(want.format == "swap" ? mkfs::swap_step(h, file.path())
                                                  : mkfs::filesystem_step(h, want.fs, file.path()));
            steps.push_back(d.cl.step(
                d.cl.new_volume({"import", "--no-progress", file.path(), made.tmp().spec()}),
                "cannot import the new " + (want.fs.empty() ? want.format : want.fs) + " disk into " + quoted(d.rbd.spec()),
                true));
            made.make(std::move(steps), -1, {h.remove_step(file.path())});
            file.keep();  // (the batch removed it)
        }
        log::info(quoted(dst.str()) + " is " + quoted(d.rbd.spec()) + ", " + std::to_string(size_mb) + " MiB " +
                  (want.fs.empty() ? want.format : want.fs));
    }

    void resize(const TmContext& c, const HostPath& disk, long size_mb) {
        Disk d = volume_of(c, disk, "resize");
        rbd::Info i = d.cl.require(d.rbd);
        unsigned long long want = static_cast<unsigned long long>(size_mb) << 20;
        if (want < i.size) throw DriverError("cannot shrink " + quoted(d.rbd.spec()) + " to " + std::to_string(size_mb) + " MiB");
        if (want == i.size) return;
        d.cl.h->batch({d.cl.step({"resize", "--no-progress", "--size", std::to_string(size_mb) + "M", d.rbd.spec()},
                                 "cannot grow " + quoted(d.rbd.spec()))});
    }

    void snap_create(const TmContext& c, const HostPath& disk, long snap) {
        Disk d = volume_of(c, disk, "snap_create");
        d.cl.h->batch(snapshot_steps(d, snap));
    }

    // A running VM's disk: RBD snapshots it as it is (crash-consistent); the guest's file
    // systems are frozen around it through its agent (with no agent, the domain is suspended),
    // so it is clean, and thawed (resumed) on every path, after SIGTERM too (upstream goes on
    // without a freeze when there is no agent). The freeze is held for the `snap create`
    // alone, on the host, in the batch that protects the snapshot after it (the question,
    // does it exist, is asked before: two round trips).
    void snap_create_live(const TmContext& c, const HostPath& disk, long snap) {
        Disk d = volume_of(c, disk, "snap_create_live");
        auto steps = snapshot_steps(d, snap);
        auto [create, why] = steps.front().there.front();  // (a copy: the step is replaced)
        steps.front() = libvirt::quiesced_step(*d.cl.h, c.vm().deploy_id, create, why, d.cl.timeout(false));
        libvirt::QuiescedBatch quiesced(*d.cl.h, c.vm().deploy_id);
        libvirt::log_quiesced(d.cl.h->batch(steps).front(), c.vm().deploy_id);
        quiesced.done();
    }

    void snap_delete(const TmContext& c, const HostPath& disk, long snap) {
        Disk d = volume_of(c, disk, "snap_delete");
        d.cl.snap_delete(d.rbd, std::to_string(snap));
    }

    void snap_revert(const TmContext& c, const HostPath& disk, long snap) {
        Disk d = volume_of(c, disk, "snap_revert");
        d.cl.snap_revert(d.rbd, std::to_string(snap));
    }

    MonitorResult monitor(const DsDump& d) {
        std::string pool = d.datastore.attr("POOL_NAME");
        std::string bridge = first_word_of(d.datastore.attr("BRIDGE_LIST"), 0);
        if (pool.empty() || bridge.empty()) return CommonTm::monitor(d);  // a system datastore of files
        Cluster c{&Host::get(valid_host(bridge)),
                  auth_from(d.datastore.attr("CEPH_USER"), d.datastore.attr("CEPH_KEY"), d.datastore.attr("CEPH_CONF")), ""};
        return CephDs::pool_usage(c, rbd::valid_name(pool, "POOL_NAME"), d.monitor_vm_disks);
    }

private:
    struct Disk {
        int id = -1;
        const VmDisk* vd = nullptr;
        rbd::Image image;  // the disk's SOURCE
        rbd::Image rbd;    // what the VM runs on: the image itself (persistent), its clone, a volatile volume
        bool owned = false;
        bool is_volatile = false;
        bool local_file = false;  // DISK_TYPE FILE: copied to its host's file (an ssh system datastore)
        Cluster cl;
    };

    // The snapshot `snap` of the disk, refused when it exists; protected, as upstream: a
    // save-as of it is a clone (cpds).
    static std::vector<Step> snapshot_steps(const Disk& d, long snap) {
        std::string s = std::to_string(snap);
        for (const auto& x : d.cl.snaps(d.cl.ask({Cluster::snaps_of(d.rbd)})[0], d.rbd))
            if (x.name == s) throw DriverError("snapshot " + s + " of " + quoted(d.rbd.spec()) + " already exists");
        return {d.cl.step({"snap", "create", "--no-progress", d.rbd.snap(s)}, "cannot snapshot " + quoted(d.rbd.spec())),
                d.cl.step({"snap", "protect", d.rbd.snap(s)}, "cannot protect " + quoted(d.rbd.snap(s)))};
    }

    // disk.N of this VM that is an RBD disk: it has a SOURCE POOL/IMAGE, or it is a volatile
    // disk (no SOURCE, TYPE fs or swap: mkimage made it in RBD); nullopt otherwise.
    static std::optional<Disk> rbd_disk(const TmContext& c, const HostPath& p) {
        int id = disk_id_of(p.path);
        if (id < 0) return std::nullopt;
        check_disk_path(p, c.vmid);
        const VmDisk* vd = c.vm().disk(id);
        if (!vd) return std::nullopt;
        auto lower = [](std::string v) {
            std::transform(v.begin(), v.end(), v.begin(), [](unsigned char ch) { return std::tolower(ch); });
            return v;
        };
        // DISK_TYPE, as oned sets it from the (system) datastore: RBD where the VMM reads the
        // volume, FILE where it reads a file (an ssh system datastore's copy, or a volatile
        // disk of a system datastore of files).
        std::string source = vd->get("SOURCE"), type = lower(vd->get("TYPE")), disk_type = lower(vd->get("DISK_TYPE"));
        Disk d;
        d.id = id;
        d.vd = vd;
        d.local_file = disk_type == "file" || type == "file";
        if (source.empty() && (type == "fs" || type == "swap")) {
            if (!disk_type.empty() && disk_type != "rbd") return std::nullopt;  // a file, as the other drivers' volatile disks
            std::string pool = vd->get("POOL_NAME");
            d.rbd = d.image = rbd::volatile_of(rbd::valid_name(pool.empty() ? "one" : pool, "POOL_NAME"), c.vmid, id);
            d.owned = d.is_volatile = true;
        } else {
            if (source.empty() || source[0] == '/') return std::nullopt;
            d.image = rbd::parse_spec(source);
            bool persistent = vd->get("CLONE") == "NO";
            d.rbd = persistent ? d.image : rbd::disk_of(d.image, c.vmid, id);
            d.owned = !persistent;
        }
        d.cl = {&Host::get(p.host), auth_from(vd->get("CEPH_USER"), vd->get("CEPH_KEY"), vd->get("CEPH_CONF")), ""};
        return d;
    }

    // EC_POOL_NAME of the datastore `dsid` (upstream reads it there), for the volumes a
    // clone or save-as makes.
    static void set_data_pool(const TmContext& c, Disk& d, long dsid) {
        d.cl.data_pool = data_pool_of(c.datastore(dsid).attr("EC_POOL_NAME"));
    }

    static Disk disk_of(const TmContext& c, const HostPath& p) {
        auto d = rbd_disk(c, p);
        if (!d) throw DriverError(quoted(p.str()) + " is not an RBD disk of VM " + std::to_string(c.vmid));
        return *d;
    }

    // The disk as the RBD volume the VM runs on: refused for a disk copied to its host's file
    // (DISK_TYPE FILE), where a snapshot or resize of the volume would miss what the VM
    // writes (oned falls back to these actions for the .ssh variants there are none of;
    // upstream refuses them for any disk TYPE but RBD).
    static Disk volume_of(const TmContext& c, const HostPath& p, const char* action) {
        Disk d = disk_of(c, p);
        if (d.local_file)
            throw DriverError(std::string(action) + ": not supported on disk " + std::to_string(d.id) +
                              ", a copy in its host's file (DISK_TYPE FILE), as upstream");
        return d;
    }

    // An RBD disk is raw; one declared otherwise is refused (a file of another format would be
    // written into the cluster, or read from it, as if it were raw).
    static void require_raw(const Disk& d) {
        std::string f = disk_format(*d.vd);
        if (f != "raw") throw DriverError("disk " + std::to_string(d.id) + " is " + quoted(f) + ": RBD disks are raw");
    }

    // `from` (an image, or image@snap) into the disk's local file `dst` on its host: `rbd
    // export` to a temporary name beside it (sparse: rbd seeks over zero blocks), grown to
    // grow_mb (0: not), every byte allocated for a thick disk, synced, renamed; after
    // `steps`, in one batch. The host's datastore is marked for local monitoring, as
    // upstream's clone.ssh does.
    static void export_to_disk(const Disk& d, const HostPath& dst, const std::string& from, unsigned long long grow_mb,
                               std::vector<Step> steps) {
        Host& h = *d.cl.h;
        std::string dir = dirname_of(dst.path);
        RemoteTemp tmp(h, io::temp_name_for(dst.path));
        steps.push_back(h.mkdir_step(dir));
        steps.push_back(h.run_step(transfer::with_monitor_mark(monitor_mark_of(dir, "ssh").path, "ssh", {"true"}),
                                   "cannot mark " + quoted(h.label(dir)) + " for monitoring", 60));
        steps.push_back(d.cl.step({"export", "--no-progress", from, tmp.path()},
                                  "cannot export " + quoted(from) + " to " + quoted(dst.str()), true));
        if (grow_mb) steps.push_back(qemu::resize_step(h, "raw", tmp.path(), grow_mb, thick(d.vd)));
        if (thick(d.vd)) steps.push_back(h.preallocate_step(tmp.path()));
        steps.push_back(h.sync_step(tmp.path()));
        steps.push_back(h.rename_step(tmp.path(), dst.path, true));
        log::info("exporting " + quoted(from) + " to " + quoted(dst.str()));
        h.batch(steps);
        tmp.keep();
    }

    // `rbd import` of the disk's local file into `to` (a new volume: the datastore's data pool).
    static Step import_step(const Disk& d, const HostPath& file, const rbd::Image& to) {
        return d.cl.step(d.cl.new_volume({"import", "--no-progress", file.path, to.spec()}),
                         "cannot import " + quoted(file.str()) + " into " + quoted(to.spec()), true);
    }

    // image@snap, protected: the steps that make it on first use (none when it is there, as
    // listed in `ss`); present but unprotected is an error (someone is removing it, and a
    // clone of it would break).
    static std::vector<Step> parent_snapshot(const Cluster& cl, const rbd::Image& image, const std::vector<rbd::Snap>& ss) {
        for (const auto& s : ss) {
            if (s.name != rbd::kCloneSnap) continue;
            if (!s.is_protected) throw DriverError("the clone snapshot " + quoted(image.snap(s.name)) + " is not protected");
            return {};
        }
        return {
            cl.step({"snap", "create", "--no-progress", image.snap(rbd::kCloneSnap)}, "cannot snapshot " + quoted(image.spec())),
            cl.step({"snap", "protect", image.snap(rbd::kCloneSnap)}, "cannot protect " + quoted(image.snap(rbd::kCloneSnap)))};
    }
};

}  // namespace

const DsTable& ceph_ds_table() {
    static CephDs b;
    static const DsTable t{"ceph",
                           {{"cp", op(b, &CephDs::cp)},
                            {"mkfs", op(b, &CephDs::mkfs)},
                            {"rm", op(b, &CephDs::rm)},
                            {"stat", op(b, &CephDs::stat_mb)},
                            {"export", op(b, &CephDs::export_image)},
                            {"clone", op(b, &CephDs::clone)},
                            {"monitor", op(b, &CephDs::monitor)},
                            {"snap_delete", op(b, &CephDs::snap_delete)},
                            {"snap_flatten", op(b, &CephDs::snap_flatten)},
                            {"snap_revert", op(b, &CephDs::snap_revert)}}};
    return t;
}

const TmTable& ceph_tm_table() {
    static CephTm b;
    static const TmTable t{"ceph",
                           {{"clone", op(b, &CephTm::clone)},
                            {"ln", op(b, &CephTm::ln)},
                            {"mvds", op(b, &CephTm::mvds)},
                            {"cpds", op(b, &CephTm::cpds)},
                            {"mv", op(b, &CephTm::mv)},
                            {"premigrate", op(b, &CephTm::premigrate)},
                            {"postmigrate", op(b, &CephTm::postmigrate)},
                            {"failmigrate", op(b, &CephTm::failmigrate)},
                            {"snap_create", op(b, &CephTm::snap_create)},
                            {"snap_create_live", op(b, &CephTm::snap_create_live)},
                            {"snap_delete", op(b, &CephTm::snap_delete)},
                            {"snap_revert", op(b, &CephTm::snap_revert)},
                            {"context", op(b, &CephTm::context)},
                            {"delete", op(b, &CephTm::del)},
                            {"mkimage", op(b, &CephTm::mkimage)},
                            {"mkswap", mkswap_of(b)},
                            {"monitor", op(b, &CephTm::monitor)},
                            {"resize", op(b, &CephTm::resize)},
                            {"clone.ssh", op(b, &CephTm::clone_ssh)},
                            {"ln.ssh", op(b, &CephTm::ln_ssh)},
                            {"mvds.ssh", op(b, &CephTm::mvds_ssh)},
                            {"cpds.ssh", op(b, &CephTm::cpds_ssh)},
                            {"delete.ssh", op(b, &CommonTm::del)},  // the local file goes; the image stays
                            {"resize.ssh", op(b, &CephTm::resize_ssh)}},
                           /*rbd_images=*/true};
    return t;
}

}  // namespace onestor::backends
