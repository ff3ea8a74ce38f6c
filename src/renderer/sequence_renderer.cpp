// One renderer for a sequence of frames: see include/ned/renderer/sequence_renderer.hpp.
#include "ned/renderer/sequence_renderer.hpp"

#include <algorithm>
#include <chrono>
#include <future>
#include <map>
#include <system_error>

#include "ned/core/error.hpp"
#include "ned/core/fault.hpp"
#include "ned/core/fs_util.hpp"
#include "ned/core/log.hpp"
#include "ned/renderer/checkpoint.hpp"

namespace fs = std::filesystem;

namespace ned::renderer {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

}  // namespace

std::vector<FrameStep> plan_track_steps(const face::FaceTrack& track, const std::vector<int64_t>& frames) {
    std::vector<int64_t> cuts;  // shot cuts and re-acquisitions of the target restart the ring buffer
    for (int64_t t : frames)
        if (track.frames.at(t).shot_start) cuts.push_back(t);
    return plan_steps(frames, cuts);
}

Generator load_ned_generator(const std::string& path, int crop_size, bool allow_crop_size_mismatch) {
    RendererNets nets = load_renderer(path, torch::kCPU, false);
    Generator g = nets.generator;
    if (g->cfg.cond_nc != 27 || g->cfg.prev_nc != 6 || g->cfg.output_nc != 3)
        throw ModelError(cat("[renderer] ", path, " takes ", g->cfg.cond_nc, "+", g->cfg.prev_nc,
                             " input channels and makes ", g->cfg.output_nc,
                             "; NED's renderer takes 27+6 and makes 3"));
    if (crop_size % (1 << g->cfg.n_downsample) != 0)
        throw InputError(cat("[renderer] crop size ", crop_size, " is not a multiple of ", 1 << g->cfg.n_downsample));
    check_trained_crop_size(path, trained_crop_size(nets.metadata, path), crop_size, allow_crop_size_mismatch);
    return g;
}

/// One rendered step on its way to the sink.
struct SequenceRenderer::Job {
    int64_t index = 0;  ///< step index
    int64_t frame = 0;
    torch::Tensor out;   ///< generator output, float32 CPU
    torch::Tensor prev;  ///< the ring buffer after this step (float32 CPU), defined when resumable
    cv::Matx23f align;
    cv::Mat crop_mask, blend_mask;
};

SequenceRenderer::SequenceRenderer(FaceRenderer& renderer, std::vector<FrameStep> steps, SequenceOptions options)
    : renderer_(renderer), steps_(std::move(steps)), o_(std::move(options)) {
    if (!o_.resume_file.empty()) resume();
}

void SequenceRenderer::resume() {
    const int64_t total = static_cast<int64_t>(steps_.size());
    torch::Tensor prev;
    start_ = read_render_resume(o_.resume_file, o_.resume_key, steps_, o_.output_dirs, renderer_.config().prev_nc,
                                o_.crop_size, prev);
    if (start_ > 0) {
        if (start_ < total && !steps_[start_].restart) renderer_.set_previous(prev);
        NED_LOG_INFO("{} continuing an interrupted run: frames {}..{} were rendered, {} left", o_.log_tag,
                     steps_.front().frame, steps_[start_ - 1].frame, total - start_);
        return;
    }
    // A fresh start: stale faces removed; the faces written from here on are kept on a failure or a signal,
    // and the resume file says how far they go.
    remove_resume_file();
    for (const auto* dirs : {&o_.output_dirs, &o_.stale_dirs})
        for (const auto& d : *dirs) remove_files_with_extension(d.string(), ".png");
    for (const auto& d : o_.output_dirs) fs::create_directories(d);
}

void SequenceRenderer::remove_resume_file() const {
    if (o_.resume_file.empty()) return;
    std::error_code ec;
    fs::remove(o_.resume_file, ec);
}

int64_t SequenceRenderer::first_conditioned() const {
    const int64_t total = static_cast<int64_t>(steps_.size());
    if (start_ >= total) return total;
    const int64_t f0 = steps_[start_].cond[0];
    return std::find_if(steps_.begin(), steps_.end(), [&](const FrameStep& s) { return s.frame == f0; }) -
           steps_.begin();
}

RenderedFace SequenceRenderer::store(FaceSink& sink, const Job& job) const {
    RenderedFace face;
    face.frame = job.frame;
    face.output = job.out;
    face.aligned = output_to_image(job.out);
    face.face = unalign_face(face.aligned, job.align, job.crop_mask);
    face.blend_mask = job.blend_mask;
    sink.store(face);
    // after the frame's images: a resumed run finds every frame the file counts
    if (job.prev.defined()) write_render_resume(o_.resume_file, o_.resume_key, job.index + 1, job.frame, job.prev);
    return face;
}

SequenceResult SequenceRenderer::run(ConditioningSource& source, FaceSink& sink, const ProgressFn& progress) {
    const int64_t total = static_cast<int64_t>(steps_.size());
    SequenceResult result;
    result.frames_resumed = start_;
    for (int64_t i = 0; i < start_; ++i) result.segments += steps_[i].restart;
    if (start_ > 0 && progress) progress(start_, total);
    std::map<int64_t, ConditionedFrame> window;  // the conditioning of the frames the next step reads
    int64_t next = first_conditioned();          // the step whose frame the source gives next
    std::future<RenderedFace> pending;           // overlap_writes: the store of the previous step
    for (int64_t i = start_; i < total; ++i) {
        const FrameStep& s = steps_[i];
        while (!window.count(s.frame)) {
            NED_CHECK(next <= i, "SequenceRenderer: the conditioning of frame ", s.frame, " was never asked for");
            const int64_t f = steps_[next++].frame;
            ConditionedFrame c = source.get(f);
            NED_CHECK(c.frame == f, "SequenceRenderer: asked for frame ", f, ", the source gave frame ", c.frame);
            window[f] = std::move(c);
        }
        const auto t0 = Clock::now();
        if (s.restart) {
            renderer_.reset();
            ++result.segments;
        }
        for (auto it = window.begin(); it != window.end();)
            it = it->first < s.cond[0] ? window.erase(it) : std::next(it);
        const torch::Tensor cond =
            torch::cat({window.at(s.cond[0]).cond, window.at(s.cond[1]).cond, window.at(s.cond[2]).cond}, 0)
                .unsqueeze(0);
        const ConditionedFrame& cur = window.at(s.frame);
        Job job{i,
                s.frame,
                renderer_.step(cond, mask_tensor(cur.aligned_mask)),
                torch::Tensor(),
                cur.align,
                cur.crop_mask,
                cur.blend_mask};
        if (!o_.resume_file.empty()) job.prev = renderer_.previous();
        if (o_.overlap_writes) {
            if (pending.valid()) sink.deliver(pending.get());
            fault_point("render.frames_done", i);  // frames 0..i-1 are on disk (ned/core/fault.hpp)
            pending = std::async(std::launch::async, [this, &sink, job] { return store(sink, job); });
            result.busy_s += seconds_since(t0);
        } else {
            RenderedFace face = store(sink, job);
            fault_point("render.frames_done", i + 1);  // frames 0..i are on disk (ned/core/fault.hpp)
            result.busy_s += seconds_since(t0);
            sink.deliver(std::move(face));
        }
        ++result.frames_rendered;
        if (progress) progress(i + 1, total);
    }
    if (pending.valid()) sink.deliver(pending.get());
    return result;
}

}  // namespace ned::renderer
