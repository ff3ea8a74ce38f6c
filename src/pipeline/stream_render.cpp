// The streamed end of the pipeline: see src/pipeline/stream_render.hpp.
#include "pipeline/stream_render.hpp"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "ned/core/bounded_queue.hpp"
#include "ned/core/error.hpp"
#include "ned/core/fs_util.hpp"
#include "ned/core/image_io.hpp"
#include "ned/core/log.hpp"
#include "ned/core/torch_util.hpp"
#include "ned/recon/deca.hpp"
#include "ned/recon/flame.hpp"
#include "ned/recon/reconstruction.hpp"
#include "ned/conditioning/conditioning.hpp"
#include "ned/conditioning/render_inputs.hpp"
#include "ned/renderer/checkpoint.hpp"
#include "ned/renderer/render.hpp"
#include "ned/renderer/sequence_renderer.hpp"

namespace fs = std::filesystem;

namespace ned::pipeline {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

constexpr int kConditioningBatch = 16;  // frames per FLAME/D_detail forward (as `ned render-inputs`)

/// One frame's renderer input in the queue: the conditioning as 8-bit images (a quarter of the float tensor's
/// memory), made into the tensor by the renderer thread.
struct CondItem {
    cv::Mat nmfc, eyes, shape;         ///< aligned conditioning images, BGR u8
    renderer::ConditionedFrame frame;  ///< frame, masks and alignment (cond still undefined)
};

/// The masks of frame t as the staged path makes them (the mask stage, then `ned render --masks`, or the
/// analysis masks of `ned render` without the edit mask).
void masks_of(const StreamRenderOptions& o, const face::FaceTrack& track, int64_t t, const cv::Mat& nmfc,
              renderer::ConditionedFrame& item) {
    const auto& ff = track.frames[t];
    if (!o.follow_edit_mask) {
        renderer::analysis_masks(track, o.work, t, item.crop_mask, item.aligned_mask);
        return;  // the compositor takes its default (landmark) mask
    }
    const int cs = track.crop_size;
    const cv::Mat coverage = conditioning::edit_mask(cv::Mat::zeros(nmfc.size(), CV_8UC1), nmfc);  // NMFC > 0
    cv::Mat src_crop;
    const fs::path seg = fs::path(o.work) / "masks" / frame_name(t, ".png");
    if (o.segmentation_masks && fs::exists(seg)) src_crop = read_image(seg.string(), cv::IMREAD_GRAYSCALE, "mask");
    if (src_crop.empty()) src_crop = blend::default_mask_for(track, t);
    if (src_crop.size() != cv::Size(cs, cs))
        throw InputError(
            cat("mask ", seg.string(), " is ", src_crop.cols, "x", src_crop.rows, ", expected ", cs, "x", cs));
    src_crop = src_crop > 127;
    const cv::Size size(cs, cs);
    cv::Mat src_aligned, cov_crop;
    cv::warpAffine(src_crop, src_aligned, cv::Mat(ff.align), size, cv::INTER_NEAREST);
    cv::warpAffine(coverage, cov_crop, cv::Mat(ff.align), size, cv::INTER_NEAREST | cv::WARP_INVERSE_MAP);
    item.aligned_mask = cv::max(src_aligned, coverage);
    item.blend_mask = cv::max(src_crop, cov_crop);
    cv::warpAffine(item.aligned_mask, item.crop_mask, cv::Mat(ff.align), size, cv::WARP_INVERSE_MAP | cv::INTER_NEAREST,
                   cv::BORDER_CONSTANT, cv::Scalar::all(0));
}

void write_png_atomic(const fs::path& p, const cv::Mat& img) {
    AtomicFile f(p.string(), /*overwrite=*/true);
    write_image(f.temp_path(), img, "face image", p.string());
    f.commit();
}

/// Runs `body` on a thread; an exception from it aborts `queues` with that error (so the other threads stop).
/// The destructor aborts the queues (Cancelled) and joins, so an exception on the calling thread never
/// leaves a thread blocked.
class StreamThread {
public:
    template <typename Body, typename... Queues>
    StreamThread(Body body, Queues&... queues)
        : abort_([&queues...](std::exception_ptr e) { (queues.abort(e), ...); }) {
        thread_ = std::thread([this, body]() mutable {
            try {
                body();
            } catch (...) {
                abort_(std::current_exception());
            }
        });
    }
    ~StreamThread() {
        abort_(nullptr);  // no effect after a clean end: the queues are drained and closed
        if (thread_.joinable()) thread_.join();
    }
    void join() {
        if (thread_.joinable()) thread_.join();
    }
    StreamThread(const StreamThread&) = delete;
    StreamThread& operator=(const StreamThread&) = delete;

private:
    std::function<void(std::exception_ptr)> abort_;
    std::thread thread_;
};

}  // namespace

