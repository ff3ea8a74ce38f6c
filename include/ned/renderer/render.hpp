#pragma once
// `ned render`: the neural face renderer over a work folder (ned-reference §3.2, §3.8, §1.7, §5.6).
//
// Every frame t with conditioning images gets the conditioning of frames t-2, t-1, t (RGB PNGs in [0,1],
// [nmfc, eyes, shape] per frame, oldest first), the two previous outputs in [-1,1] and the aligned face
// mask of frame t. Edge rule (NED never renders the first two frames; ned renders every frame): at the
// start of every segment (the first frame, and after every frame without conditioning) the missing earlier
// conditioning frames are the segment's first frame (replicated) and the missing previous outputs are
// zeros; afterwards the previous outputs are a ring buffer of the last two outputs, as NED's inference.
// A segment also starts at every frame the track marks `shot_start` (a cut or a re-acquired target).
//
// Outputs (NNNNNN = frame index, fs_util frame_name):
//   WORKDIR/faces_aligned/NNNNNN.png  the generator output as NED's tensor2im: (x+1)/2*255, clipped,
//                                     truncated to uint8 (background exactly -1 -> 0)
//   WORKDIR/faces/NNNNNN.png          faces_aligned warped back to the crop (warpAffine WARP_INVERSE_MAP,
//                                     Lanczos4) and zeroed where the crop-space mask is 0: what
//                                     `ned composite` consumes.
#include <torch/torch.h>

#include <opencv2/core.hpp>

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "ned/core/progress.hpp"
#include "ned/face/face_track.hpp"
#include "ned/renderer/networks.hpp"
#include "ned/renderer/precision.hpp"

