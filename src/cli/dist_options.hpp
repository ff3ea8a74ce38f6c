#pragma once
// Shared options of the training commands for data-parallel runs (ned/dist/dist.hpp): --dist-backend and
// --dist-timeout, and the context made from the launcher's environment (RANK/WORLD_SIZE/... or SLURM_*).
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "ned/dist/dist.hpp"

namespace ned::cli {

struct DistCliOptions {
    dist::Backend backend = dist::Backend::Auto;
    double timeout_s = 300;
    double bucket_mb = 25;  ///< gradient all-reduce bucket size (DDP's bucket_cap_mb)
};

/// Adds --dist-backend, --dist-timeout and --dist-bucket-mb to `sub` (group "Distributed"); the numbers must be
/// finite and in range (finite_range: NaN passed CLI::Range).
void add_dist_options(CLI::App* sub, DistCliOptions& o);

/// The job context from the environment; with several ranks `device` ("auto", "cpu", "cuda") is turned into
/// this rank's device ("cuda:LOCAL_RANK" when CUDA is used) and non-zero ranks log warnings only. LibTorch's own
/// c10d/Gloo log lines are let through only with -v (dist::Options::backend_logs).
std::shared_ptr<dist::Context> make_dist_context(const DistCliOptions& o, std::string& device);

}  // namespace ned::cli