std::vector<std::pair<int64_t, int64_t>> conditioning_batches(int64_t first, int64_t total, int64_t batch) {
    std::vector<std::pair<int64_t, int64_t>> out;
    if (first >= total) return out;  // nothing left to render
    for (int64_t b = first / batch * batch; b < total; b += batch) out.emplace_back(b, std::min(total, b + batch));
    return out;
}

blend::FaceSource kept_faces(const face::FaceTrack& track, const std::string& work, bool follow_edit_mask,
                             const std::vector<int64_t>& planned) {
    const std::string faces = (fs::path(work) / "faces").string();
    const blend::FaceSource files = blend::face_files(
        track, faces, follow_edit_mask ? (fs::path(work) / "edit_masks" / "crop").string() : std::string());
    std::vector<char> want(track.frames.size(), 0);
    for (int64_t t : planned)
        if (t >= 0 && t < static_cast<int64_t>(want.size())) want[t] = 1;
    return [files, want, faces](long t, cv::Mat& face, cv::Mat& mask) -> bool {
        if (t < 0 || t >= static_cast<long>(want.size()) || !want[t]) return false;
        if (!files(t, face, mask))
            throw InputError(cat("kept face ", faces, "/", frame_name(t, ".png"), " of frame ", t,
                                 " is missing from the work folder; run again to render it"));
        return true;
    };
}

std::string missing_kept_face(const std::vector<int64_t>& planned, const std::string& work, bool follow_edit_mask) {
    std::vector<fs::path> dirs{fs::path(work) / "faces"};
    if (follow_edit_mask) dirs.push_back(fs::path(work) / "edit_masks" / "crop");
    for (int64_t t : planned)
        for (const auto& d : dirs) {
            const fs::path p = d / frame_name(t, ".png");
            std::error_code ec;
            if (!fs::is_regular_file(p, ec)) return p.string();
        }
    return {};
}

