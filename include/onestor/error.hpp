// The one error type of onestor. Anything may throw it; only main() catches it and turns
// it into the error block oned reads. `what()` is the one-line reason oned shows the
// user; `detail` is extra context for the log (a command's stderr, an errno text).
#pragma once
#include <stdexcept>
#include <string>

namespace onestor {

class DriverError : public std::runtime_error {
public:
    explicit DriverError(const std::string& reason, std::string detail = {})
        : std::runtime_error(reason), detail_(std::move(detail)) {}
    const std::string& detail() const { return detail_; }

private:
    std::string detail_;
};

// "<what> '<object>': <strerror(errno)>" — the errno-carrying variant used after syscalls.
[[noreturn]] void throw_errno(const std::string& what, const std::string& object);

// Names an object in single quotes, as every message does: 'host01:/var/lib/one/...'.
inline std::string quoted(const std::string& s) { return "'" + s + "'"; }

}  // namespace onestor
