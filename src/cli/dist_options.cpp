#include "dist_options.hpp"

#include <algorithm>
#include <cmath>

#include "ned/core/error.hpp"
#include "ned/core/log.hpp"
#include "ned/core/torch_util.hpp"
#include "command.hpp"
#include "environment.hpp"

namespace ned::cli {

void add_dist_options(CLI::App* sub, DistCliOptions& o) {
    const std::string g =
        "Distributed (several processes: torchrun-style RANK/WORLD_SIZE/... or Slurm SLURM_* "
        "environment; see docs/cluster.md)";
    static const std::vector<std::pair<std::string, dist::Backend>> backends = {
        {"auto", dist::Backend::Auto}, {"gloo", dist::Backend::Gloo}, {"nccl", dist::Backend::Nccl}};
    bind_enum(
        sub->add_option("--dist-backend", o.backend, "auto (NCCL when every rank has a GPU, else Gloo), gloo or nccl"),
        backends, o.backend)
        ->group(g);
    sub->add_option("--dist-timeout", o.timeout_s,
                    "Seconds a rank waits for the others (rendezvous, each collective) before the job stops with an "
                    "error naming the rank that stopped")
        ->check(finite_range(1.0, 86400.0))
        ->capture_default_str()
        ->group(g);
    sub->add_option("--dist-bucket-mb", o.bucket_mb,
                    "Size of the gradient buckets whose all-reduce starts while the backward pass goes on (MiB, as "
                    "PyTorch DDP's bucket_cap_mb)")
        ->check(finite_range(1e-6, 1024.0))
        ->capture_default_str()
        ->group(g);
    map_fields(sub, {{"Options::backend", "--dist-backend"},
                     {"Options::timeout", "--dist-timeout"},
                     {"Options::bucket_bytes", "--dist-bucket-mb"}});
}

std::shared_ptr<dist::Context> make_dist_context(const DistCliOptions& o, std::string& device) {
    const Environment& process_env = environment();
    const dist::Env env = dist::detect_env(process_env.rendezvous);
    if (!env.distributed()) return dist::Context::single();
    ignore_sigpipe();
    torch::Device dev = resolve_device(device);
    if (dev.is_cuda()) {
        dev = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(env.local_rank));
        device = "cuda:" + std::to_string(env.local_rank);
    } else {
        device = "cpu";
    }
    dist::Options opts;
    // c10d's and Gloo's own log lines (a missing peer: "[W socket.cpp...] [c10d] ...") only with -v
    opts.backend_logs = log::get().level() <= spdlog::level::debug;
    opts.user_log_level = process_env.torch_log_level;
    opts.gloo_interface = process_env.gloo_interface;
    if (env.rank != 0 && log::get().level() < spdlog::level::warn) log::get().set_level(spdlog::level::warn);
    opts.backend = o.backend;
    opts.timeout = std::chrono::milliseconds(static_cast<int64_t>(std::llround(o.timeout_s * 1000)));
    opts.bucket_bytes = static_cast<size_t>(std::max(1.0, std::round(o.bucket_mb * 1024 * 1024)));
    return dist::Context::create(env, opts, dev);
}

}  // namespace ned::cli
