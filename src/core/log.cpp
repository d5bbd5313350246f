#include "onestor/log.hpp"

#include "onestor/config.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>

namespace onestor::log {
namespace {

std::string g_action = "onestor";
bool g_live = false;

spdlog::logger& logger() {
    static auto l = [] {
        auto lg = std::make_shared<spdlog::logger>("onestor", std::make_shared<spdlog::sinks::stderr_sink_mt>());
        lg->set_pattern("%v");
        lg->set_level(spdlog::level::info);
        lg->flush_on(spdlog::level::trace);
        return lg;
    }();
    return *l;
}

double now() {
    using namespace std::chrono;
    return duration<double>(steady_clock::now().time_since_epoch()).count();
}

}  // namespace

void set_action(const std::string& action) { g_action = action; }
const std::string& action() { return g_action; }
void set_debug(bool on) { logger().set_level(on ? spdlog::level::debug : spdlog::level::info); }

std::atomic<bool> g_muted{false};
void mute_info(bool on) { g_muted = on; }
void info(const std::string& msg) {
    if (!g_muted) logger().info("INFO: {}: {}", g_action, msg);
}
void error(const std::string& msg) { logger().error("ERROR: {}: {}", g_action, msg); }
void debug(const std::string& msg) { logger().debug("DEBUG: {}: {}", g_action, msg); }

double progress_interval() {
    static const double every = static_cast<double>(std::clamp(config().get_int("PROGRESS_INTERVAL"), 1L, 3600L));
    return every;
}

std::string progress_line(const std::string& what, unsigned long long done, unsigned long long total, double seconds) {
    auto mib = [](unsigned long long b) { return static_cast<double>(b) / (1 << 20); };
    double rate = static_cast<double>(done) / std::max(0.001, seconds);
    std::string msg = fmt::format("{}: {:.1f} MiB", what, mib(done));
    if (total) msg += fmt::format(" of {:.1f} MiB", mib(total));
    msg += fmt::format(", {:.1f} MiB/s", mib(static_cast<unsigned long long>(rate)));
    if (total > done && rate > 0) msg += fmt::format(", ETA {:.0f} s", static_cast<double>(total - done) / rate);
    return msg;
}

void set_live_progress(bool on) { g_live = on && ::isatty(2); }

Ticker::Ticker() : start_(now()), last_(start_), every_(g_live ? 0.2 : progress_interval()), live_(g_live) {}
Ticker::~Ticker() { end(); }

bool Ticker::due() {
    double t = now();
    if (t - last_ < every_) return false;
    last_ = t;
    return true;
}

double Ticker::elapsed() const { return now() - start_; }

void Ticker::show(const std::string& line, unsigned long long done, unsigned long long total) {
    if (!live_) return info(line);
    constexpr int kWidth = 30;
    int filled = total ? static_cast<int>(std::min(done, total) * kWidth / total) : 0;
    std::string bar = total ? "[" + std::string(filled, '#') + std::string(kWidth - filled, '.') + "] " : "";
    std::fprintf(stderr, "\r%s%s\x1b[K", bar.c_str(), line.c_str());  // (erase what a longer line left)
    std::fflush(stderr);
    open_ = true;
}

void Ticker::last(const std::string& line, unsigned long long done, unsigned long long total) {
    if (live_) show(line, done, total);
    end();
}

void Ticker::end() {
    if (open_) std::fputc('\n', stderr);
    open_ = false;
}

Progress::Progress(std::string what, unsigned long long total) : what_(std::move(what)), total_(total) {}

void Progress::advance(unsigned long long bytes) {
    done_ += bytes;
    if (ticker_.due()) ticker_.show(progress_line(what_, done_, total_, ticker_.elapsed()), done_, total_);
}

void Progress::done() {
    if (total_ >= (64ull << 20)) {
        ticker_.last(progress_line(what_, done_, total_, ticker_.elapsed()), done_, total_);
        info(fmt::format("{}: done, {} MiB of data", what_, done_ >> 20));
    }
}

}  // namespace onestor::log
