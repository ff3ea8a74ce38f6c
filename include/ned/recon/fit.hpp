#pragma once
// FLAME fitting to 2D landmarks (`ned reconstruct --method fit`): the whole pipeline can run with the
// FLAME asset alone (no DECA). Per frame the target is the 68 landmarks of the 256 crop, mapped into
// DECA's 224 crop with deca_crop_tform (so `cam` and `tform` mean exactly what DECA's would) and
// compared with image_coords(landmarks2d, cam) of the FLAME model (dynamic contour included).
//
// Parameters: shape [100] shared by the whole video (estimated first on up to `shape_frames` frames
// spread over the video), then exp [50], pose [6] (global + jaw) and cam [3] per frame, fitted in chunks
// of `chunk` frames with Adam; each chunk is warm-started from the previous frame's result and tied to
// it by the temporal term. Loss per frame:
//   sum_l ||proj_l - target_l||^2 (normalised coordinates)  + w_exp ||exp||^2 + w_jaw ||jaw||^2
//   + w_smooth (||exp_t - exp_t-1||^2 + 10 ||pose_t - pose_t-1||^2 + ||cam_t - cam_t-1||^2 / s^2)
// and w_shape ||shape||^2 once per video. Memory: one chunk of FLAME meshes at a time.
#include <torch/torch.h>

#include <vector>

#include "ned/core/progress.hpp"
#include "ned/face/face_track.hpp"
#include "ned/recon/flame.hpp"

namespace ned::recon {

struct FitOptions {
    int chunk = 32;         ///< frames optimised together
    int shape_frames = 24;  ///< frames used to estimate the shared shape
    int shape_iters = 250;  ///< Adam steps of the shape pass
    int iters = 120;        ///< Adam steps per chunk
    int first_iters = 250;  ///< Adam steps of the first chunk (no warm start yet)
    double lr = 0.02;       ///< Adam learning rate (exp, pose, shape); cam uses lr * cam scale
    double w_shape = 1e-4;
    double w_exp = 1e-4;
    double w_jaw = 1e-3;
    double w_smooth = 1e-3;

    /// OptionError naming the field for a chunk < 1, a negative step count, a learning rate that is not a
    /// finite number > 0 or a weight that is not a finite number >= 0.
    void validate() const;
};

struct FitResult {
    torch::Tensor shape;     ///< [100] shared identity (CPU)
    torch::Tensor exp;       ///< [T,50]
    torch::Tensor pose;      ///< [T,6]
    torch::Tensor cam;       ///< [T,3]
    torch::Tensor tform;     ///< [T,3,3] 256 crop pixels -> 224 DECA crop pixels
    torch::Tensor error_px;  ///< [T] mean landmark reprojection error in 256-crop pixels (0 for invalid)
    std::vector<uint8_t> valid;
    double mean_error_px = 0;  ///< over valid frames
};

/// Fit FLAME to `landmarks` (crop pixels, one entry per frame; frames with valid[t] == 0 are skipped and
/// get zero parameters). Runs on the model's device.
FitResult fit_landmarks(const FlameModel& flame, const std::vector<face::Landmarks>& landmarks,
                        const std::vector<uint8_t>& valid, const FitOptions& options = {},
                        const ProgressFn& progress = {});

/// Landmarks [N,68,2] (crop pixels) -> DECA normalised coordinates via tform [N,3,3]: p224/112 - 1.
torch::Tensor crop_to_deca_ndc(const torch::Tensor& landmarks, const torch::Tensor& tform);

}  // namespace ned::recon
