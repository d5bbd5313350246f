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
// While on (a dry run: dry_run.hpp), info() says nothing: an action's INFO lines tell what it did.
void mute_info(bool on);
void error(const std::string& msg);
void debug(const std::string& msg);

// Seconds between two progress lines (the PROGRESS_INTERVAL setting, default 5).
double progress_interval();

// "<what>: 12.0 MiB of 100.0 MiB, 5.0 MiB/s, ETA 18 s" (total 0: unknown, no ETA), the
// progress line of copies and downloads, after `seconds` of work.
std::string progress_line(const std::string& what, unsigned long long done, unsigned long long total, double seconds);

// `onestor --progress ...`: progress shown as a bar rewritten in place on stderr, several
// times a second, when stderr is a terminal (oned's calls keep the INFO lines).
void set_live_progress(bool on);

// When a progress line is due and how it is shown: an INFO line at most every
// progress_interval(), or the live bar. One per copy or download.
class Ticker {
public:
    Ticker();
    ~Ticker();               // ends a live bar's line
    bool due();              // a line is due now (and the next interval starts)
    double elapsed() const;  // seconds since the start
    void show(const std::string& line, unsigned long long done, unsigned long long total);  // total 0: unknown
    void end();                                                                             // ends a live bar's line (idempotent)
    void last(const std::string& line, unsigned long long done, unsigned long long total);  // the bar's final state

private:
    double start_, last_, every_;
    bool live_, open_ = false;
};

// Progress of a long copy: progress_line through a Ticker.
class Progress {
public:
    Progress(std::string what, unsigned long long total_bytes);
    void advance(unsigned long long bytes);
    void done();

private:
    std::string what_;
    unsigned long long total_, done_ = 0;
    Ticker ticker_;
};

}  // namespace onestor::log
