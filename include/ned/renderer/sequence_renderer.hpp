#pragma once
// One renderer for a sequence of frames, shared by `ned render` (render_workdir: conditioning read from a work
// folder's PNGs) and the streamed pass of `ned translate` / `ned style` (pipeline::stream_render: conditioning
// made on the fly). It owns what both must do alike, because the faces of one must equal the other's bit for bit:
//
//   - the plan: NED's edge rule per segment (plan_steps; a segment starts after a gap and at a shot start),
//   - NED's ring buffer of previous outputs (FaceRenderer), zeroed at every segment start,
//   - the window of conditioning frames a step reads (t-2, t-1, t),
//   - the resume file of an interrupted run (read_render_resume / write_render_resume, written after each
//     frame's images) and the clean-up of a fresh resumable start,
//   - the fault point `render.frames_done` (ned/core/fault.hpp), the progress and the "continuing" log line.
//
// What differs is where the conditioning comes from (ConditioningSource) and where the faces go (FaceSink).
#include <torch/torch.h>

#include <opencv2/core.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "ned/core/progress.hpp"
#include "ned/face/face_track.hpp"
#include "ned/renderer/networks.hpp"
#include "ned/renderer/render.hpp"

namespace ned::renderer {

/// The steps for `frames` of `track` (frames with conditioning, any order): plan_steps with the track's shot
/// starts (cuts and re-acquisitions of the target) as cuts. Every frame must be inside the track.
std::vector<FrameStep> plan_track_steps(const face::FaceTrack& track, const std::vector<int64_t>& frames);

/// Loads a renderer checkpoint's generator on the CPU and checks that it is NED's (27 + 6 input channels, 3
/// output channels: ModelError otherwise), that `crop_size` is a multiple of its downsampling (InputError) and that
/// it was trained at `crop_size` (check_trained_crop_size: ModelError unless `allow_crop_size_mismatch`).
Generator load_ned_generator(const std::string& path, int crop_size, bool allow_crop_size_mismatch = false);

/// One frame's renderer input.
struct ConditionedFrame {
    int64_t frame = -1;
    torch::Tensor cond;    ///< [9,S,S] float in [0,1] (conditioning_tensor)
    cv::Mat aligned_mask;  ///< the renderer's mask, aligned space, u8 0/255
    cv::Mat crop_mask;     ///< crop space, u8: the unaligned face is 0 where it is 0 (unalign_face)
    cv::Matx23f align;     ///< the frame's alignment (crop -> aligned)
    cv::Mat blend_mask;    ///< handed to the sink unchanged (the compositor's mask); may be empty
};

/// Where the conditioning comes from.
class ConditioningSource {
public:
    virtual ~ConditioningSource() = default;
    /// The input of `frame`. SequenceRenderer::run asks for the frames of the plan in order, each once, from
    /// the step first_conditioned() to the last.
    virtual ConditionedFrame get(int64_t frame) = 0;
};

/// One rendered frame.
struct RenderedFace {
    int64_t frame = -1;
    torch::Tensor output;  ///< the generator's output [1,3,S,S] float32 on the CPU, in [-1,1]
    cv::Mat aligned;       ///< output as NED's tensor2im (output_to_image): aligned space, BGR u8
    cv::Mat face;          ///< aligned warped back to the crop and cut by the crop mask (unalign_face)
    cv::Mat blend_mask;    ///< ConditionedFrame::blend_mask
};

/// Where the faces go.
class FaceSink {
public:
    virtual ~FaceSink() = default;
    /// Store the face (written atomically, if at all): the resume file that counts it is written after this
    /// returns. With SequenceOptions::overlap_writes it runs on a worker thread, one frame at a time.
    virtual void store(const RenderedFace& face) = 0;
    /// Hand the face on once stored, in frame order, on the thread that called run().
    virtual void deliver(RenderedFace&& face) { (void)face; }
};

struct SequenceOptions {
    /// Non-empty: a resumable run. After each frame (once the sink stored it) this file records `resume_key`,
    /// the steps done and the ring buffer (write_render_resume); a run with the same key and plan continues
    /// after the last recorded step with that ring buffer, so its faces equal an uninterrupted run's. Anything
    /// else (another key, a damaged file, a done frame without its PNG in one of `output_dirs`) is a fresh
    /// start: the resume file and the PNGs of `output_dirs` and `stale_dirs` are removed and `output_dirs`
    /// created. The caller removes the file (remove_resume_file) once the whole job succeeded.
    std::filesystem::path resume_file;
    std::string resume_key;
    std::vector<std::filesystem::path> output_dirs;  ///< where the sink stores a frame's PNGs
    std::vector<std::filesystem::path> stale_dirs;   ///< other PNG outputs of an older run
    int crop_size = 0;                               ///< S (the ring buffer in the resume file is S x S)
    /// Store frame i on a worker thread while frame i+1 is rendered (`ned render`: the PNG writing overlaps the
    /// forward pass). The fault point `render.frames_done` gets the frames on disk: with overlap before each
    /// frame's store (once the previous one finished), without it after each frame's store.
    bool overlap_writes = false;
    std::string log_tag = "[renderer]";  ///< prefix of the "continuing an interrupted run" line
};

struct SequenceResult {
    int64_t frames_rendered = 0;  ///< frames rendered in this run
    int64_t frames_resumed = 0;   ///< frames kept from an interrupted run
    int64_t segments = 0;         ///< segments of the whole plan (those of resumed frames included)
    double busy_s = 0;            ///< rendering and storing, without waiting for the source or in deliver
};

/// Renders the steps of a plan in order with NED's ring buffer (see the top of this file).
class SequenceRenderer {
public:
    /// `renderer` (kept by the caller) must outlive this. Reads the resume file when resumable and sets the
    /// ring buffer from it, or clears the outputs of a fresh start (SequenceOptions::resume_file).
    SequenceRenderer(FaceRenderer& renderer, std::vector<FrameStep> steps, SequenceOptions options);
    const std::vector<FrameStep>& steps() const { return steps_; }
    /// The first step to render: 0, or the steps done by an interrupted run.
    int64_t first_step() const { return start_; }
    /// The first step whose conditioning run() reads: that of the first frame the step first_step() reads (its
    /// segment's t-2); steps().size() when nothing is left.
    int64_t first_conditioned() const;
    /// Render steps [first_step(), end): conditioning from `source`, faces to `sink`; `progress` gets (steps
    /// done, steps), first first_step() when resumed.
    SequenceResult run(ConditioningSource& source, FaceSink& sink, const ProgressFn& progress = {});
    /// Remove the resume file (a finished job: nothing left to resume). No-op when not resumable.
    void remove_resume_file() const;

private:
    struct Job;
    void resume();
    RenderedFace store(FaceSink& sink, const Job& job) const;

    FaceRenderer& renderer_;
    std::vector<FrameStep> steps_;
    SequenceOptions o_;
    int64_t start_ = 0;
};

}  // namespace ned::renderer
