#pragma once
// One training window of `ned train-renderer` (private to ned_renderer; train_step.cpp): the networks, optimisers
// and reducers of a run, the frames of a step, the losses of a window and the fp16 loss scale. Torch-only (part of
// the NED_NETS_ONLY layer); the footage and its sampling, which need OpenCV, are in train_internal.hpp.
#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "ned/core/adam.hpp"
#include "ned/dist/dist.hpp"
#include "ned/renderer/losses.hpp"
#include "ned/renderer/networks.hpp"

namespace ned::renderer::train_detail {

/// One frame of a clip as the networks take it (train_internal.hpp's load_frame makes it from the footage).
struct FrameData {
    torch::Tensor cond;  ///< [9,S,S] in [0,1]: NMFC, eyes, shape
    torch::Tensor real;  ///< [3,S,S] in [-1,1]
    torch::Tensor mask;  ///< [1,S,S] 0/1
    std::pair<int, int> mouth;
};

/// The clips of one rank for one step (train_internal.hpp's sample_clips draws them).
struct Clips {
    std::vector<std::vector<FrameData>> clips;  ///< [this rank's items][L frames]
    size_t length = 0;                          ///< L
};

constexpr int kNumLosses = 9;
/// The names of the 9 loss terms, in train_window's order (the log, train.json, state.safetensors).
extern const char* const kLossNames[kNumLosses];

/// Dynamic loss scale of fp16 training (the rules of torch.cuda.amp.GradScaler): the loss is multiplied by
/// factor() before the backward pass; unscale() divides the (rank-summed) gradients by it and says whether all
/// are finite; update(): a step whose gradients overflowed is skipped and halves the scale, growth_interval
/// finite steps in a row double it. Disabled (fp32, bf16: bf16 has float32's exponent range): factor 1, no check.
struct LossScaler {
    bool enabled = false;
    double scale = 65536.0;
    int64_t good = 0;  ///< finite steps since the last change
    int64_t growth_interval = 2000;
    double factor() const { return enabled ? scale : 1.0; }
    bool unscale(const std::vector<torch::Tensor>& params) const;
    void update(bool finite);
};

/// The networks, optimisers and reducers of a run.
struct Trainer {
    Generator G{nullptr};
    MultiscaleDiscriminator D{nullptr}, Dm{nullptr};
    Vgg19Features vgg{nullptr};
    std::unique_ptr<Adam> optG, optD;
    std::unique_ptr<dist::GradReducer> redG, redD;
    torch::Device device{torch::kCPU};
    /// Type of the forward and backward passes: float32, or bf16/fp16 for mixed precision (the parameters and
    /// the optimiser stay float32; each convolution casts its weights; instance norm and losses in float32).
    torch::ScalarType compute = torch::kFloat;
    LossScaler scaleG, scaleD;  ///< fp16 only
};

/// NED's optimisers for G and for D + Dm (Adam, betas 0.5 and 0.999) with learning rate `lr`, over the parameters
/// under their checkpoint names ("generator.", "discriminator.", "mouth_discriminator.").
void make_optimisers(Trainer& tr, double lr);
/// The gradient sums over the ranks of `ctx` for the optimisers' parameters (make_optimisers first).
void make_reducers(Trainer& tr, const std::shared_ptr<dist::Context>& ctx);

/// The losses of one window (generated frames [w0, w0 + window) of every clip, `prev` updated with the detached
/// outputs), in float32: the 9 terms, the G loss and the D + Dm loss.
struct WindowLosses {
    torch::Tensor terms[kNumLosses];
    torch::Tensor loss_g, loss_d;
};
WindowLosses window_losses(Trainer& tr, const Clips& c, size_t w0, size_t window, torch::Tensor& prev, int S);

/// One window: generate frames [w0, w0 + window) of every clip (feeding back the detached outputs in `prev`),
/// one G step then one D + Dm step, the gradients summed over the ranks with weight `share` (this rank's part
/// of the global batch). Returns the 9 loss terms (global means). A rank without clips passes empty ones.
std::array<double, kNumLosses> train_window(Trainer& tr, const Clips& c, size_t w0, size_t window, torch::Tensor& prev,
                                            double share, int S);

}  // namespace ned::renderer::train_detail
