// Every number onestor reads from outside -- XML fields of oned's documents, argv words,
// settings -- goes through one parser, which checks the range of what the number means
// before any arithmetic is done with it (a size shifted into bytes, an id narrowed to int).
//
// The syntax is strict, because oned writes numbers one way (printf "%d"/"%lld") and any
// other spelling is a sign of a hand-made or hostile document:
//   - decimal digits only: no hex ("0x10"), no exponent, no thousands separators;
//   - a leading '-' only when the range admits negatives; never a leading '+';
//   - no whitespace anywhere (" 1", "1\n"), no empty text;
//   - no leading zeros ("007", "-0"): "0" is the only number that starts with 0.
// A number outside [min, max] is refused, never clamped or wrapped.
#pragma once
#include <climits>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace onestor {

// oned's ids (image, VM, datastore, cluster, user, group, disk, snapshot) are C ints.
constexpr long long kMaxId = INT32_MAX;
// The largest size in MiB accepted anywhere: 2^40 MiB = 1 EiB. `size << 20` is then at most
// 2^60 bytes, so it fits off_t (2^63 - 1) with room for sums of a few sizes, and it is above
// what any filesystem or volume group oned could report (ext4: 16 TiB files; XFS: 8 EiB
// but no device that large exists). qemu-img, mkfs and lvcreate get the same bound.
constexpr long long kMaxSizeMb = 1LL << 40;

// The number `text` spells, when it is one (the syntax above) and lies in [min, max].
std::optional<long long> to_number(std::string_view text, long long min, long long max);

// The same, or a DriverError "<what> must be an integer from <min> to <max>, not '<text>'".
long long parse_number(std::string_view text, long long min, long long max, const std::string& what);

}  // namespace onestor
