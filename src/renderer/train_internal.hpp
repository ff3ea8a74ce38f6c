#pragma once
// Pieces of `ned train-renderer` (private to ned_renderer): the prepared footage and its sampling
// (train_data.cpp), one training window (train_step.cpp); train.cpp runs the epochs.
#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <opencv2/core.hpp>

#include "ned/core/adam.hpp"
#include "ned/dist/dist.hpp"
#include "ned/renderer/losses.hpp"
#include "ned/renderer/networks.hpp"
#include "ned/renderer/train.hpp"

namespace ned::renderer::train_detail {

/// splitmix64 of a combination: independent random streams per (seed, epoch, position, ...).
uint64_t mix(uint64_t a, uint64_t b);

/// Aligned eye points of one frame (iBUG 36..41, 42..47 and the two pupils), truncated to int as NED's
/// landmark files are read.
struct EyePts {
    std::array<cv::Point2f, 6> left, right;
    cv::Point2f left_pupil, right_pupil;
};

/// Prepared footage of one work folder.
struct Actor {
    std::filesystem::path workdir, cond_dir, cache_dir;
    int size = 256;
    std::vector<int64_t> frames;                   ///< frames with conditioning and a face, sorted
    std::map<int64_t, std::pair<int, int>> mouth;  ///< aligned mouth centre per frame
    std::map<int64_t, EyePts> eyes;                ///< aligned eye points per frame (augmentation redraws them)
};

/// Read the work folder and prepare (or reuse) its cache of aligned faces and masks. `prepare` = false only
/// reads the track and the frame list (ranks other than 0 use the cache rank 0 made).
Actor prepare_actor(const std::filesystem::path& workdir, const std::filesystem::path& cache_dir, bool prepare = true);

struct FrameData {
    torch::Tensor cond;  ///< [9,S,S] in [0,1]: NMFC, eyes, shape
    torch::Tensor real;  ///< [3,S,S] in [-1,1]
    torch::Tensor mask;  ///< [1,S,S] 0/1
    std::pair<int, int> mouth;
};

/// NED's train-time augmentation (ned-reference §3.2, §5.3) for one frame of one clip.
struct Augment {
    bool on = false;
    uint64_t stream = 0;  ///< seed of this frame's draws
};
/// Load frame t; with augmentation: the eye image redrawn from the track's aligned eye points with NED's eye
/// noise (one scale 1 + N(0,2)/100 for both eyes about each eye's mean of 7 points, x-shifts +N(0,2) left and
/// -N(0,2) right, then truncated), and each of NMFC, eye and shape image moved by its own RandomAffine
/// (translate up to 1% of the size, rounded to pixels; scale 0.99..1.01 about the centre; nearest; zeros outside).
FrameData load_frame(const Actor& a, int64_t t, const Augment& aug = {});

/// torchvision's RandomAffine(degrees 0, translate (0.01, 0.01), scale (0.99, 1.01)) on a u8 image, drawn from rng.
cv::Mat random_affine(const cv::Mat& img, uint64_t stream);

/// A training sub-sequence: consecutive frames of one actor.
struct Item {
    int actor = 0;
    std::vector<int64_t> frames;
};

/// All prepared footage, split into training sub-sequences and held-out validation frames.
struct Dataset {
    std::vector<Actor> actors;
    std::vector<Item> items;
    Item val;
    int size = 0;
};
/// Prepares the actors under out/cache (rank 0 only when `prepare`) and splits them (identically on every rank).
Dataset make_dataset(const TrainOptions& o, const std::filesystem::path& out, bool prepare);

/// The clips of one rank for one step: the global batch is items order[first .. first + global) of the epoch;
/// this rank takes [first + begin, first + end). All clips of the global batch get the same length (the
/// shortest item's, at most n_gen + 2), so that every rank runs the same number of windows. Each item's
/// window position and augmentation derive from (seed, epoch, its position in the epoch), so they are the
/// same whatever the number of ranks.
struct Clips {
    std::vector<std::vector<FrameData>> clips;  ///< [this rank's items][L frames]
    size_t length = 0;                          ///< L
};
Clips sample_clips(const Dataset& d, const std::vector<size_t>& order, int64_t first, int64_t global, int64_t begin,
                   int64_t end, int n_gen, uint64_t seed, int epoch, bool augment);

constexpr int kNumLosses = 9;
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
