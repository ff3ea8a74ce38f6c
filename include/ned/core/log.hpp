#pragma once
// Logging: one spdlog logger named "ned" writing to stderr (and optionally a file), configured once by
// the CLI. Library code uses the NED_LOG_* macros; messages start with their stage, e.g. "[crop] ...".
#include <spdlog/spdlog.h>

#include <string>

namespace ned::log {

enum class Level { Trace, Debug, Info, Warn, Error, Off };

/// Configure the global "ned" logger. verbosity: -1 quiet (warnings+), 0 info, 1 debug, 2 trace.
void setup(int verbosity, const std::string& log_file = {});
/// The "ned" logger (created on first use with default settings if setup() was not called).
spdlog::logger& get();

}  // namespace ned::log

#define NED_LOG_TRACE(...) ::ned::log::get().trace(__VA_ARGS__)
#define NED_LOG_DEBUG(...) ::ned::log::get().debug(__VA_ARGS__)
#define NED_LOG_INFO(...) ::ned::log::get().info(__VA_ARGS__)
#define NED_LOG_WARN(...) ::ned::log::get().warn(__VA_ARGS__)
#define NED_LOG_ERROR(...) ::ned::log::get().error(__VA_ARGS__)
