#pragma once
// The one place where the `ned` binary reads its environment and changes process-wide settings (signal
// dispositions, fault handlers, library defaults). Libraries never call getenv, raise signals or exit: they take
// options, callbacks or fault points (ned/core/fault.hpp), and this file turns the environment into those.
// Every variable is listed in docs/cli.md, "Environment variables".
#include <csignal>
#include <cstdint>
#include <map>
#include <string>

namespace ned::cli {

struct Environment {
    std::string models_dir;       ///< NED_MODELS: the default of --models (translate, style)
    std::string open_models_dir;  ///< NED_OPEN_MODELS: the open face models (facenet::set_open_models_dir)
    std::map<std::string, std::string> rendezvous;  ///< dist::rendezvous_variables() that are set (WORLD_SIZE, ...)
    std::string gloo_interface;                     ///< GLOO_SOCKET_IFNAME (dist::Options::gloo_interface)
    bool torch_log_level = false;                   ///< TORCH_CPP_LOG_LEVEL is set (dist::Options::user_log_level)
    // Tests of failure handling (installed as the fault handler by apply_environment):
    std::string fault_point;              ///< NED_FAULT_POINT=NAME: SIGKILL at fault_point("NAME")
    std::string fault_stall;              ///< NED_FAULT_STALL=NAME:SECONDS: busy that long there
    int64_t interrupt_render_after = -1;  ///< NED_TEST_INTERRUPT_RENDER_AFTER=N: a signal once N frames are rendered
    int interrupt_signal = SIGTERM;       ///< NED_TEST_INTERRUPT_SIGNAL (a number, e.g. 9 for SIGKILL)
};

/// The process environment, read on the first call (by main) and kept.
const Environment& environment();
/// Called once by main before the command runs: sets facenet's open models folder and installs the fault handler
/// of the failure tests (ned/core/fault.hpp) when one of their variables is set.
void apply_environment(const Environment& env);
/// SIGPIPE ignored for the rest of the process: a data-parallel job's peer that dies closes its sockets, and
/// writing to them must fail with EPIPE (which ned::dist turns into an error naming the rank), not kill this
/// process (exit 141, no message). Called before a distributed context is created (only then: a single process
/// keeps the default, e.g. `ned probe ... | head` ends quietly).
void ignore_sigpipe();

}  // namespace ned::cli
