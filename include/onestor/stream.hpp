// The sparse-aware transfer stream ("onestor send" | ssh | "onestor receive"): a file or a
// whole directory tree (VM directories, disk.N.snap/) as records, where only allocated,
// non-zero extents travel (found with SEEK_DATA/SEEK_HOLE, never by reading holes) and the
// receiver recreates the holes. The stream ends with the XXH3-128 of everything before it;
// the receiver writes under a temporary name beside the target, checks that hash, fsyncs,
// and only then renames onto the target. A truncated or corrupted stream leaves nothing
// under the final name.
#pragma once
#include <cstdint>
#include <string>

namespace onestor::stream {

struct Stats {
    uint64_t files = 0, data = 0, size = 0;  // regular files, bytes of data sent, apparent bytes
};

// Writes the tree at `path` to `fd`. limit_bps > 0 caps the rate (bytes of stream per second).
Stats send(const std::string& path, int fd, uint64_t limit_bps = 0);

// Reads a stream from `fd` and places it at `dst` (replacing what is there only when the
// whole stream arrived intact). Returns what it received.
Stats receive(int fd, const std::string& dst);

// "123", "10M", "1G" (bytes per second, K/M/G binary multiples) -> bytes; 0 for "".
uint64_t parse_rate(const std::string& text);

}  // namespace onestor::stream
