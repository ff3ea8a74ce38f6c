#pragma once
// `ned train-renderer`: per-actor training (or fine-tuning from NED's meta-renderer) of the neural renderer,
// NED's recipe (ned-reference §3.5-3.6) on work folders of the actor.
//
// Input: work folders already prepared for the actor's own footage: `ned analyze` (track with alignment and
// landmarks) and `ned render-inputs` of the actor's own reconstruction (WORKDIR/conditioning/). The video
// itself is read from the track's `source`.
// Preparation (once, reused by later runs): DIR/cache/NN/faces/NNNNNN.png (aligned faces, zero outside the
// mask, as NED's faces_aligned), DIR/cache/NN/masks/NNNNNN.png (aligned masks), DIR/cache/NN/cache.json
// (source work folder, frames, mouth centres = integer median of the aligned mouth landmarks 48..67).
// Training: segments of consecutive frames split into 50-frame sub-sequences (one epoch = each once, in
// a seeded random order, `batch_size` per step and rank); a clip of n+2 frames per item, n = clip_frames doubling
// every `double_every` epochs up to 48; generated in windows of 4 frames with the detached previous outputs
// fed back (zeros at the clip start); per window one Adam step of G then one of D and Dm.
// Losses: G = LSGAN + feature matching (x10) + VGG19 (x10, 1/32..1) + mouth LSGAN + mouth feature matching;
// D = 0.5 (real + fake) + 0.5 (mouth real + fake).
// Outputs in DIR: renderer.safetensors (generator only, for `ned render`), epoch_NN.safetensors (all
// networks, every epoch), state.safetensors (networks + Adam state + position; saved at every epoch end and
// every `save_minutes`; --resume continues from it), losses.jsonl (per epoch: every loss term, validation L1
// and PSNR inside the mask), preview/epoch_NN.jpg (rows of NMFC | real | generated for held-out frames).
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ned/core/progress.hpp"
#include "ned/renderer/precision.hpp"

namespace ned::dist {
class Context;
}

namespace ned::renderer {

struct TrainOptions {
    std::vector<std::string> actors;  ///< prepared work folders of the actor (analysed, with conditioning/)
    std::string out;                  ///< output folder (created)
    int epochs = 20;
    std::string init_from;  ///< ned.renderer checkpoint to fine-tune (e.g. NED's meta-renderer)
    bool resume = false;    ///< continue from out/state.safetensors
    uint64_t seed = 0;
    int batch_size = 2;  ///< clips per step (NED's paper: 2)
    int ngf = 64;        ///< generator width from scratch (ignored with init_from / resume)
    int ndf = 64;        ///< discriminator width from scratch
    int n_blocks = 9;
    double lr = 0;         ///< 0 = 2e-4 from scratch, 4e-5 when fine-tuning (NED's paper); else in (0, 1]
    std::string vgg;       ///< ned.vgg19 weights (scripts/convert_vgg19.py); required unless no_vgg
    bool no_vgg = false;   ///< train without the perceptual loss (lower quality; logged)
    int clip_frames = 12;  ///< generated frames per clip in the first epochs (NED: 12)
    int max_clip_frames = 48;
    int double_every = 5;  ///< epochs between doublings of clip_frames
    int window = 4;        ///< generated frames per optimisation step (NED: max_frames_per_gpu 4)
    int subsequence = 50;  ///< frames per training sub-sequence (NED: 50)
    int val_frames = 12;   ///< held-out frames (end of the longest segment), 0 = none
    int preview_frames = 3;
    double save_minutes = 5;  ///< state saved at least this often (and at every epoch end); finite, >= 0
    /// Called after every optimisation step with the steps of this run so far (a resumed run counts from its
    /// start); may throw to stop the training. The CLI's --stop-after-steps (testing) ends the process there
    /// without any clean-up, as a kill would. Empty: nothing.
    std::function<void(int64_t steps)> after_step;
    bool augment = true;  ///< NED's train-time augmentation (random affine of the conditioning, eye noise)
    /// fp32, or mixed precision: bf16 (CPU, CUDA) or fp16 (CUDA only, dynamic loss scale); float32 master
    /// weights, optimiser state and checkpoints either way (docs/decisions.md)
    Precision precision = Precision::Fp32;
    std::string device = "cpu";
    bool overwrite = false;  ///< -y: start over in a folder that holds a previous run
    int threads = 0;
    /// Data-parallel job (ned/dist/dist.hpp); null = one process. Each step takes a global batch of
    /// batch_size x ranks items from the epoch's order; rank r trains on its slice, the G, D and Dm gradients
    /// are summed over the ranks (weighted by each rank's share); only rank 0 writes outputs and prepares the
    /// cache (DIR must be on a disk every rank sees).
    std::shared_ptr<dist::Context> dist;

    /// Every number in its range, actors and out given: OptionError (exit 2) naming the field and the value.
    /// (The device, the precision on it and the VGG19 weights are checked by check_train_inputs.)
    void validate() const;
};

struct TrainResult {
    int epochs_done = 0;
    int64_t steps = 0;
    std::string renderer_path;
    double val_psnr = 0;          ///< last epoch's validation PSNR (dB, inside the mask); 0 without validation
    bool has_validation = false;  ///< val_psnr was measured (held-out frames)
};

/// Throws InputError for bad options / inputs, ModelError for bad --init-from or VGG files.
/// A run that diverges (a non-finite loss, weight or validation frame) stops with ned::Error naming the epoch
/// and step and suggesting a lower --lr; no file with a non-finite value is written, so the last good state and
/// checkpoints stay as they were.
TrainResult train_renderer(const TrainOptions& options, const ProgressFn& progress = {});

/// What train_renderer checks before it reads any footage, writing nothing: the options, --out (a previous run
/// without --resume / overwrite, the state --resume needs), the device, and that --init-from and the VGG19
/// weights load. `ned train-renderer` runs it before it prepares videos or creates --out. Same exceptions.
void check_train_inputs(const TrainOptions& options);

}  // namespace ned::renderer
