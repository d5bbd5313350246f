#include "onestor/qemu.hpp"

#include "onestor/config.hpp"
#include "onestor/error.hpp"
#include "onestor/paths.hpp"
#include "onestor/scripts.hpp"

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
namespace {
// A byte count only: get<unsigned long long> of a float (1e79, found by the qemu_info fuzz
// target) is undefined behaviour, and a negative integer would wrap to a huge size.
unsigned long long virtual_size(const nlohmann::json& j) {
    auto it = j.find("virtual-size");
    if (it == j.end()) return 0;
    if (!it->is_number_unsigned()) throw DriverError("qemu-img info reported a virtual size that is not a byte count");
    return it->get<unsigned long long>();
}

ImageInfo from_json(const nlohmann::json& j) {
    ImageInfo i;
    i.filename = j.value("filename", "");
    i.format = j.value("format", "");
    i.virtual_size = virtual_size(j);
    i.backing_file = j.value("backing-filename", "");
    i.full_backing_file = j.value("full-backing-filename", "");
    i.backing_format = j.value("backing-filename-format", "");
    if (j.contains("format-specific") && j["format-specific"].contains("data"))
        i.data_file = j["format-specific"]["data"].value("data-file", "");
    return i;
}

// qemu-img parses untrusted bytes (an image a user imported, layers whose data a guest
// wrote): it is always told the format (-f), and runs under rlimits besides its time
// limit. Its I/O threads reserve address space (8 MiB of stack each, up to 64 of them;
// malloc arenas are capped at two under a limit): convert failed to start one under 512 MiB,
// and `info --backing-chain` of a deep chain on a loaded machine aborted under 1 GiB. So
// reading headers (info, create, rebase -u, resize) gets 2 GiB and 30 s of CPU; moving data
// (convert, rebase) 4 GiB and 4 h of CPU (honest conversions measured here use ~0.6 CPU s
// per GiB; COPY_TIMEOUT bounds the wall time). A crafted image that makes it allocate or
// spin without end is stopped there.
constexpr Limits kHeaderLimits{2ull << 30, 30};

// A format for -f: never empty (qemu-img would probe).
const std::string& named(const std::string& format) {
    if (format.empty()) throw DriverError("internal error: qemu-img without an image format");
    return format;
}

Argv qemu_img(const Argv& args) {
    Argv a = config().get_words("QEMU_IMG");
    a.insert(a.end(), args.begin(), args.end());
    return a;
}
}  // namespace

Limits data_limits() { return {4ull << 30, 4 * 3600}; }

namespace {
// qemu-img info's JSON, one image or (--backing-chain) a list of them.
template <class Read>
auto read_json(const std::string& text, Read read) {
    try {
        return read(nlohmann::json::parse(text));
    } catch (const nlohmann::json::exception& e) {
        throw DriverError(std::string("cannot read qemu-img info output: ") + e.what());
    }
}
}  // namespace

std::vector<ImageInfo> parse_chain(const std::string& text) {
    return read_json(text, [](const nlohmann::json& j) {
        if (!j.is_array()) throw DriverError("qemu-img info --backing-chain did not give a list");
        std::vector<ImageInfo> out;
        for (const auto& e : j) out.push_back(from_json(e));
        return out;
    });
}

Step chain_step(Host& h, const std::string& path, const std::string& format) {
    Argv a = qemu_img({"info", "--output=json", "--backing-chain", "-U", "-f", named(format), path});
    return h.ask_step(a, "cannot read the backing chain of " + quoted(h.label(path)), 120, kHeaderLimits);
}

std::vector<ImageInfo> chain(Host& h, const std::string& path, const std::string& format) {
    return parse_chain(h.batch({chain_step(h, path, format)}).front());
}

namespace {
// A null device stands in for any external data file, so the file the header names is
// never opened (qemu-img before the CVE-2024-4467 fix opened it even for `info`).
Argv header_info(const std::string& path, const std::string& declared, bool plain) {
    if (plain) return qemu_img({"info", "--output=json", "-U", "-f", declared, path});
    std::string file;
    for (char ch : path) file += ch == ',' ? std::string(",,") : std::string(1, ch);
    return qemu_img({"info", "--output=json", "-U", "--image-opts",
                     "driver=qcow2,file.driver=file,file.filename=" + file + ",data-file.driver=null-co"});
}
}  // namespace