namespace {

/// The checked inputs of a streamed pass.
struct StreamInputs {
    face::FaceTrack track;
    recon::Reconstruction rec;
    int threads = 1;  ///< conditioning and compositing threads
};

StreamInputs load_inputs(const StreamRenderOptions& o) {
    const std::string track_path = (fs::path(o.work) / "track.safetensors").string();
    StreamInputs in;
    in.track = face::load_track(track_path);
    in.rec = recon::load_reconstruction(o.edited);
    if (!in.track.has_analysis)
        throw InputError(cat(track_path, " has no analysis (landmarks, alignment, pupils); run `ned analyze`"));
    if (in.rec.num_frames() != static_cast<int64_t>(in.track.frames.size()))
        throw InputError(
            cat(o.edited, " has ", in.rec.num_frames(), " frames but ", track_path, " has ", in.track.frames.size()));
    in.threads = o.threads > 0 ? o.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    return in;
}

/// The conditioning renderer of the edited reconstruction (warns when its shape images will be coarse).
conditioning::ConditioningRenderer make_conditioner(const recon::FlameModel& flame, recon::DecaModel* deca,
                                                    const StreamInputs& in) {
    conditioning::ConditioningOptions copt;
    copt.crop_size = in.track.crop_size;
    copt.eyes = conditioning::EyeSource::Mesh;  // edited expressions: create_inputs.py's eyes (render-inputs' auto)
    copt.threads = in.threads;
    copt.deca.raster.threads = 1;  // parallel across frames instead
    conditioning::ConditioningRenderer conditioner(flame, deca, copt);
    std::string why_coarse;
    if (!conditioner.detailed_for(in.rec, &why_coarse))
        NED_LOG_WARN("[translate] shape images are coarse (vertex normals): {}", why_coarse);
    return conditioner;
}

renderer::FaceRenderer load_face_renderer(const StreamRenderOptions& o, const StreamInputs& in,
                                          const torch::Device& device) {
    renderer::Generator g = renderer::load_ned_generator(o.renderer, in.track.crop_size, o.allow_crop_size_mismatch);
    NED_LOG_INFO("[translate] renderer {} (ngf {}, {} ResNet blocks), {} on {}", o.renderer, g->cfg.ngf,
                 g->cfg.n_blocks, renderer::precision_name(o.precision), device.str());
    return renderer::FaceRenderer(std::move(g), device, o.precision);
}

/// With keep_faces a resumable sequence: the faces (and edit masks) in WORK, the resume file after each frame.
renderer::SequenceOptions sequence_options(const StreamRenderOptions& o, int crop_size) {
    const fs::path wd(o.work);
    renderer::SequenceOptions so;
    if (o.keep_faces) {
        so.resume_file = wd / "render_resume.safetensors";
        so.resume_key = o.resume_key;
        so.output_dirs = {wd / "faces"};
        if (o.follow_edit_mask) so.output_dirs.push_back(wd / "edit_masks" / "crop");
        so.stale_dirs = {wd / "edit_masks" / "crop", wd / "edit_masks" / "aligned", wd / "faces_aligned"};
    }
    so.crop_size = crop_size;
    so.overlap_writes = false;  // the faces go to the compositor in frame order right away
    so.log_tag = "[translate]";
    return so;
}

/// The conditioning thread: the conditioning batches from the step `first` on (those of an uninterrupted pass,
/// conditioning_batches), edit masks, into `queue`. Returns its busy time.
double condition_frames(const StreamRenderOptions& o, const StreamInputs& in,
                        const conditioning::ConditioningRenderer& conditioner,
                        const std::vector<renderer::FrameStep>& steps, int64_t first, BoundedQueue<CondItem>& queue) {
    double busy_s = 0;
    const int64_t total = static_cast<int64_t>(steps.size());
    for (const auto& [b, e] : conditioning_batches(first, total, kConditioningBatch)) {
        const auto t0 = Clock::now();
        std::vector<int64_t> batch_frames;
        for (int64_t i = b; i < e; ++i) batch_frames.push_back(steps[i].frame);
        const std::vector<conditioning::ConditioningFrame> batch = conditioner.render(in.track, in.rec, batch_frames);
        std::vector<CondItem> items;
        for (size_t k = 0; k < batch.size(); ++k) {
            if (b + static_cast<int64_t>(k) < first) continue;  // before the resume point
            const auto& cf = batch[k];
            CondItem item;
            item.nmfc = cf.nmfc;
            item.eyes = cf.eyes;
            item.shape = cf.shape;
            item.frame.frame = cf.frame_index;
            item.frame.align = in.track.frames[cf.frame_index].align;
            masks_of(o, in.track, cf.frame_index, cf.nmfc, item.frame);
            items.push_back(std::move(item));
        }
        busy_s += seconds_since(t0);
        for (auto& it : items) queue.push(std::move(it));
    }
    queue.close();
    return busy_s;
}

/// The renderer thread's conditioning: the conditioning thread's items, in the plan's order.
class QueuedConditioning : public renderer::ConditioningSource {
public:
    explicit QueuedConditioning(BoundedQueue<CondItem>& queue) : queue_(queue) {}
    renderer::ConditionedFrame get(int64_t frame) override {
        CondItem item;
        if (!queue_.pop(item)) throw Error(cat("internal: the conditioning of frame ", frame, " never came"));
        item.frame.cond = renderer::conditioning_tensor(item.nmfc, item.eyes, item.shape);
        return std::move(item.frame);
    }

private:
    BoundedQueue<CondItem>& queue_;
};

/// The renderer thread's faces: with keep_faces written to WORK/faces and WORK/edit_masks/crop, then handed to
/// the compositor.
class QueuedFaces : public renderer::FaceSink {
public:
    QueuedFaces(const StreamRenderOptions& o, BoundedQueue<renderer::RenderedFace>& queue) : o_(o), queue_(queue) {}
    void store(const renderer::RenderedFace& f) override {
        if (!o_.keep_faces) return;
        const std::string name = frame_name(f.frame, ".png");
        write_png_atomic(fs::path(o_.work) / "faces" / name, f.face);
        if (o_.follow_edit_mask) write_png_atomic(fs::path(o_.work) / "edit_masks" / "crop" / name, f.blend_mask);
    }
    void deliver(renderer::RenderedFace&& f) override { queue_.push(std::move(f)); }

private:
    const StreamRenderOptions& o_;
    BoundedQueue<renderer::RenderedFace>& queue_;
};

/// The compositor's faces in frame order (its two workers may ask at once): those kept by an interrupted run
/// from WORK, the others from the renderer thread.
class FaceFeed {
public:
    FaceFeed(const StreamRenderOptions& o, const face::FaceTrack& track, const std::vector<renderer::FrameStep>& steps,
             int64_t start, BoundedQueue<renderer::RenderedFace>& queue)
        : rendered_(track.frames.size(), 0), resumed_(track.frames.size(), 0), queue_(queue) {
        std::vector<int64_t> kept_frames;
        for (int64_t i = 0; i < static_cast<int64_t>(steps.size()); ++i) {
            (i < start ? resumed_ : rendered_)[steps[i].frame] = 1;
            if (i < start) kept_frames.push_back(steps[i].frame);
        }
        if (start > 0) files_ = kept_faces(track, o.work, o.follow_edit_mask, kept_frames);
    }
    bool take(long t, cv::Mat& face, cv::Mat& mask) {
        if (resumed_[t]) return files_(t, face, mask);
        if (!rendered_[t]) return false;
        std::lock_guard<std::mutex> lk(mutex_);
        const auto t0 = Clock::now();  // inside the lock: the two workers' waits never overlap
        auto it = early_.find(t);
        while (it == early_.end()) {
            renderer::RenderedFace item;
            if (!queue_.pop(item)) throw Error(cat("internal: the renderer stopped before frame ", t));
            it = early_.emplace(item.frame, std::move(item)).first;
            if (it->first != t) it = early_.find(t);
        }
        face = std::move(it->second.face);
        mask = std::move(it->second.blend_mask);
        early_.erase(it);
        waited_s_ += seconds_since(t0);
        return true;
    }
    double waited_s() const { return waited_s_; }

private:
    std::vector<char> rendered_, resumed_;
    blend::FaceSource files_;
    BoundedQueue<renderer::RenderedFace>& queue_;
    std::mutex mutex_;
    std::map<int64_t, renderer::RenderedFace> early_;  ///< popped by the other compositor worker
    double waited_s_ = 0;
};

/// The three threads: conditioning -> renderer (SequenceRenderer) -> compositing on the calling thread.
void run_threads(const StreamRenderOptions& o, const StreamInputs& in,
                 const conditioning::ConditioningRenderer& conditioner, renderer::SequenceRenderer& sequence,
                 const ProgressFn& progress, StreamRenderResult& result) {
    BoundedQueue<CondItem> cond_queue(2 * kConditioningBatch);
    BoundedQueue<renderer::RenderedFace> face_queue(8);
    double condition_s = 0;
    renderer::SequenceResult rendered;
    StreamThread conditioning_thread(
        [&] {
            condition_s =
                condition_frames(o, in, conditioner, sequence.steps(), sequence.first_conditioned(), cond_queue);
        },
        cond_queue, face_queue);
    StreamThread renderer_thread(
        [&] {
            QueuedConditioning source(cond_queue);
            QueuedFaces sink(o, face_queue);
            rendered = sequence.run(source, sink);
            face_queue.close();
        },
        cond_queue, face_queue);

    FaceFeed feed(o, in.track, sequence.steps(), sequence.first_step(), face_queue);
    const auto t_composite = Clock::now();
    try {
        result.composited = blend::composite_video(
            o.input, in.track, o.output, o.composite,
            [&feed](long t, cv::Mat& face, cv::Mat& mask) { return feed.take(t, face, mask); }, progress);
    } catch (...) {
        cond_queue.abort();  // stop the other threads (a no-op if they failed first: their error is kept)
        face_queue.abort();
        throw;
    }
    conditioning_thread.join();
    renderer_thread.join();
    result.frames = rendered.frames_rendered;
    result.condition_s = condition_s;
    result.render_s = rendered.busy_s;
    result.composite_s = std::max(0.0, seconds_since(t_composite) - feed.waited_s());
}

}  // namespace

