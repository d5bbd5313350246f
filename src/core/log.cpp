#include "onestor/log.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>

namespace onestor::log {
namespace {

std::string g_action = "onestor";

spdlog::logger& logger() {
    static auto l = [] {
        auto lg = std::make_shared<spdlog::logger>("onestor",
                                                   std::make_shared<spdlog::sinks::stderr_sink_mt>());
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

void info(const std::string& msg) { logger().info("INFO: {}: {}", g_action, msg); }
void error(const std::string& msg) { logger().error("ERROR: {}: {}", g_action, msg); }
void debug(const std::string& msg) { logger().debug("DEBUG: {}: {}", g_action, msg); }

Progress::Progress(std::string what, unsigned long long total)
    : what_(std::move(what)), total_(total), last_(now()) {}

void Progress::advance(unsigned long long bytes) {
    done_ += bytes;
    double t = now();
    if (t - last_ >= 5.0) {
        last_ = t;
        info(fmt::format("{}: {} of {} MiB", what_, done_ >> 20, total_ >> 20));
    }
}

void Progress::done() {
    if (total_ >= (64ull << 20)) info(fmt::format("{}: done, {} MiB of data", what_, done_ >> 20));
}

}  // namespace onestor::log
