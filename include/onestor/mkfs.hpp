// What goes into a new empty image or volatile disk: a swap signature or a filesystem, made
// by the host's own tools from argv (MKSWAP; mkfs.<fs> with FS_OPTS_<fs>), on a file or a
// device. Only filesystems listed in SUPPORTED_FS are ever made.
#pragma once
#include "onestor/host.hpp"

#include <string>

namespace onestor::mkfs {

// Refuses (DriverError) a filesystem that is not in SUPPORTED_FS.
void check(const std::string& fs);

// A volatile disk's request as oned sends it: 5.x names a filesystem by the FORMAT argument
// ("ext4"), 6.x by DISK/FS with FORMAT raw or qcow2. Checked before anything is created.
struct Request {
    std::string format;  // raw, qcow2 or swap
    std::string fs;      // the filesystem to make, or ""
};
Request volatile_disk(const std::string& format, const std::string& disk_fs);

void swap(Host& h, const std::string& path);
void filesystem(Host& h, const std::string& fs, const std::string& path);
Step swap_step(Host& h, const std::string& path);
Step filesystem_step(Host& h, const std::string& fs, const std::string& path);  // refuses fs outside SUPPORTED_FS

}  // namespace onestor::mkfs