StreamRenderResult stream_render(const StreamRenderOptions& o, const ProgressFn& progress) {
    const auto t_start = Clock::now();
    const StreamInputs in = load_inputs(o);

    // Models, loaded here so a bad file fails before any thread starts.
    const torch::Device device = resolve_device(o.device);
    const recon::FlameModel flame = recon::FlameModel::load(o.flame, device);
    std::optional<recon::DecaModel> deca;
    if (!o.deca.empty()) deca = recon::DecaModel::load(o.deca, device);
    const conditioning::ConditioningRenderer conditioner = make_conditioner(flame, deca ? &*deca : nullptr, in);
    renderer::FaceRenderer face_renderer = load_face_renderer(o, in, device);

    // The plan (NED's edge rule per segment: runs of frames, cut at shot starts) and, with kept faces, the
    // resume point of a killed run.
    const std::vector<renderer::FrameStep> steps =
        renderer::plan_track_steps(in.track, conditioning::frames_to_render(in.track, in.rec));
    renderer::SequenceRenderer sequence(face_renderer, steps, sequence_options(o, in.track.crop_size));

    StreamRenderResult result;
    result.frames_resumed = sequence.first_step();
    run_threads(o, in, conditioner, sequence, progress, result);
    sequence.remove_resume_file();
    result.wall_s = seconds_since(t_start);
    NED_LOG_INFO("[translate] rendered {} frames ({} kept from an interrupted run), {} composited", result.frames,
                 result.frames_resumed, result.composited);
    return result;
}

}  // namespace ned::pipeline
