#pragma once
// Emotion translation of a reconstruction (foivospar/NED manipulator/test.py, plus --intensity and a
// time schedule). The output equals the input except `exp` and `pose[:,3]` of valid frames.
//
//   auto nets = ned::manip::load_checkpoint("manipulator.safetensors");
//   ned::manip::ManipulateOptions o;  o.emotions = {"happy"};
//   auto out = ned::manip::manipulate(in, nets, o);
#include <cstdint>
#include <string>
#include <vector>

#include "ned/core/progress.hpp"
#include "ned/manip/networks.hpp"
#include "ned/recon/reconstruction.hpp"

namespace ned::manip {

/// One keyframe of a schedule: from `time_s` on (blended towards the next keyframe) the target is
/// `emotion` at `intensity`.
struct Keyframe {
    double time_s = 0;
    std::string emotion;
    double intensity = 1.0;
};

/// "0:neutral,2.5:happy,6:angry@0.5" -> keyframes (sorted, times >= 0, strictly increasing).
/// OptionError (field ManipulateOptions::schedule) for bad syntax, InputError for unknown emotions.
std::vector<Keyframe> parse_schedule(const std::string& text);

struct ManipulateOptions {
    /// Label mode: target emotions; K > 1 splits the video into K equal parts (NED).
    std::vector<std::string> emotions;
    /// Reference mode: the style is the geometric median of E over all windows of this reconstruction.
    const recon::Reconstruction* reference = nullptr;
    /// Schedule mode (label-driven, per-frame style blended between keyframes).
    std::vector<Keyframe> schedule;
    /// 0 keeps the source's own style, 1 is the target, > 1 exaggerates (applies to all modes; schedule
    /// keyframes multiply it with their own intensity).
    double intensity = 1.0;
    /// Seed of the latent z drawn for label and schedule modes (one z shared by all emotions, as NED).
    uint64_t seed = 0;
    std::string device = "cpu";
    int batch_size = 256;  ///< windows per forward pass
    ProgressFn progress;

    /// Exactly one mode, a finite intensity, batch_size >= 1, known emotions: OptionError (exit 2) naming the
    /// field and the value (InputError naming an unknown emotion). manipulate() calls it.
    void validate() const;
};

/// Translate `in`. Exactly one of emotions / reference / schedule must be given (InputError otherwise).
/// Windows never cross invalid frames: each run of consecutive valid frames is translated on its own and
/// invalid frames are copied unchanged; a run shorter than 10 frames is padded by edge replication.
recon::Reconstruction manipulate(const recon::Reconstruction& in, Nets& nets, const ManipulateOptions& opts);

/// x = [pose[3], exp[0:50]] of every frame: T rows of 51 floats (throws InputError if exp or pose is absent).
std::vector<float> manipulator_inputs(const recon::Reconstruction& r);

/// Style vectors of E over every window of every valid run of `r` (runs < 10 frames padded), [N,16].
torch::Tensor encode_styles(const recon::Reconstruction& r, Nets& nets, const torch::Device& device,
                            int batch_size = 256);

}  // namespace ned::manip
