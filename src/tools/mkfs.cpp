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

void swap(Host& h, const std::string& path) {
    Argv a = config().get_words("MKSWAP");
    a.insert(a.end(), {"-L", "swap", path});
    h.run(a, {.timeout_s = 300, .what = "cannot make swap on " + quoted(h.label(path))});
}

void filesystem(Host& h, const std::string& fs, const std::string& path) {
    check(fs);
    Argv a = {"mkfs." + fs};
    // Forced: the target is a file or a fresh volume, never a mounted filesystem.
    if (fs == "xfs")
        a.insert(a.end(), {"-f", "-q"});
    else if (fs.rfind("ext", 0) == 0)
        a.insert(a.end(), {"-F", "-q"});
    for (const auto& o : config().get_words_or_empty("FS_OPTS_" + fs)) a.push_back(o);
    a.push_back(path);
    h.run(a, {.timeout_s = 600, .what = "cannot make a " + fs + " filesystem on " + quoted(h.label(path))});
}

}  // namespace onestor::mkfs
