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

// Progress of a long copy: logs "<what>: N of M MiB" at most every few seconds.
class Progress {
public:
    Progress(std::string what, unsigned long long total_bytes);
    void advance(unsigned long long bytes);
    void done();

private:
    std::string what_;
    unsigned long long total_, done_ = 0;
    double last_ = 0;
};

}  // namespace onestor::log
