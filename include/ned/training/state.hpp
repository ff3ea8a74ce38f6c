#pragma once
// The training state both trainers share: the job they run in, rank 0's weights and optimiser state copied to
// every rank, the divergence check of the weights and Adam moments before a checkpoint, epoch file names, and
// checkpoints whose files are written together or not at all.
#include <torch/torch.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ned/core/adam.hpp"
#include "ned/dist/dist.hpp"

namespace ned::training {

/// The job of a run: the given data-parallel context, or a single process when null.
std::shared_ptr<dist::Context> job(const std::shared_ptr<dist::Context>& given);

/// Rank 0's value on every rank (`value` of the other ranks is ignored): a decision only rank 0 can take.
int64_t rank0_value(dist::Context& ctx, int64_t value);

/// Identical initial weights and optimiser state on every rank, rank 0's (fault point "train.broadcast"): the
/// parameters and buffers of `modules`, the Adam moments of `adams`, then one float64 tensor of the Adam step
/// counts (in `adams`' order) followed by `scalars` (e.g. learning rates), which are updated in place. Call it on
/// every rank, with world > 1 only.
void broadcast_state(dist::Context& ctx, const std::vector<torch::nn::Module*>& modules,
                     const std::vector<Adam*>& adams, std::vector<double>& scalars);

/// The first parameter ("weight <name>") or Adam moment ("an Adam moment") of `adams` that holds a NaN or an
/// infinity, in `adams`' order; empty when all are finite.
std::string first_non_finite(const std::vector<Adam*>& adams);

/// "epoch_07" + suffix: the name of an epoch's file (1-based epoch, at least two digits).
std::string epoch_file(int epoch, const std::string& suffix);

/// Run `write`, which writes `files`; when it throws, every one of them is removed before the exception goes on,
/// so that a checkpoint of several files is complete or absent (a full disk leaves no half epoch).
void write_together(const std::vector<std::filesystem::path>& files, const std::function<void()>& write);

}  // namespace ned::training
