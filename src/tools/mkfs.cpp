#include "onestor/mkfs.hpp"

#include "onestor/config.hpp"
#include "onestor/error.hpp"

#include <sstream>

namespace onestor::mkfs {

void check(const std::string& fs) {
    std::string list = config().get("SUPPORTED_FS");
    std::istringstream in(list);
    for (std::string w; std::getline(in, w, ',');)
        if (w == fs) return;
    throw DriverError("filesystem " + quoted(fs) + " is not in SUPPORTED_FS (" + list + ")");
}

Request volatile_disk(const std::string& format, const std::string& disk_fs) {
    if (format == "swap") return {"swap", ""};
    if (format == "raw" || format == "qcow2") {
        if (!disk_fs.empty()) check(disk_fs);
        return {format, disk_fs};
    }
    try {
        check(format);
    } catch (const DriverError&) {
        throw DriverError("unsupported volatile disk format " + quoted(format));
    }
    return {"raw", format};
}

Step swap_step(Host& h, const std::string& path) {
    Argv a = config().get_words("MKSWAP");
    a.insert(a.end(), {"-L", "swap", path});
    return h.run_step(a, "cannot make swap on " + quoted(h.label(path)), 300);
}

Step filesystem_step(Host& h, const std::string& fs, const std::string& path) {
    check(fs);
    Argv a = {"mkfs." + fs};
    // Forced: the target is a file or a fresh volume, never a mounted filesystem.
    if (fs == "xfs")
        a.insert(a.end(), {"-f", "-q"});
    else if (fs.rfind("ext", 0) == 0)
        a.insert(a.end(), {"-F", "-q"});
    for (const auto& o : config().get_words_or_empty("FS_OPTS_" + fs)) a.push_back(o);
    a.push_back(path);
    return h.run_step(a, "cannot make a " + fs + " filesystem on " + quoted(h.label(path)), 600);
}

void swap(Host& h, const std::string& path) { h.batch({swap_step(h, path)}); }

void filesystem(Host& h, const std::string& fs, const std::string& path) { h.batch({filesystem_step(h, fs, path)}); }

}  // namespace onestor::mkfs
