// Typed wrappers over qemu-img, run on a Host from argv vectors.
#pragma once
#include "onestor/host.hpp"

#include <string>

namespace onestor::qemu {

struct ImageInfo {
    std::string format;              // "raw", "qcow2", ...
    unsigned long long virtual_size = 0;
    std::string backing_file, backing_format, data_file;
};

// `qemu-img info --output=json [-f FMT] PATH` parsed. An empty `format` lets qemu-img probe.
ImageInfo info(Host& h, const std::string& path, const std::string& format = "");
// Parses that JSON (a sample sits beside the parser in qemu.cpp).
ImageInfo parse_info(const std::string& json);

// Creates an image of size_mb MiB in `format` (raw | qcow2) at `path` on h.
void create(Host& h, const std::string& format, const std::string& path, unsigned long long size_mb);
void resize(Host& h, const std::string& format, const std::string& path, unsigned long long size_mb);
void convert(Host& h, const std::string& in_format, const std::string& in, const std::string& out_format,
             const std::string& out);

}  // namespace onestor::qemu
