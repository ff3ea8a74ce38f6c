#include "ned/core/log.hpp"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <mutex>

#include "ned/core/error.hpp"

namespace ned::log {
namespace {
std::shared_ptr<spdlog::logger> g_logger;
std::mutex g_mutex;

std::shared_ptr<spdlog::logger> make_default() {
    auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    auto lg = std::make_shared<spdlog::logger>("ned", sink);
    lg->set_pattern("%^[%L]%$ %v");
    lg->set_level(spdlog::level::info);
    return lg;
}
}  // namespace

void setup(int verbosity, const std::string& log_file) {
    std::lock_guard<std::mutex> lock(g_mutex);
    std::vector<spdlog::sink_ptr> sinks;
    auto console = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    console->set_pattern("%^[%L]%$ %v");
    spdlog::level::level_enum lvl = spdlog::level::info;
    if (verbosity < 0) lvl = spdlog::level::warn;
    if (verbosity == 1) lvl = spdlog::level::debug;
    if (verbosity >= 2) lvl = spdlog::level::trace;
    console->set_level(lvl);
    sinks.push_back(console);
    if (!log_file.empty()) {
        std::shared_ptr<spdlog::sinks::basic_file_sink_mt> file;
        try {
            file = std::make_shared<spdlog::sinks::basic_file_sink_mt>(log_file, true);
        } catch (const std::exception& e) {
            throw InputError(cat("log file ", log_file, ": cannot open for writing (", e.what(), ")"));
        }
        file->set_pattern("%Y-%m-%d %H:%M:%S.%e [%l] %v");
        file->set_level(spdlog::level::trace);
        sinks.push_back(file);
    }
    auto lg = std::make_shared<spdlog::logger>("ned", sinks.begin(), sinks.end());
    lg->set_level(log_file.empty() ? lvl : spdlog::level::trace);
    lg->flush_on(spdlog::level::warn);
    g_logger = lg;
}

spdlog::logger& get() {
    std::lock_guard<std::mutex> lock(g_mutex);
    if (!g_logger) g_logger = make_default();
    return *g_logger;
}

}  // namespace ned::log
