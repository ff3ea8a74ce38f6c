#pragma once
// Training of the emotion manipulator (foivospar/NED manipulator/train.py): StarGAN-v2 over windows of
// [jaw, exp50] with LSGAN, style reconstruction, cycle and Pearson mouth losses; two D steps (latent,
// reference) and two G steps (latent: G+M+E, reference: G only) per iteration; Adam betas (0, 0.99).
#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "ned/core/progress.hpp"
#include "ned/dist/dist.hpp"
#include "ned/manip/networks.hpp"

namespace ned::manip {

// ---- losses ----------------------------------------------------------------------------------------
/// LSGAN: mean((logits - target)^2), target 0 or 1.
torch::Tensor adv_loss(const torch::Tensor& logits, int target);
/// Batch mean of the Pearson correlation over time between the jaw channels x[:,:,0] of a and b
/// (NED: rsqrt of the variances, no epsilon).
torch::Tensor jaw_correlation(const torch::Tensor& a, const torch::Tensor& b);
/// NED's mouth term as it enters the G loss: -(corr(real, fake) + corr(fake, rec)); -2 when all three jaw
/// tracks are identical (up to affine maps with positive slope).
torch::Tensor mouth_loss(const torch::Tensor& x_real, const torch::Tensor& x_fake, const torch::Tensor& x_rec);

struct LossWeights {
    double sty = 1, cyc = 1, mouth = 1;
};
struct DLosses {
    torch::Tensor total;
    double real = 0, fake = 0;
};
struct GLosses {
    torch::Tensor total;
    double adv = 0, sty = 0, cyc = 0, mouth = 0;  ///< mouth = corr_f + corr_b (as NED logs it)
};
/// compute_d_loss: exactly one of z_trg / x_ref is defined.
DLosses d_loss(Nets& nets, const torch::Tensor& x_real, const torch::Tensor& y_org, const torch::Tensor& y_trg,
               const torch::Tensor& z_trg, const torch::Tensor& x_ref);
/// compute_g_loss: exactly one of z_trg / x_ref is defined.
GLosses g_loss(Nets& nets, const LossWeights& w, const torch::Tensor& x_real, const torch::Tensor& y_org,
               const torch::Tensor& y_trg, const torch::Tensor& z_trg, const torch::Tensor& x_ref);

// ---- data ------------------------------------------------------------------------------------------
struct LabeledFile {
    std::string path;
    int label = 0;
};
/// DATASET/<emotion>/*.safetensors (folders with other names are skipped with a warning) or a CSV
/// manifest "path,emotion" (relative paths are relative to the manifest; optional header line; '#'
/// comments). Sorted by path. InputError when nothing usable is found.
std::vector<LabeledFile> list_dataset(const std::string& dataset);

/// All windows of 10 consecutive valid frames (hop 1) of the given reconstruction files.
struct WindowSet {
    torch::Tensor frames;         ///< [F,51] CPU float
    std::vector<int64_t> starts;  ///< first row of each window in `frames`
    std::vector<int64_t> labels;  ///< label of each window
    int64_t size() const { return static_cast<int64_t>(starts.size()); }
    /// Windows idx -> [B,10,51], labels -> [B] (CPU).
    torch::Tensor windows(const std::vector<int64_t>& idx) const;
    torch::Tensor label_tensor(const std::vector<int64_t>& idx) const;
};
WindowSet load_windows(const std::vector<LabeledFile>& files);

// ---- training --------------------------------------------------------------------------------------
struct TrainOptions {
    std::string dataset;      ///< folder or CSV manifest (see list_dataset)
    std::string out_dir;      ///< checkpoints, losses.jsonl (created if missing; its parent must exist)
    int epochs = 20;          ///< NED --niter
    int decay_epochs = 10;    ///< NED --niter_decay: linear decay to 0 over the last epochs
    int iters_per_epoch = 0;  ///< 0 = ceil(train windows / batch), as NED's len(loader)
    int batch_size = 64;
    double lr = 1e-4, f_lr = 1e-4, beta1 = 0.0, beta2 = 0.99;
    LossWeights lambdas;
    double val_fraction = 0.1;  ///< share of files held out for validation losses (seeded)
    uint64_t seed = 777;
    bool resume = false;    ///< continue from the last complete epoch in out_dir
    std::string init_from;  ///< checkpoint to fine-tune from (e.g. Aff-Wild2 -> MEAD)
    std::string device = "cpu";
    bool overwrite = false;  ///< allow existing checkpoints in out_dir to be replaced
    NetConfig net;           ///< widths (NED's by default)
    ProgressFn progress;     ///< (iteration, total iterations of this run)
    /// Data-parallel job (null = one process). Each rank trains on batch_size windows per iteration: the
    /// global batch is world * batch_size, drawn from the same seeded stream on every rank and split by rank,
    /// so N ranks x batch b follow the same trajectory as 1 process x batch N*b (up to float rounding).
    /// Rank 0 alone loads --init-from / --resume files (and broadcasts), validates, and writes out_dir.
    std::shared_ptr<dist::Context> dist;
    /// With several ranks: sum the gradients over the ranks while the backward pass runs (dist::GradReducer,
    /// buckets of dist::Options::bucket_bytes), or, when false, after it (Context::average_gradients; for checks:
    /// both give the same weights, bit for bit with two ranks).
    bool overlap_reduce = true;

    /// Every number in its range, resume without init_from: OptionError (exit 2) naming the field and the value.
    void validate() const;
};

struct EpochLosses {
    int epoch = 0;  ///< 1-based
    double lr = 0;
    double train_d = 0, train_g = 0;  ///< mean total D and G losses (latent + reference)
    double val_d = NAN, val_g = NAN;  ///< same on the held-out windows (NaN without them)
    double val_adv = NAN, val_sty = NAN, val_cyc = NAN, val_mouth = NAN;  ///< G components (latent + ref)/2
};
struct TrainResult {
    std::string checkpoint;           ///< out_dir/manipulator.safetensors
    std::vector<EpochLosses> epochs;  ///< epochs run by this call
    /// This rank's gradient all-reduces over the run, of the D steps and of the G steps (the G+M+E and the G
    /// reducers together: each counts the other's steps' gradients of G as hooks outside its step); zero with
    /// one process or overlap_reduce false.
    dist::GradReducer::Stats reduce_d, reduce_g;
};

/// Checkpoints in out_dir: epoch_NN.safetensors (networks, metadata epoch/seed/lr) every epoch,
/// epoch_NN.optim.safetensors (Adam moments "optim.<net>.<param>.exp_avg|exp_avg_sq", steps and learning
/// rates in metadata; only the latest is kept), manipulator.safetensors (the latest networks) and
/// losses.jsonl (one JSON object per epoch). Same seed -> same weights bit for bit on CPU with 1 thread.
/// With `dist`, only rank 0 writes; --resume may use a different number of ranks.
TrainResult train_manipulator(const TrainOptions& opts);

}  // namespace ned::manip
