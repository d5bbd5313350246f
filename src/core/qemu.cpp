#include "onestor/qemu.hpp"

#include "onestor/config.hpp"
#include "onestor/error.hpp"

#include <nlohmann/json.hpp>

namespace onestor::qemu {

// Sample of `qemu-img info --output=json` (qemu 7.2):
// {
//     "virtual-size": 1073741824, "filename": "disk.0", "cluster-size": 65536,
//     "format": "qcow2", "actual-size": 200704, "backing-filename": "/var/lib/one/datastores/1/abc",
//     "full-backing-filename": "/var/lib/one/datastores/1/abc", "backing-filename-format": "raw",
//     "format-specific": {"type": "qcow2", "data": {"compat": "1.1", "data-file": "x", ...}},
//     "dirty-flag": false
// }
ImageInfo parse_info(const std::string& text) {
    ImageInfo i;
    try {
        auto j = nlohmann::json::parse(text);
        i.format = j.value("format", "");
        i.virtual_size = j.value("virtual-size", 0ull);
        i.backing_file = j.value("backing-filename", "");
        i.backing_format = j.value("backing-filename-format", "");
        if (j.contains("format-specific") && j["format-specific"].contains("data"))
            i.data_file = j["format-specific"]["data"].value("data-file", "");
    } catch (const nlohmann::json::exception& e) {
        throw DriverError(std::string("cannot read qemu-img info output: ") + e.what());
    }
    if (i.format.empty()) throw DriverError("qemu-img info reported no format");
    return i;
}

ImageInfo info(Host& h, const std::string& path, const std::string& format) {
    Argv a = config().get_words("QEMU_IMG");
    a.insert(a.end(), {"info", "--output=json", "-U"});
    if (!format.empty()) a.insert(a.end(), {"-f", format});
    a.push_back(path);  // absolute (clean_path), so never taken for an option or a protocol
    return parse_info(h.run(a, {.timeout_s = 120, .what = "cannot read image " + quoted(h.label(path))}).out);
}

void create(Host& h, const std::string& format, const std::string& path, unsigned long long size_mb) {
    Argv a = config().get_words("QEMU_IMG");
    a.insert(a.end(), {"create", "-q", "-f", format, path, std::to_string(size_mb) + "M"});
    h.run(a, {.timeout_s = 300, .what = "cannot create image " + quoted(h.label(path))});
}

void resize(Host& h, const std::string& format, const std::string& path, unsigned long long size_mb) {
    Argv a = config().get_words("QEMU_IMG");
    a.insert(a.end(), {"resize", "-q", "-f", format, path, std::to_string(size_mb) + "M"});
    h.run(a, {.timeout_s = 300, .what = "cannot resize image " + quoted(h.label(path))});
}

void convert(Host& h, const std::string& in_format, const std::string& in, const std::string& out_format,
             const std::string& out) {
    Argv a = config().get_words("QEMU_IMG");
    a.insert(a.end(), {"convert", "-q", "-f", in_format, "-O", out_format, in, out});
    h.run(a, {.timeout_s = static_cast<int>(config().get_int("COPY_TIMEOUT")),
              .what = "cannot convert image " + quoted(h.label(in))});
}

}  // namespace onestor::qemu
