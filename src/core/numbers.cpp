#include "onestor/numbers.hpp"

#include "onestor/error.hpp"

#include <charconv>

namespace onestor {

std::optional<long long> to_number(std::string_view text, long long min, long long max) {
    std::string_view digits = text;
    if (!digits.empty() && digits[0] == '-') {
        if (min >= 0) return std::nullopt;
        digits.remove_prefix(1);
    }
    if (digits.empty() || (digits[0] == '0' && (digits.size() > 1 || digits.size() < text.size()))) return std::nullopt;
    for (char c : digits)
        if (c < '0' || c > '9') return std::nullopt;
    long long n = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n, 10);
    if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;  // beyond long long
    if (n < min || n > max) return std::nullopt;
    return n;
}

long long parse_number(std::string_view text, long long min, long long max, const std::string& what) {
    if (auto n = to_number(text, min, max)) return *n;
    // A hostile number may be long: the message quotes its start only.
    std::string shown(text.substr(0, 40));
    if (text.size() > 40) shown += "...";
    throw DriverError(what + " must be an integer from " + std::to_string(min) + " to " + std::to_string(max) + ", not " +
                      quoted(shown));
}

bool numeric_name(std::string_view n) {
    return !n.empty() && n.size() < 10 && n.find_first_not_of("0123456789") == std::string::npos;
}

}  // namespace onestor