namespace ned::renderer {

/// Inputs of one generated frame.
struct FrameStep {
    int64_t frame = 0;              ///< frame index t
    std::array<int64_t, 3> cond{};  ///< conditioning frames for t-2, t-1, t (edge rule applied)
    bool restart = false;           ///< first frame of a segment: previous outputs are zeros
};

/// The steps for the frames that have conditioning (`frames`, any order, no duplicates): segments are
/// runs of consecutive frame indices; `cuts` (frame indices that start a new shot) also start a segment.
std::vector<FrameStep> plan_steps(std::vector<int64_t> frames, const std::vector<int64_t>& cuts = {});

/// Refuses (OptionError naming `field`, exit 2) a precision the device cannot run for real: fp16 off CUDA, and
/// bf16 on a CPU without native bf16 (ned::cpu::native_bf16: emulated bf16 is many times slower and visibly off).
void check_precision(Precision p, const torch::Device& device, const std::string& field = "RenderOptions::precision");

/// One frame's conditioning [9,H,W] float in [0,1], RGB channel order, [nmfc, eyes, shape], from the
/// images as OpenCV reads the PNGs (BGR, u8).
torch::Tensor conditioning_tensor(const cv::Mat& nmfc_bgr, const cv::Mat& eyes_bgr, const cv::Mat& shape_bgr);
/// Generator output [3,H,W] (or [1,3,H,W]) in [-1,1] -> CV_8UC3 BGR image as NED's tensor2im:
/// (x+1)/2*255, clipped to [0,255], truncated.
cv::Mat output_to_image(const torch::Tensor& out);
/// A mask PNG (u8, any channels; > 127 = face) -> [1,1,H,W] float 0/1.
torch::Tensor mask_tensor(const cv::Mat& mask);
/// NED's unalign (§5.6): warpAffine(face_aligned, align, size, WARP_INVERSE_MAP | INTER_LANCZOS4), then 0
/// where `crop_mask` (u8) is 0.
cv::Mat unalign_face(const cv::Mat& face_aligned, const cv::Matx23f& align, const cv::Mat& crop_mask);

/// Sequential frame generator with NED's ring buffer of previous outputs.
class FaceRenderer {
public:
    /// Moves the generator to `device` and `precision` (Fp16 needs CUDA: InputError on the CPU).
    FaceRenderer(Generator generator, const torch::Device& device, Precision precision = Precision::Fp32);
    /// Zero the previous outputs (start of a segment).
    void reset();
    /// One frame: cond [1,27,H,W] (three frames of conditioning_tensor, oldest first) and mask [1,1,H,W],
    /// on any device / dtype. Returns the output [1,3,H,W] float32 on the CPU, and pushes it into the ring
    /// buffer.
    torch::Tensor step(const torch::Tensor& cond, const torch::Tensor& mask);
    const GeneratorConfig& config() const { return generator_->cfg; }
    /// The ring buffer of previous outputs [1,prev_nc,H,W] as float32 on the CPU (undefined after reset()).
    torch::Tensor previous() const;
    /// Restore the ring buffer (as previous() returned it) to continue an interrupted segment exactly.
    void set_previous(const torch::Tensor& prev);

private:
    Generator generator_;
    torch::Device device_;
    torch::ScalarType dtype_;
    torch::Tensor prev_;  ///< [1,prev_nc,H,W] on device_, dtype_; undefined after reset()
};

/// The analysis face mask of frame t: WORKDIR/masks/NNNNNN.png (crop space, from `ned analyze` with
/// segmentation or --save-images) when present, else the landmark mask of the track; and its aligned version
/// (nearest). Both u8 0/255, crop_size^2.
void analysis_masks(const face::FaceTrack& track, const std::filesystem::path& workdir, int64_t t, cv::Mat& crop_mask,
                    cv::Mat& aligned_mask);

/// The resume file of an interrupted resumable render (format ned.render_resume, version 1): returns the
/// number of `steps` done (0 = start afresh) and sets `prev` to the ring buffer [1,prev_nc,size,size] saved
/// after the last of them. Anything that does not fit (another key, a damaged file, a done frame without its
/// PNG in one of `image_dirs`) is a fresh start (logged). SequenceRenderer (sequence_renderer.hpp) reads and
/// writes it for both render paths.
int64_t read_render_resume(const std::filesystem::path& file, const std::string& key,
                           const std::vector<FrameStep>& steps, const std::vector<std::filesystem::path>& image_dirs,
                           int prev_nc, int size, torch::Tensor& prev);
/// Rewrite the resume file: `done` steps finished, the last one frame `last_frame`, ring buffer `prev`.
void write_render_resume(const std::filesystem::path& file, const std::string& key, int64_t done, int64_t last_frame,
                         const torch::Tensor& prev);

struct RenderOptions {
    std::string workdir;       ///< holds track.safetensors (analysed)
    std::string renderer;      ///< ned.renderer checkpoint (required)
    std::string conditioning;  ///< empty = WORKDIR/conditioning (as `ned render-inputs` writes it)
    std::string masks;         ///< aligned-space 0/255 mask PNGs; empty = the analysis mask (below)
    Precision precision = Precision::Fp32;
    std::string device = "cpu";
    bool overwrite = false;
    /// Render with a renderer trained at another crop size than the track's (refused otherwise:
    /// check_trained_crop_size).
    bool allow_crop_size_mismatch = false;
    /// Non-empty: a resumable run keyed on this string (the pipeline's stage key: a hash of every input).
    /// After each frame (its two PNGs written atomically) WORKDIR/render_resume.safetensors records the key,
    /// the frames done and the ring buffer of previous outputs (float32); a run with the same key continues
    /// after the last recorded frame with that ring buffer, so its output equals an uninterrupted run's. A
    /// resume file with another key, or one whose frames are missing, is discarded and every frame rendered.
    /// The file is removed when the run completes. Without a key (`ned render`) nothing is resumed and the
    /// faces written so far are removed on a failure or a signal.
    std::string resume_key;

    /// OptionError naming the field for a missing renderer checkpoint.
    void validate() const;
};

struct RenderResult {
    int64_t frames_rendered = 0;  ///< frames with a face (including those kept from an interrupted run)
    int64_t frames_resumed = 0;   ///< of which kept from an interrupted run with the same key
    int64_t segments = 0;
    std::string faces_dir, faces_aligned_dir;
};

/// Render every frame that has conditioning. Default masks: WORKDIR/masks/NNNNNN.png (crop space, written
/// by `ned analyze` with segmentation or --save-images) when present, else the landmark face mask of the
/// track (face::landmark_face_mask); warped to aligned space with nearest. With options.masks the aligned
/// mask is read from there and the crop-space mask is its inverse warp (nearest).
/// The frames go through SequenceRenderer (sequence_renderer.hpp), the one the streamed pass of translate and
/// style runs, so both make the same faces. Throws InputError for missing/invalid inputs or existing outputs
/// without overwrite, ModelError for a bad checkpoint.
RenderResult render_workdir(const RenderOptions& options, const ProgressFn& progress = {});

}  // namespace ned::renderer