Step validate_step(Host& h, const std::string& path, const std::string& declared) {
    if (declared != "raw" && declared != "qcow2") throw DriverError("unsupported image format " + quoted(declared));
    Argv a = {"sh", "-c", scripts::kAnswer, "sh"};
    for (auto& w : header_info(path, declared, declared == "raw")) a.push_back(std::move(w));
    return h.ask_step(a, "cannot read image " + quoted(h.label(path)), 120, kHeaderLimits);
}

ImageInfo validate(Host& h, const std::string& path, const std::string& declared, const std::string& allowed_dir) {
    return validated(h, h.batch({validate_step(h, path, declared)})[0], path, declared, allowed_dir);
}

ImageInfo validated(Host& h, const std::string& answer, const std::string& path, const std::string& declared,
                    const std::string& allowed_dir) {
    Result r{0, answer, ""};
    if (size_t at = answer.find("\nexit "); at != std::string::npos) {  // (kAnswer's form of a failure)
        size_t nl = answer.find('\n', at + 1);
        r = {1, answer.substr(0, at), nl == std::string::npos ? "" : answer.substr(nl + 1)};
    }
    // Before the fix, qemu refuses that option for an image without a data file, and before
    // 4.0 (no data files at all) it knows no such option: those read the header plainly
    // (a second round trip, with such a qemu-img alone).
    if (declared == "qcow2" && r.status != 0 &&
        (r.err.find("can only be set for images with an external data file") != std::string::npos ||
         r.err.find("support the option 'data-file") != std::string::npos))
        r = h.run(header_info(path, declared, true), {.timeout_s = 120, .check = false, .limits = kHeaderLimits, .asks = true});
    if (r.status != 0) {
        // "qemu-img: Could not open '<the options>': Image is not in qcow2 format": the cause
        std::string why = failure_reason(r.err);
        const std::string open = "qemu-img: Could not open '";
        if (auto e = why.rfind("': "); why.rfind(open, 0) == 0 && e != std::string::npos && e >= open.size())
            why = why.substr(e + 3);
        if (why.find("No such file or directory") != std::string::npos)
            throw DriverError("image " + quoted(h.label(path)) + " is missing");
        throw DriverError("image " + quoted(h.label(path)) + " is not a valid " + declared + " image: " + why);
    }
    ImageInfo i = parse_info(r.out);
    auto inside = [&](const std::string& p) {
        if (allowed_dir.empty() || p.empty() || p[0] != '/') return false;
        try {
            return within(clean_path(p), allowed_dir);
        } catch (const DriverError&) {
            return false;
        }
    };
    std::string backing = i.full_backing_file.empty() ? i.backing_file : i.full_backing_file;
    if (!backing.empty() && !inside(backing))
        throw DriverError("image " + quoted(h.label(path)) +
                          " refers to a backing file outside its snapshot directory: " + onestor::quoted(backing));
    if (!i.data_file.empty()) {
        std::string df = i.data_file[0] == '/' ? i.data_file : join_path(dirname_of(path), i.data_file);
        if (!inside(df))
            throw DriverError("image " + quoted(h.label(path)) +
                              " has an external data file outside its snapshot directory: " + onestor::quoted(i.data_file));
    }
    return i;
}

Step overlay_step(Host& h, const std::string& backing, const std::string& backing_format, const std::string& path,
                  unsigned long long size) {
    Argv a = qemu_img({"create", "-q", "-f", "qcow2", "-F", backing_format, "-b", backing});
    if (size > 0) a.push_back("-u");  // the size is known: the backing chain is not opened again
    for (const auto& o : config().get_words_or_empty("QCOW2_OPTIONS")) a.push_back(o);
    a.push_back(path);
    if (size > 0) a.push_back(std::to_string(size));
    return h.run_step(a, "cannot create an overlay on " + quoted(h.label(backing)), 120, kHeaderLimits);
}

void create_overlay(Host& h, const std::string& backing, const std::string& backing_format, const std::string& path) {
    h.batch({overlay_step(h, backing, backing_format, path)});
}

