// `ned render` library side: see include/ned/renderer/render.hpp.
#include "ned/renderer/render.hpp"

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "ned/core/cpu_features.hpp"
#include "ned/core/error.hpp"
#include "ned/core/fs_util.hpp"
#include "ned/core/image_io.hpp"
#include "ned/core/output_dir.hpp"
#include "ned/core/log.hpp"
#include "ned/core/torch_mat.hpp"
#include "ned/face/alignment.hpp"
#include "ned/face/face_mask.hpp"
#include "ned/face/face_track.hpp"
#include "ned/renderer/checkpoint.hpp"
#include "ned/renderer/sequence_renderer.hpp"
#include "renderer/internal.hpp"

namespace fs = std::filesystem;

namespace ned::renderer {

std::vector<FrameStep> plan_steps(std::vector<int64_t> frames, const std::vector<int64_t>& cuts) {
    std::sort(frames.begin(), frames.end());
    NED_CHECK(std::adjacent_find(frames.begin(), frames.end()) == frames.end(), "plan_steps: duplicate frames");
    std::vector<FrameStep> steps;
    steps.reserve(frames.size());
    int64_t start = 0;  // index into frames of the current segment's first frame
    for (size_t i = 0; i < frames.size(); ++i) {
        const int64_t t = frames[i];
        const bool cut = std::find(cuts.begin(), cuts.end(), t) != cuts.end();
        if (i == 0 || frames[i - 1] != t - 1 || cut) start = static_cast<int64_t>(i);
        FrameStep s;
        s.frame = t;
        s.restart = static_cast<int64_t>(i) == start;
        for (int k = 0; k < 3; ++k) s.cond[k] = frames[std::max<int64_t>(start, static_cast<int64_t>(i) - 2 + k)];
        steps.push_back(s);
    }
    return steps;
}

void check_precision(Precision p, const torch::Device& device, const std::string& field) {
    if (device.is_cuda()) return;
    if (p == Precision::Fp16) throw OptionError(field, " fp16 needs a CUDA device (use fp32 or bf16 on the CPU)");
    if (p == Precision::Bf16) cpu::require_native_bf16(field);
}

const char* precision_name(Precision p) {
    switch (p) {
        case Precision::Bf16: return "bf16";
        case Precision::Fp16: return "fp16";
        default: return "fp32";
    }
}

torch::Tensor conditioning_tensor(const cv::Mat& nmfc, const cv::Mat& eyes, const cv::Mat& shape) {
    std::vector<torch::Tensor> parts;
    for (const cv::Mat* m : {&nmfc, &eyes, &shape}) {
        NED_CHECK(m->type() == CV_8UC3 && m->size() == nmfc.size(), "conditioning images must be u8 BGR of one size");
        cv::Mat rgb;
        cv::cvtColor(*m, rgb, cv::COLOR_BGR2RGB);
        parts.push_back(mat_to_tensor(rgb, 1.0 / 255.0));
    }
    return torch::cat(parts, 0);
}

cv::Mat output_to_image(const torch::Tensor& out) {
    torch::Tensor x = out.detach().to(torch::kCPU, torch::kFloat);
    if (x.dim() == 4) x = x[0];
    NED_CHECK(x.dim() == 3 && x.size(0) == 3, "output_to_image expects [3,H,W], got ", x.sizes());
    // NED's tensor2im: (x + 1) / 2 * 255, clip to [0, 255], astype(uint8) (truncation).
    x = ((x + 1) / 2 * 255).clamp(0, 255).to(torch::kUInt8).permute({1, 2, 0}).contiguous();
    cv::Mat rgb(static_cast<int>(x.size(0)), static_cast<int>(x.size(1)), CV_8UC3, x.data_ptr<uint8_t>());
    cv::Mat bgr;
    cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
    return bgr;
}

torch::Tensor mask_tensor(const cv::Mat& mask) {
    cv::Mat m = mask;
    if (m.channels() > 1) cv::extractChannel(mask, m, 0);  // NED reads channel 0
    NED_CHECK(m.depth() == CV_8U, "mask_tensor expects an 8-bit mask");
    cv::Mat bin = m > 127;  // 0 / 255
    return mat_to_tensor(bin, 1.0 / 255.0).unsqueeze(0);
}

cv::Mat unalign_face(const cv::Mat& face_aligned, const cv::Matx23f& align, const cv::Mat& crop_mask) {
    cv::Mat out;
    cv::warpAffine(face_aligned, out, cv::Mat(align), face_aligned.size(), cv::WARP_INVERSE_MAP | cv::INTER_LANCZOS4,
                   cv::BORDER_CONSTANT, cv::Scalar::all(0));
    cv::Mat m = crop_mask;
    if (m.channels() > 1) cv::extractChannel(crop_mask, m, 0);
    NED_CHECK(m.size() == out.size(), "unalign_face: mask size ", m.cols, "x", m.rows, " != face size");
    out.setTo(cv::Scalar::all(0), m == 0);
    return out;
}

// ---------------------------------------------------------------------------------------------------------

FaceRenderer::FaceRenderer(Generator generator, const torch::Device& device, Precision precision)
    : generator_(std::move(generator)), device_(device), dtype_(torch::kFloat) {
    check_precision(precision, device);
    if (precision == Precision::Fp16) dtype_ = torch::kHalf;
    if (precision == Precision::Bf16) dtype_ = torch::kBFloat16;
    generator_->to(device_, dtype_);
    generator_->eval();  // no dropout/batch norm: instance norm always uses per-instance statistics
}

void FaceRenderer::reset() { prev_ = torch::Tensor(); }

torch::Tensor FaceRenderer::previous() const {
    return prev_.defined() ? prev_.to(torch::kCPU, torch::kFloat) : torch::Tensor();
}

void FaceRenderer::set_previous(const torch::Tensor& prev) {
    NED_CHECK(prev.dim() == 4 && prev.size(0) == 1 && prev.size(1) == generator_->cfg.prev_nc,
              "set_previous: expected [1,", generator_->cfg.prev_nc, ",H,W], got ", prev.sizes());
    prev_ = prev.to(device_, dtype_);
}

torch::Tensor FaceRenderer::step(const torch::Tensor& cond, const torch::Tensor& mask) {
    torch::NoGradGuard no_grad;
    const auto& c = generator_->cfg;
    const torch::Tensor x = cond.to(device_, dtype_);
    const torch::Tensor m = mask.to(device_, dtype_);
    if (!prev_.defined() || prev_.size(2) != x.size(2) || prev_.size(3) != x.size(3))
        prev_ = torch::zeros({1, c.prev_nc, x.size(2), x.size(3)}, x.options());
    const torch::Tensor out = generator_->forward(x, prev_, m);
    // Ring buffer (NED's inference): drop the oldest output, append the new one.
    prev_ = torch::cat({prev_.narrow(1, c.output_nc, c.prev_nc - c.output_nc), out}, 1);
    return out.to(torch::kCPU, torch::kFloat);
}

// ---------------------------------------------------------------------------------------------------------
namespace {

using detail::read_image;
using detail::write_png;

constexpr const char* kResumeFormat = "ned.render_resume";

}  // namespace

int64_t read_render_resume(const fs::path& file, const std::string& key, const std::vector<FrameStep>& steps,
                           const std::vector<fs::path>& image_dirs, int prev_nc, int size, torch::Tensor& prev) {
    if (!fs::is_regular_file(file)) return 0;
    try {
        const st::File f = st::load(file.string());
        if (f.meta("format") != kResumeFormat || f.meta("key") != key) {
            NED_LOG_INFO("[renderer] {} is from other inputs (key {}); rendering every frame", file.string(),
                         f.meta("key"));
            return 0;
        }
        const int64_t done = std::stoll(f.meta("done", "0"));
        if (done <= 0 || done > static_cast<int64_t>(steps.size()) ||
            std::stoll(f.meta("last_frame", "-1")) != steps[done - 1].frame)
            return 0;
        for (int64_t i = 0; i < done; ++i)
            for (const auto& d : image_dirs)
                if (!fs::is_regular_file(d / frame_name(steps[i].frame, ".png"))) {
                    NED_LOG_WARN("[renderer] {} lists frame {} but {} has no image of it; rendering every frame",
                                 file.string(), steps[i].frame, d.string());
                    return 0;
                }
        prev = to_torch(f.at("prev", st::DType::F32, {1, prev_nc, size, size}));
        return done;
    } catch (const std::exception& e) {
        NED_LOG_WARN("[renderer] ignoring {}: {}", file.string(), e.what());
        return 0;
    }
}

void write_render_resume(const fs::path& file, const std::string& key, int64_t done, int64_t last_frame,
                         const torch::Tensor& prev) {
    st::File f;
    f.metadata = {{"format", kResumeFormat},
                  {"version", "1"},
                  {"key", key},
                  {"done", std::to_string(done)},
                  {"last_frame", std::to_string(last_frame)}};
    f.tensors["prev"] = from_torch(prev);
    st::save(file.string(), f);
}

namespace {

/// A checked `ned render` run: its folders and device.
struct RenderSetup {
    fs::path workdir, track, conditioning, masks, faces, aligned;
    torch::Device device = torch::kCPU;
};

/// The outputs can be written: not a file in their place, writable, and no faces from another run without -y
/// (exit 2 up front, not a failure after the first frame).
void check_outputs(const RenderSetup& s, bool overwrite) {
    if (::access(s.workdir.c_str(), W_OK) != 0)
        throw InputError(
            cat("[renderer] work folder ", s.workdir.string(), " is not writable (the faces go to faces/ in it)"));
    for (const auto& d : {s.faces, s.aligned}) {
        std::error_code ec;
        if (fs::exists(d, ec) && !fs::is_directory(d, ec))
            throw InputError(cat("[renderer] ", d.string(), " is a file, expected a folder for the faces"));
        if (fs::is_directory(d, ec) && ::access(d.c_str(), W_OK) != 0)
            throw InputError(cat("[renderer] ", d.string(), " is not writable"));
    }
    for (const auto& d : {s.faces, s.aligned})
        if (has_files_with_extension(d.string(), ".png") && !overwrite)
            throw InputError(cat("[renderer] ", d.string(), " already has faces (use -y to overwrite)"));
}

}  // namespace

void RenderOptions::validate() const {
    if (renderer.empty()) throw OptionError("RenderOptions::renderer", " is empty: a renderer checkpoint is required");
    // precision and device: check_precision and resolve_device (they need the device); the folders: check_render
}

namespace {

/// Validate the options and the folders they name (InputError).
RenderSetup check_render(const RenderOptions& o) {
    if (o.workdir.empty() || !fs::is_directory(o.workdir))
        throw InputError(cat("[renderer] work folder '", o.workdir, "' does not exist"));
    o.validate();
    RenderSetup s;
    s.device = resolve_device(o.device);
    check_precision(o.precision, s.device);
    s.workdir = o.workdir;
    s.track = s.workdir / "track.safetensors";
    check_input_file(s.track.string(), "face track");
    s.conditioning = o.conditioning.empty() ? s.workdir / "conditioning" : fs::path(o.conditioning);
    if (!fs::is_directory(s.conditioning))
        throw InputError(cat("[renderer] conditioning folder ", s.conditioning.string(),
                             " does not exist (run `ned render-inputs` or give --conditioning)"));
    if (!o.masks.empty() && !fs::is_directory(o.masks))
        throw InputError(cat("[renderer] mask folder ", o.masks, " does not exist"));
    s.masks = o.masks;
    s.faces = s.workdir / "faces";
    s.aligned = s.workdir / "faces_aligned";
    check_outputs(s, o.overwrite);
    return s;
}

/// The frames with conditioning, each inside the track and with a face there.
std::vector<int64_t> conditioned_frames(const RenderSetup& s, const face::FaceTrack& track) {
    const std::vector<int64_t> frames = detail::conditioning_frames(s.conditioning);
    if (frames.empty())
        throw InputError(cat("[renderer] ", s.conditioning.string(),
                             " lists no frame with conditioning: nothing to render "
                             "(had the track no valid face? run `ned render-inputs` again)"));
    for (int64_t t : frames) {
        if (t < 0 || t >= static_cast<int64_t>(track.frames.size()))
            throw InputError(
                cat("[renderer] conditioning frame ", t, " is outside the track (", track.frames.size(), " frames)"));
        if (!track.frames[t].valid)
            throw InputError(cat("[renderer] conditioning frame ", t, " has no face in the track"));
    }
    return frames;
}

/// Every image of `frames` is on disk (fail before rendering anything rather than after minutes).
void check_frame_files(const RenderSetup& s, const std::vector<int64_t>& frames) {
    for (int64_t t : frames)
        for (const char* kind : {"nmfc", "eyes", "shape"})
            if (!fs::is_regular_file(s.conditioning / kind / frame_name(t, ".png")))
                throw InputError(cat("[renderer] missing conditioning image ",
                                     (s.conditioning / kind / frame_name(t, ".png")).string(), " (frame ", t,
                                     " has conditioning in ", s.conditioning.string(), ")"));
    if (!s.masks.empty())
        for (int64_t t : frames)
            if (!fs::is_regular_file(s.masks / frame_name(t, ".png")))
                throw InputError(cat("[renderer] missing mask ", (s.masks / frame_name(t, ".png")).string()));
}

/// `ned render`'s conditioning: the PNGs of the conditioning folder, the masks of --masks or of the analysis.
class WorkdirConditioning : public ConditioningSource {
public:
    WorkdirConditioning(const RenderSetup& s, const face::FaceTrack& track) : s_(s), track_(track) {}
    ConditionedFrame get(int64_t t) override {
        const int S = track_.crop_size;
        const std::string name = frame_name(t, ".png");
        ConditionedFrame c;
        c.frame = t;
        const cv::Mat nmfc = read_image(s_.conditioning / "nmfc" / name, cv::IMREAD_COLOR, S, "NMFC image");
        const cv::Mat eyes = read_image(s_.conditioning / "eyes" / name, cv::IMREAD_COLOR, S, "eye image");
        const cv::Mat shape = read_image(s_.conditioning / "shape" / name, cv::IMREAD_COLOR, S, "shape image");
        c.cond = conditioning_tensor(nmfc, eyes, shape);
        c.align = track_.frames[t].align;
        if (s_.masks.empty()) {
            analysis_masks(track_, s_.workdir, t, c.crop_mask, c.aligned_mask);
        } else {
            c.aligned_mask = read_image(s_.masks / name, cv::IMREAD_GRAYSCALE, S, "mask");
            cv::warpAffine(c.aligned_mask, c.crop_mask, cv::Mat(c.align), c.aligned_mask.size(),
                           cv::WARP_INVERSE_MAP | cv::INTER_NEAREST, cv::BORDER_CONSTANT, cv::Scalar::all(0));
        }
        return c;
    }

private:
    const RenderSetup& s_;
    const face::FaceTrack& track_;
};

/// `ned render`'s faces: faces_aligned/ and faces/ PNGs.
class WorkdirFaces : public FaceSink {
public:
    explicit WorkdirFaces(const RenderSetup& s) : s_(s) {}
    void store(const RenderedFace& f) override {
        write_png(s_.aligned / frame_name(f.frame, ".png"), f.aligned);
        write_png(s_.faces / frame_name(f.frame, ".png"), f.face);
    }

private:
    const RenderSetup& s_;
};

/// The sequence of a run: resumable with a key (the faces kept on a failure), its PNGs written while the next
/// frame renders.
SequenceOptions sequence_options(const RenderOptions& o, const RenderSetup& s, int crop_size) {
    SequenceOptions so;
    if (!o.resume_key.empty()) {
        so.resume_file = s.workdir / "render_resume.safetensors";
        so.resume_key = o.resume_key;
    }
    so.output_dirs = {s.aligned, s.faces};
    so.crop_size = crop_size;
    so.overlap_writes = true;
    so.log_tag = "[renderer]";
    return so;
}

}  // namespace

RenderResult render_workdir(const RenderOptions& o, const ProgressFn& progress) {
    // Validate and plan: every input checked before a model is loaded.
    const RenderSetup s = check_render(o);
    const face::FaceTrack track = face::load_track(s.track.string());
    if (!track.has_analysis)
        throw InputError(cat("[renderer] ", s.track.string(), " has no analysis (alignment); run `ned analyze`"));
    const std::vector<int64_t> frames = conditioned_frames(s, track);
    const std::vector<FrameStep> steps = plan_track_steps(track, frames);
    check_frame_files(s, frames);

    // Load the renderer.
    Generator g = load_ned_generator(o.renderer, track.crop_size, o.allow_crop_size_mismatch);
    NED_LOG_INFO("[renderer] {} (ngf {}, {} ResNet blocks), {} on {}, {} frames", o.renderer, g->cfg.ngf,
                 g->cfg.n_blocks, precision_name(o.precision), s.device.str(), steps.size());
    FaceRenderer renderer(std::move(g), s.device, o.precision);

    // Run: a resumable run keeps its faces on a failure (the resume file says how far they go); otherwise stale
    // faces are removed and, on a failure or a signal, the faces written so far go too (OutputDirs).
    SequenceRenderer sequence(renderer, steps, sequence_options(o, s, track.crop_size));
    OutputDirs out_dirs;  // removed in reverse order
    if (o.resume_key.empty())
        for (const auto& d : {s.faces, s.aligned}) out_dirs.add(d.string(), true);
    WorkdirConditioning source(s, track);
    WorkdirFaces sink(s);
    const SequenceResult r = sequence.run(source, sink, progress);
    out_dirs.commit();
    sequence.remove_resume_file();

    // Report.
    RenderResult result;
    result.frames_rendered = r.frames_resumed + r.frames_rendered;
    result.frames_resumed = r.frames_resumed;
    result.segments = r.segments;
    result.faces_dir = s.faces.string();
    result.faces_aligned_dir = s.aligned.string();
    NED_LOG_INFO("[renderer] rendered {} frames in {} segments into {} and {}", result.frames_rendered, result.segments,
                 result.faces_aligned_dir, result.faces_dir);
    return result;
}

namespace detail {

/// Frames with conditioning: conditioning.json's "frames" when the manifest exists, else the nmfc/ PNGs.
std::vector<int64_t> conditioning_frames(const fs::path& dir) {
    const fs::path manifest = dir / "conditioning.json";
    std::vector<int64_t> frames;
    if (fs::is_regular_file(manifest)) {
        try {
            std::ifstream is(manifest);
            const nlohmann::json j = nlohmann::json::parse(is);
            if (j.value("format", "") != "ned.conditioning")
                throw InputError(cat("[renderer] ", manifest.string(), " is not a ned.conditioning manifest"));
            frames = j.at("frames").get<std::vector<int64_t>>();
        } catch (const nlohmann::json::exception& e) {
            throw InputError(cat("[renderer] ", manifest.string(), " is not valid: ", e.what()));
        }
        return frames;
    }
    if (!fs::is_directory(dir / "nmfc"))
        throw InputError(cat("[renderer] no conditioning images in ", dir.string(),
                             " (no conditioning.json, no nmfc/); run `ned render-inputs`"));
    for (const auto& e : fs::directory_iterator(dir / "nmfc")) {
        if (!e.is_regular_file() || e.path().extension() != ".png") continue;
        const std::string stem = e.path().stem().string();
        if (stem.empty() || !std::all_of(stem.begin(), stem.end(), ::isdigit)) continue;
        frames.push_back(std::stoll(stem));
    }
    return frames;
}

cv::Mat read_image(const fs::path& p, int flags, int size, const char* what) {
    if (!fs::is_regular_file(p)) throw InputError(cat("[renderer] missing ", what, " ", p.string()));
    cv::Mat m = ::ned::read_image(p.string(), flags, cat("[renderer] ", what));  // throws, libpng kept quiet
    if (m.cols != size || m.rows != size)
        throw InputError(cat("[renderer] ", what, " ", p.string(), " is ", m.cols, "x", m.rows, ", expected ", size,
                             "x", size, " (the track's crop size)"));
    return m;
}

void write_png(const fs::path& p, const cv::Mat& img) {
    AtomicFile f(p.string(), /*overwrite=*/true);
    ::ned::write_image(f.temp_path(), img, "[renderer] image", p.string());
    f.commit();
}

}  // namespace detail

void analysis_masks(const face::FaceTrack& track, const fs::path& workdir, int64_t t, cv::Mat& crop_mask,
                    cv::Mat& aligned_mask) {
    const auto& ff = track.frames[t];
    const fs::path p = workdir / "masks" / frame_name(t, ".png");
    if (fs::is_regular_file(p))
        crop_mask = detail::read_image(p, cv::IMREAD_GRAYSCALE, track.crop_size, "mask");
    else
        crop_mask = face::landmark_face_mask(ff.landmarks, track.crop_size);
    aligned_mask = face::warp_to_aligned(crop_mask, ff.align, /*nearest=*/true);
}

}  // namespace ned::renderer
