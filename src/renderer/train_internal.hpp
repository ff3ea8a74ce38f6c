#pragma once
// Pieces of `ned train-renderer` (private to ned_renderer): the prepared footage and its sampling
// (train_data.cpp), one training window (train_step.hpp / train_step.cpp, torch-only); train.cpp runs the epochs.
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

#include "ned/face/eye_image.hpp"
#include "ned/renderer/train.hpp"
#include "renderer/train_step.hpp"

namespace ned::renderer::train_detail {

/// splitmix64 of a combination: independent random streams per (seed, epoch, position, ...).
uint64_t mix(uint64_t a, uint64_t b);

/// Prepared footage of one work folder.
struct Actor {
    std::filesystem::path workdir, cond_dir, cache_dir;
    int size = 256;
    std::vector<int64_t> frames;                   ///< frames with conditioning and a face, sorted
    std::map<int64_t, std::pair<int, int>> mouth;  ///< aligned mouth centre per frame
    std::map<int64_t, face::EyePoints> eyes;       ///< aligned eye points per frame (augmentation redraws them)
};

/// Read the work folder and prepare (or reuse) its cache of aligned faces and masks. `prepare` = false only
/// reads the track and the frame list (ranks other than 0 use the cache rank 0 made).
Actor prepare_actor(const std::filesystem::path& workdir, const std::filesystem::path& cache_dir, bool prepare = true);

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
Clips sample_clips(const Dataset& d, const std::vector<size_t>& order, int64_t first, int64_t global, int64_t begin,
                   int64_t end, int n_gen, uint64_t seed, int epoch, bool augment);

}  // namespace ned::renderer::train_detail