Step rebase_step(Host& h, const std::string& path, const std::string& new_backing, const std::string& backing_format) {
    return h.run_step(qemu_img({"rebase", "-q", "-f", "qcow2", "-F", backing_format, "-b", new_backing, path}),
                      "cannot rebase " + quoted(h.label(path)), static_cast<int>(config().get_int("COPY_TIMEOUT")),
                      data_limits());
}

Step rebase_unsafe_step(Host& h, const std::string& path, const std::string& new_backing, const std::string& backing_format) {
    return h.run_step(qemu_img({"rebase", "-q", "-u", "-f", "qcow2", "-F", backing_format, "-b", new_backing, path}),
                      "cannot rebase " + quoted(h.label(path)), 120, kHeaderLimits);
}

ImageInfo parse_info(const std::string& text) {
    ImageInfo i = read_json(text, [](const nlohmann::json& j) { return from_json(j); });
    if (i.format.empty()) throw DriverError("qemu-img info reported no format");
    return i;
}

Step info_step(Host& h, const std::string& path, const std::string& format) {
    // (path: absolute (clean_path), so never taken for an option or a protocol)
    Argv a = qemu_img({"info", "--output=json", "-U", "-f", named(format), path});
    return h.ask_step(a, "cannot read image " + quoted(h.label(path)), 120, kHeaderLimits);
}

Step layers_step(Host& h, const std::string& dir, const std::string& format0) {
    Argv a = {"sh", "-c", scripts::kLayerHeaders, "sh", dir, named(format0)};
    for (auto& w : qemu_img({"info", "--output=json", "-U", "-f"})) a.push_back(std::move(w));
    return h.ask_step(a, "cannot read the layers of " + quoted(h.label(dir)), 300, kHeaderLimits);
}

std::map<long, ImageInfo> parse_layers(const std::string& out) {
    std::map<long, ImageInfo> layers;
    size_t at = 0;
    while (at < out.size()) {
        size_t nl = out.find('\n', at), end = out.find("\n\x1e\n", at);
        if (nl == std::string::npos || end == std::string::npos || end < nl) throw DriverError("the layer headers end early");
        std::string name = out.substr(at, nl - at);
        if (name.empty() || name.size() > 9 || name.find_first_not_of("0123456789") != std::string::npos)
            throw DriverError("the layer headers name no layer: " + quoted(name.substr(0, 40)));
        layers[std::stol(name)] = parse_info(out.substr(nl + 1, end - nl - 1));
        at = end + 3;
    }
    return layers;
}

Step create_step(Host& h, const std::string& format, const std::string& path, unsigned long long size_mb) {
    return h.run_step(qemu_img({"create", "-q", "-f", format, path, std::to_string(size_mb) + "M"}),
                      "cannot create image " + quoted(h.label(path)), 300, kHeaderLimits);
}

void create(Host& h, const std::string& format, const std::string& path, unsigned long long size_mb) {
    h.batch({create_step(h, format, path, size_mb)});
}

Step resize_step(Host& h, const std::string& format, const std::string& path, unsigned long long size_mb, bool thick) {
    Argv a = {"resize", "-q", "-f", format};
    if (thick) a.push_back("--preallocation=falloc");
    a.insert(a.end(), {path, std::to_string(size_mb) + "M"});
    return h.run_step(qemu_img(a), "cannot resize image " + quoted(h.label(path)), 300, kHeaderLimits);
}

void resize(Host& h, const std::string& format, const std::string& path, unsigned long long size_mb, bool thick) {
    h.batch({resize_step(h, format, path, size_mb, thick)});
}

Step convert_step(Host& h, const std::string& in_format, const std::string& in, const std::string& out_format,
                  const std::string& out, bool thick) {
    Argv a = {"convert", "-q", "-f", in_format, "-O", out_format};
    if (thick) a.insert(a.end(), {"-S", "0"});
    a.insert(a.end(), {in, out});
    return h.run_step(qemu_img(a), "cannot convert image " + quoted(h.label(in)),
                      static_cast<int>(config().get_int("COPY_TIMEOUT")), data_limits());
}

void convert(Host& h, const std::string& in_format, const std::string& in, const std::string& out_format,
             const std::string& out) {
    h.batch({convert_step(h, in_format, in, out_format, out)});
}

}  // namespace onestor::qemu
