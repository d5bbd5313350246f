// Typed wrappers over qemu-img, run on a Host from argv vectors. The *_step forms are the
// same commands as steps of a Host::batch (several in one round trip); their output is
// parsed with parse_info / parse_chain.
#pragma once
#include "onestor/host.hpp"

#include <map>
#include <string>
#include <vector>

namespace onestor::qemu {

struct ImageInfo {
    std::string filename;
    std::string format;  // "raw", "qcow2", ...
    unsigned long long virtual_size = 0;
    std::string backing_file, backing_format, data_file;
    std::string full_backing_file;  // backing_file resolved against the image's directory
};

// Every command names the image's format (-f): qemu-img never probes one (an image a
// guest writes would choose how it is read; a probe follows the files an image names).
// `qemu-img info --output=json -f FMT PATH` (info_step), parsed by parse_info (a sample of
// the JSON sits beside the parser in qemu.cpp).
ImageInfo parse_info(const std::string& json);

// `qemu-img info --backing-chain -f FMT`: the image first, then each backing file down to
// the base (their formats as the layers above name them).
std::vector<ImageInfo> chain(Host& h, const std::string& path, const std::string& format);
std::vector<ImageInfo> parse_chain(const std::string& json);
Step chain_step(Host& h, const std::string& path, const std::string& format);
Step info_step(Host& h, const std::string& path, const std::string& format);
// The header of every layer of a snapshot directory (files named by digits; layer 0 read as
// `format0`, the others as qcow2), in one step; parse_layers gives them by layer.
Step layers_step(Host& h, const std::string& dir, const std::string& format0);
std::map<long, ImageInfo> parse_layers(const std::string& out);

// An untrusted image, opened with its declared format: refused when the format does not
// match, or when its backing file or external data file lies outside `allowed_dir`
// (its own snapshot directory; "" allows no backing file at all). An external data file is
// read from the header only, never opened (it could name a FIFO or /dev/watchdog).
ImageInfo validate(Host& h, const std::string& path, const std::string& declared_format, const std::string& allowed_dir);
// validate's question as a step, to be batched with others (it never fails the batch), and
// its answer checked as validate checks it.
Step validate_step(Host& h, const std::string& path, const std::string& declared_format);
ImageInfo validated(Host& h, const std::string& answer, const std::string& path, const std::string& declared_format,
                    const std::string& allowed_dir);

// qcow2 overlay at `path` on `backing` (whose format is given explicitly).
void create_overlay(Host& h, const std::string& backing, const std::string& backing_format, const std::string& path);
// With `size` (bytes: the backing's virtual size, from a chain just read and checked) the
// backing chain is not opened once more.
Step overlay_step(Host& h, const std::string& backing, const std::string& backing_format, const std::string& path,
                  unsigned long long size = 0);
// Safe rebase (copies whatever the new backing lacks): the image keeps its content.
Step rebase_step(Host& h, const std::string& path, const std::string& new_backing, const std::string& backing_format);
// Only the backing file name changes (the data already matches): qemu-img rebase -u.
Step rebase_unsafe_step(Host& h, const std::string& path, const std::string& new_backing, const std::string& backing_format);

// The rlimits of a qemu-img that moves an image's data (convert, rebase), for callers that
// build such a command themselves (qemu.cpp says why these values).
Limits data_limits();

// Creates an image of size_mb MiB in `format` (raw | qcow2) at `path` on h.
void create(Host& h, const std::string& format, const std::string& path, unsigned long long size_mb);
Step create_step(Host& h, const std::string& format, const std::string& path, unsigned long long size_mb);
// `thick`: the new space allocated too (--preallocation=falloc), for a disk with SPARSE=NO.
void resize(Host& h, const std::string& format, const std::string& path, unsigned long long size_mb, bool thick = false);
Step resize_step(Host& h, const std::string& format, const std::string& path, unsigned long long size_mb, bool thick = false);
void convert(Host& h, const std::string& in_format, const std::string& in, const std::string& out_format, const std::string& out);
// `thick`: every block written (-S 0: zeros are data, not holes), for a disk with SPARSE=NO.
Step convert_step(Host& h, const std::string& in_format, const std::string& in, const std::string& out_format,
                  const std::string& out, bool thick = false);

}  // namespace onestor::qemu
