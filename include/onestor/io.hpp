// Local data paths: sparse-aware copies (FICLONE, then SEEK_DATA/SEEK_HOLE extents moved
// with copy_file_range, read/write as the last resort) and the temp-beside-target,
// fsync, rename discipline. Memory stays one fixed buffer whatever the image size.
#pragma once
#include "onestor/error.hpp"

#include <sys/types.h>
#include <string>

namespace onestor::io {

struct CopyStats {
    unsigned long long size = 0;  // apparent size
    unsigned long long data = 0;  // bytes of data moved (allocated extents)
    bool reflinked = false;
};

// Copies all of src_fd into dst_fd (both at offset 0; dst is truncated to src's size),
// keeping holes. `label` names the copy in progress lines.
// `share`: a reflink where the filesystem can (no for a thick copy, whose blocks must be its own).
CopyStats copy_fd(int src_fd, int dst_fd, const std::string& label, bool share = true);

// An owned file descriptor.
class File {
public:
    File() = default;
    explicit File(int fd) : fd_(fd) {}
    File(File&& o) noexcept : fd_(o.release()) {}
    File& operator=(File&& o) noexcept;
    ~File();
    int fd() const { return fd_; }
    int release();
    explicit operator bool() const { return fd_ >= 0; }

private:
    int fd_ = -1;
};

File open_read(const std::string& path);  // throws DriverError

// The reader of a pipe went away (EPIPE): its own failure, not this, is the reason to give.
struct ReaderGone : DriverError {
    using DriverError::DriverError;
};
// Writes all n bytes to fd (a pipe's end): ReaderGone when its reader has gone, else a
// DriverError naming `stream`.
void write_all(int fd, const char* p, size_t n, const std::string& stream);

// What the drivers read whole from stdin (the 6.8+ DS dump, the pre/postmigrate template)
// is at most this: a dump is a few KiB; a larger input is refused, never buffered.
constexpr size_t kMaxStdin = 16u << 20;
// All of fd up to its end, refused ("<what> is larger than N MiB") once it holds more than
// `cap` bytes: at most cap + 1 bytes are ever read.
std::string read_capped(int fd, size_t cap, const std::string& what);

// Refuses what an image import must not read, on the opened descriptor of `path` (named
// as given in messages): anything but a regular file (a FIFO, a device, a directory), an
// empty file, and files of kernel pseudo filesystems (/proc, /sys: their sizes are not
// their contents, and their contents are the front-end's).
void require_image_file(int fd, const std::string& path);

// The mode of every image file onestor makes: upstream's, which its tools leave under
// oneadmin's usual umask 022 (qemu-img creates 0644; cp and the downloader 0666 & ~022).
constexpr mode_t kImageMode = 0644;

// A new file beside `target` under a hidden temporary name. commit() gives it `mode`
// exactly (whatever the umask, and whoever wrote the inode: qemu-img or mkfs may have
// replaced it with one of their own), fsyncs it, renames it onto `target` and fsyncs the
// directory; if the object dies uncommitted (an error, a signal turned into an exception)
// the temporary file is removed. Nothing half-written ever carries the final name.
class TempFile {
public:
    explicit TempFile(std::string target, mode_t mode = kImageMode);
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;
    ~TempFile();
    int fd() const { return file_.fd(); }
    const std::string& path() const { return tmp_; }
    // replace: overwrite an existing target atomically; otherwise fail if it exists.
    void commit(bool replace = true);

private:
    std::string target_, tmp_;
    mode_t mode_;
    File file_;
    bool done_ = false;
};

// A temporary name beside `target` (same directory, so rename is atomic).
std::string temp_name_for(const std::string& target);
// `bytes` bytes from getrandom, in hex (names nobody can guess).
std::string random_hex(size_t bytes);

// rename(2), optionally refusing to replace an existing target (RENAME_NOREPLACE).
void rename_path(const std::string& from, const std::string& to, bool replace);
// Puts the tree `from` where the directory `to` is (or is not yet), atomically where the
// filesystem can swap two names (RENAME_EXCHANGE), then removes the old tree: `to` is never
// missing, never half-replaced.
void replace_dir(const std::string& from, const std::string& to);
void fsync_dir(const std::string& dir);
void mkdir_p(const std::string& dir, mode_t mode = 0755);
// Removes a file, a symlink or a whole tree (never following symlinks, even one swapped in
// while it works: each directory is opened O_NOFOLLOW and emptied through its descriptor);
// missing is fine.
void remove_tree(const std::string& path);

// Temporaries of writers that died (SIGKILL, a crash). Every writer of a temp name holds
// an flock(LOCK_EX) on it for as long as it lives (TempFile, the stream receiver: see
// hold_temp), and the name carries the pid of the process that made it. sweep_temps()
// removes, in `dir`, only names that is_temp_name() accepts and start with `prefix`, that
// are regular files or directories (never a symlink, never followed), whose process is
// not running here and whose lock it can take; it returns how many it removed and never
// fails (an action goes on whatever its sweep finds).
bool is_temp_name(const std::string& name);
int sweep_temps(const std::string& dir, const std::string& prefix = "");
// Opens the temp at `path` (O_NOFOLLOW) and takes its lock: the descriptor to keep open
// while the temp is being written.
int hold_temp(const std::string& path);
bool exists(const std::string& path);  // lstat succeeds

// Allocated bytes of a file or a tree (st_blocks), never following symlinks.
unsigned long long allocated_bytes(const std::string& path);
unsigned long long mib_ceil(unsigned long long bytes);

}  // namespace onestor::io
