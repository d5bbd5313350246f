// Log lines on stderr, in the form OpenNebula's drivers forward to the VM log:
//   INFO: <action>: message     ERROR: <action>: message     DEBUG: <action>: message
// spdlog owns the sink (thread-safe, level filtering); we own the prefix.
#pragma once
#include <spdlog/fmt/fmt.h>
#include <string>

namespace onestor::log {

// The action name printed after the level; set once by main from the invocation.
void set_action(const std::string& action);
const std::string& action();
void set_debug(bool on);

void info(const std::string& msg);
void error(const std::string& msg);
void debug(const std::string& msg);

// Seconds between two progress lines (the PROGRESS_INTERVAL setting, default 5).
double progress_interval();

// "<what>: 12.0 MiB of 100.0 MiB, 5.0 MiB/s, ETA 18 s" (total 0: unknown, no ETA), the
// progress line of copies and downloads, after `seconds` of work.
std::string progress_line(const std::string& what, unsigned long long done, unsigned long long total, double seconds);

// Progress of a long copy: an INFO progress_line at most every progress_interval().
class Progress {
public:
    Progress(std::string what, unsigned long long total_bytes);
    void advance(unsigned long long bytes);
    void done();

private:
    std::string what_;
    unsigned long long total_, done_ = 0;
    double start_ = 0, last_ = 0, every_ = 5;
};

}  // namespace onestor::log
