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
#include "ned/core/fault.hpp"
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

namespace fs = std::filesystem;

namespace ned::pipeline {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

constexpr int kConditioningBatch = 16;  // frames per FLAME/D_detail forward (as `ned render-inputs`)

/// One frame's renderer input (8-bit images: a quarter of the float tensor's memory in the queue).
struct CondItem {
    int64_t frame = -1;
    cv::Mat nmfc, eyes, shape;  ///< aligned conditioning images, BGR u8
    cv::Mat aligned_mask;       ///< the renderer's mask, aligned space, u8 0/255
    cv::Mat unalign_mask;       ///< crop-space mask that cuts the unaligned face
    cv::Mat blend_mask;         ///< the compositor's crop-space mask (empty: default_mask_for)
};

/// One frame's new face for the compositor.
struct FaceItem {
    int64_t frame = -1;
    cv::Mat face, mask;  ///< crop space; mask empty = default
};

/// The masks of frame t as the staged path makes them (the mask stage, then `ned render --masks`, or the
/// analysis masks of `ned render` without the edit mask).
void masks_of(const StreamRenderOptions& o, const face::FaceTrack& track, int64_t t, const cv::Mat& nmfc,
              CondItem& item) {
    const auto& ff = track.frames[t];
    if (!o.follow_edit_mask) {
        renderer::analysis_masks(track, o.work, t, item.unalign_mask, item.aligned_mask);
        return;  // the compositor takes its default (landmark) mask
    }
    const int cs = track.crop_size;
    const cv::Mat coverage = conditioning::edit_mask(cv::Mat::zeros(nmfc.size(), CV_8UC1), nmfc);  // NMFC > 0
    cv::Mat src_crop;
    const fs::path seg = fs::path(o.work) / "masks" / frame_name(t, ".png");
    if (o.segmentation_masks && fs::exists(seg)) src_crop = read_image(seg.string(), cv::IMREAD_GRAYSCALE, "mask");
    if (src_crop.empty()) src_crop = blend::default_mask_for(track, t);
    if (src_crop.size() != cv::Size(cs, cs))
        throw InputError(cat("mask ", seg.string(), " is ", src_crop.cols, "x", src_crop.rows, ", expected ", cs, "x", cs));
    src_crop = src_crop > 127;
    const cv::Size size(cs, cs);
    cv::Mat src_aligned, cov_crop;
    cv::warpAffine(src_crop, src_aligned, cv::Mat(ff.align), size, cv::INTER_NEAREST);
    cv::warpAffine(coverage, cov_crop, cv::Mat(ff.align), size, cv::INTER_NEAREST | cv::WARP_INVERSE_MAP);
    item.aligned_mask = cv::max(src_aligned, coverage);
    item.blend_mask = cv::max(src_crop, cov_crop);
    cv::warpAffine(item.aligned_mask, item.unalign_mask, cv::Mat(ff.align), size,
                   cv::WARP_INVERSE_MAP | cv::INTER_NEAREST, cv::BORDER_CONSTANT, cv::Scalar::all(0));
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
    const blend::FaceSource files =
        blend::face_files(track, faces, follow_edit_mask ? (fs::path(work) / "edit_masks" / "crop").string() : std::string());
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

StreamRenderResult stream_render(const StreamRenderOptions& o, const ProgressFn& progress) {
    const auto t_start = Clock::now();
    const fs::path wd(o.work);
    const std::string track_path = (wd / "track.safetensors").string();
    const face::FaceTrack track = face::load_track(track_path);
    const recon::Reconstruction rec = recon::load_reconstruction(o.edited);
    if (!track.has_analysis)
        throw InputError(cat(track_path, " has no analysis (landmarks, alignment, pupils); run `ned analyze`"));
    if (rec.num_frames() != static_cast<int64_t>(track.frames.size()))
        throw InputError(cat(o.edited, " has ", rec.num_frames(), " frames but ", track_path, " has ", track.frames.size()));
    const int S = track.crop_size;
    const renderer::Precision precision = renderer::parse_precision(o.precision);
    const int threads = o.threads > 0 ? o.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

    // Models, loaded here so a bad file fails before any thread starts.
    const torch::Device device = resolve_device(o.device);
    const recon::FlameModel flame = recon::FlameModel::load(o.flame, device);
    std::optional<recon::DecaModel> deca;
    if (!o.deca.empty()) deca = recon::DecaModel::load(o.deca, device);
    conditioning::ConditioningOptions copt;
    copt.crop_size = S;
    copt.eyes = conditioning::EyeSource::Mesh;  // edited expressions: create_inputs.py's eyes (render-inputs' auto)
    copt.threads = threads;
    copt.deca.raster.threads = 1;  // parallel across frames instead
    const conditioning::ConditioningRenderer conditioner(flame, deca ? &*deca : nullptr, copt);
    std::string why_coarse;
    if (!conditioner.detailed_for(rec, &why_coarse))
        NED_LOG_WARN("[translate] shape images are coarse (vertex normals): {}", why_coarse);
    renderer::Generator g = renderer::load_generator(o.renderer, torch::kCPU);
    if (g->cfg.cond_nc != 27 || g->cfg.prev_nc != 6 || g->cfg.output_nc != 3)
        throw ModelError(cat("[renderer] ", o.renderer, " takes ", g->cfg.cond_nc, "+", g->cfg.prev_nc,
                             " input channels and makes ", g->cfg.output_nc, "; NED's renderer takes 27+6 and makes 3"));
    if (S % (1 << g->cfg.n_downsample) != 0)
        throw InputError(cat("[renderer] crop size ", S, " is not a multiple of ", 1 << g->cfg.n_downsample));
    NED_LOG_INFO("[translate] renderer {} (ngf {}, {} ResNet blocks), {} on {}", o.renderer, g->cfg.ngf, g->cfg.n_blocks,
                 renderer::precision_name(precision), device.str());
    renderer::FaceRenderer face_renderer(std::move(g), device, precision);

    // The plan: NED's edge rule per segment (runs of frames, cut at shot starts).
    const std::vector<int64_t> frames = conditioning::frames_to_render(track, rec);
    std::vector<int64_t> cuts;
    for (int64_t t : frames)
        if (track.frames[t].shot_start) cuts.push_back(t);
    const std::vector<renderer::FrameStep> steps = renderer::plan_steps(frames, cuts);
    const int64_t total = static_cast<int64_t>(steps.size());

    // Kept faces and the resume point.
    const fs::path faces_dir = wd / "faces", masks_dir = wd / "edit_masks" / "crop";
    const fs::path resume_file = wd / "render_resume.safetensors";
    int64_t start = 0;
    if (o.keep_faces) {
        std::vector<fs::path> dirs{faces_dir};
        if (o.follow_edit_mask) dirs.push_back(masks_dir);
        torch::Tensor prev;
        start = renderer::read_render_resume(resume_file, o.resume_key, steps, dirs,
                                             face_renderer.config().prev_nc, S, prev);
        if (start > 0) {
            if (start < total && !steps[start].restart) face_renderer.set_previous(prev);
            NED_LOG_INFO("[translate] continuing an interrupted run: frames {}..{} were rendered, {} left",
                         steps.front().frame, steps[start - 1].frame, total - start);
        } else {
            std::error_code ec;
            fs::remove(resume_file, ec);
            for (const auto& d : {faces_dir, masks_dir, wd / "edit_masks" / "aligned", wd / "faces_aligned"})
                remove_files_with_extension(d.string(), ".png");
            fs::create_directories(faces_dir);
            if (o.follow_edit_mask) fs::create_directories(masks_dir);
        }
    }
    // Conditioning starts at the first frame the first step still to render reads (its segment's t-2).
    int64_t first_cond = total;
    if (start < total) {
        const int64_t f0 = steps[start].cond[0];
        first_cond = std::find_if(steps.begin(), steps.end(), [&](const auto& s) { return s.frame == f0; }) - steps.begin();
    }

    StreamRenderResult result;
    result.frames_resumed = start;
    BoundedQueue<CondItem> cond_queue(2 * kConditioningBatch);
    BoundedQueue<FaceItem> face_queue(8);
    double condition_s = 0, render_s = 0;

    StreamThread conditioning_thread(
        [&] {
            for (const auto& [b, e] : conditioning_batches(first_cond, total, kConditioningBatch)) {
                const auto t0 = Clock::now();
                std::vector<int64_t> batch_frames;
                for (int64_t i = b; i < e; ++i) batch_frames.push_back(steps[i].frame);
                const std::vector<conditioning::ConditioningFrame> batch = conditioner.render(track, rec, batch_frames);
                std::vector<CondItem> items;
                for (size_t k = 0; k < batch.size(); ++k) {
                    if (b + static_cast<int64_t>(k) < first_cond) continue;  // before the resume point
                    const auto& cf = batch[k];
                    CondItem item;
                    item.frame = cf.frame_index;
                    item.nmfc = cf.nmfc;
                    item.eyes = cf.eyes;
                    item.shape = cf.shape;
                    masks_of(o, track, cf.frame_index, cf.nmfc, item);
                    items.push_back(std::move(item));
                }
                condition_s += seconds_since(t0);
                for (auto& it : items) cond_queue.push(std::move(it));
            }
            cond_queue.close();
        },
        cond_queue, face_queue);

    StreamThread renderer_thread(
        [&] {
            struct Window {
                torch::Tensor cond;  ///< [9,S,S] float [0,1]
                CondItem item;
            };
            std::map<int64_t, Window> window;  // the conditioning of the frames the next step reads
            for (int64_t i = start; i < total; ++i) {
                const renderer::FrameStep& s = steps[i];
                while (!window.count(s.frame)) {
                    CondItem item;
                    if (!cond_queue.pop(item))
                        throw Error(cat("internal: the conditioning of frame ", s.frame, " never came"));
                    const int64_t f = item.frame;
                    const torch::Tensor cond = renderer::conditioning_tensor(item.nmfc, item.eyes, item.shape);
                    window[f] = Window{cond, std::move(item)};
                }
                const auto t0 = Clock::now();
                if (s.restart) face_renderer.reset();
                for (auto it = window.begin(); it != window.end();)
                    it = it->first < s.cond[0] ? window.erase(it) : std::next(it);
                const torch::Tensor cond =
                    torch::cat({window.at(s.cond[0]).cond, window.at(s.cond[1]).cond, window.at(s.cond[2]).cond}, 0)
                        .unsqueeze(0);
                const CondItem& cur = window.at(s.frame).item;
                const torch::Tensor out = face_renderer.step(cond, renderer::mask_tensor(cur.aligned_mask));
                FaceItem face;
                face.frame = s.frame;
                face.face = renderer::unalign_face(renderer::output_to_image(out), track.frames[s.frame].align,
                                                   cur.unalign_mask);
                face.mask = cur.blend_mask;
                if (o.keep_faces) {
                    const std::string name = frame_name(s.frame, ".png");
                    write_png_atomic(faces_dir / name, face.face);
                    if (o.follow_edit_mask) write_png_atomic(masks_dir / name, face.mask);
                    renderer::write_render_resume(resume_file, o.resume_key, i + 1, s.frame, face_renderer.previous());
                }
                // frames 0..i rendered (and, with keep_faces, on disk): the tests of an interrupted run stop the
                // process here (ned/core/fault.hpp)
                fault_point("render.frames_done", i + 1);
                render_s += seconds_since(t0);
                face_queue.push(std::move(face));
            }
            face_queue.close();
        },
        cond_queue, face_queue);

    // The compositor takes the faces in frame order (two frames may ask at once); resumed ones from WORK.
    std::vector<char> rendered(track.frames.size(), 0), resumed(track.frames.size(), 0);
    for (int64_t i = 0; i < total; ++i) (i < start ? resumed : rendered)[steps[i].frame] = 1;
    std::vector<int64_t> kept_frames;
    for (int64_t i = 0; i < start; ++i) kept_frames.push_back(steps[i].frame);
    const blend::FaceSource files =
        start > 0 ? kept_faces(track, o.work, o.follow_edit_mask, kept_frames) : blend::FaceSource();
    std::mutex take_mutex;
    std::map<int64_t, FaceItem> early;  // popped by the other compositor worker
    double waited_s = 0;
    auto source = [&](long t, cv::Mat& face, cv::Mat& mask) -> bool {
        if (resumed[t]) return files(t, face, mask);
        if (!rendered[t]) return false;
        std::lock_guard<std::mutex> lk(take_mutex);
        const auto t0 = Clock::now();  // inside the lock: the two workers' waits never overlap
        auto it = early.find(t);
        while (it == early.end()) {
            FaceItem item;
            if (!face_queue.pop(item)) throw Error(cat("internal: the renderer stopped before frame ", t));
            it = early.emplace(item.frame, std::move(item)).first;
            if (it->first != t) it = early.find(t);
        }
        face = std::move(it->second.face);
        mask = std::move(it->second.mask);
        early.erase(it);
        waited_s += seconds_since(t0);
        return true;
    };
    const auto t_composite = Clock::now();
    try {
        result.composited = blend::composite_video(o.input, track, o.output, o.composite, source, progress);
    } catch (...) {
        cond_queue.abort();  // stop the other threads (a no-op if they failed first: their error is kept)
        face_queue.abort();
        throw;
    }
    conditioning_thread.join();
    renderer_thread.join();
    if (o.keep_faces) {
        std::error_code ec;
        fs::remove(resume_file, ec);
    }
    result.frames = total - start;
    result.wall_s = seconds_since(t_start);
    result.condition_s = condition_s;
    result.render_s = render_s;
    result.composite_s = std::max(0.0, seconds_since(t_composite) - waited_s);
    NED_LOG_INFO("[translate] rendered {} frames ({} kept from an interrupted run), {} composited", result.frames,
                 start, result.composited);
    return result;
}

}  // namespace ned::pipeline
