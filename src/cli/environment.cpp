// Environment variables and process-wide settings of the `ned` binary (environment.hpp).
#include "environment.hpp"

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <thread>

#include "ned/core/fault.hpp"
#include "ned/dist/dist.hpp"
#include "ned/facenet/facenet.hpp"

namespace ned::cli {
namespace {

std::string var(const char* name) {
    const char* v = std::getenv(name);
    return v ? std::string(v) : std::string();
}

Environment read_environment() {
    Environment e;
    e.models_dir = var("NED_MODELS");
    e.open_models_dir = var("NED_OPEN_MODELS");
    for (const std::string& name : dist::rendezvous_variables())
        if (const char* v = std::getenv(name.c_str())) e.rendezvous[name] = v;
    e.gloo_interface = var("GLOO_SOCKET_IFNAME");
    e.torch_log_level = !var("TORCH_CPP_LOG_LEVEL").empty();
    e.fault_point = var("NED_FAULT_POINT");
    e.fault_stall = var("NED_FAULT_STALL");
    if (const std::string n = var("NED_TEST_INTERRUPT_RENDER_AFTER"); !n.empty())
        e.interrupt_render_after = std::atoll(n.c_str());
    if (const std::string s = var("NED_TEST_INTERRUPT_SIGNAL"); !s.empty()) e.interrupt_signal = std::atoi(s.c_str());
    return e;
}

}  // namespace

const Environment& environment() {
    static const Environment env = read_environment();
    return env;
}

void apply_environment(const Environment& env) {
    if (!env.open_models_dir.empty()) facenet::set_open_models_dir(env.open_models_dir);
    // Tests of failure handling: NED_FAULT_POINT=NAME kills this process (SIGKILL, no clean-up) when it reaches
    // ned::fault_point("NAME"), e.g. a data-parallel rank dying in a given phase; NED_FAULT_STALL=NAME:SECONDS makes
    // it busy there that long (a long phase without collectives); NED_TEST_INTERRUPT_RENDER_AFTER=N sends
    // NED_TEST_INTERRUPT_SIGNAL (default SIGTERM) to itself once the render pass has N frames on disk
    // (render.frames_done), as a user's Ctrl-C or a kill would.
    if (env.fault_point.empty() && env.fault_stall.empty() && env.interrupt_render_after < 0) return;
    const std::string kill_at = env.fault_point, stall_spec = env.fault_stall;
    const size_t colon = stall_spec.rfind(':');
    const std::string stall_at = stall_spec.substr(0, colon);
    const double stall_s = colon == std::string::npos ? 0 : std::atof(stall_spec.c_str() + colon + 1);
    const int64_t interrupt_after = env.interrupt_render_after;
    const int interrupt_signal = env.interrupt_signal;
    set_fault_handler([=](const char* name, int64_t count) {
        const std::string point = name;
        if (!kill_at.empty() && kill_at == point) ::raise(SIGKILL);
        if (!stall_at.empty() && stall_at == point) std::this_thread::sleep_for(std::chrono::duration<double>(stall_s));
        if (interrupt_after >= 0 && point == "render.frames_done" && count >= interrupt_after)
            std::raise(interrupt_signal);
    });
}

void ignore_sigpipe() { std::signal(SIGPIPE, SIG_IGN); }

}  // namespace ned::cli
