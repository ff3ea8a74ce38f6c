// Conditioning images of frames: FLAME (+ D_detail) forward in torch, then DECA renderings, warps and eye
// images on plain arrays, frames in parallel (ned-reference §1.9, §5.1-§5.3).
#include "ned/conditioning/conditioning.hpp"

#include <opencv2/imgproc.hpp>

#include <cmath>
#include <thread>

#include "ned/core/error.hpp"
#include "ned/core/parallel.hpp"
#include "ned/core/torch_util.hpp"
#include "ned/face/eye_image.hpp"
#include "ned/recon/deca.hpp"
#include "ned/recon/flame.hpp"
#include "ned/recon/reconstruction.hpp"

namespace ned::conditioning {
namespace {

cv::Point2f trunc_pt(cv::Point2f p) { return {std::trunc(p.x), std::trunc(p.y)}; }

cv::Point2f mean6(const std::array<cv::Point2f, 6>& e) {
    cv::Point2f m(0, 0);
    for (const auto& p : e) m += p;
    return m * (1.f / 6.f);
}

cv::Point2f apply(const cv::Matx23f& m, cv::Point2f p) {
    return {m(0, 0) * p.x + m(0, 1) * p.y + m(0, 2), m(1, 0) * p.x + m(1, 1) * p.y + m(1, 2)};
}

cv::Mat tensor_uv_map(const torch::Tensor& t) {
    auto c = t.to(torch::kCPU, torch::kFloat32).contiguous();
    return cv::Mat(static_cast<int>(c.size(0)), static_cast<int>(c.size(1)), CV_32F, c.data_ptr<float>()).clone();
}

}  // namespace

EyePoints move_pupils_with_contour(const EyePoints& source, const std::array<cv::Point2f, 12>& target_contour) {
    EyePoints t;
    for (int k = 0; k < 6; ++k) {
        t.left[k] = target_contour[k];
        t.right[k] = target_contour[6 + k];
    }
    t.left_pupil = trunc_pt(source.left_pupil + (mean6(t.left) - mean6(source.left)));
    t.right_pupil = trunc_pt(source.right_pupil + (mean6(t.right) - mean6(source.right)));
    for (auto& p : t.left) p = trunc_pt(p);
    for (auto& p : t.right) p = trunc_pt(p);
    return t;
}

EyePoints transform_eye_points(const EyePoints& p, const cv::Matx23f& m) {
    EyePoints o;
    for (int k = 0; k < 6; ++k) {
        o.left[k] = apply(m, p.left[k]);
        o.right[k] = apply(m, p.right[k]);
    }
    o.left_pupil = apply(m, p.left_pupil);
    o.right_pupil = apply(m, p.right_pupil);
    return o;
}

std::array<cv::Point2f, 12> mesh_eye_contour(const float* lmk2d, const float cam[3], const cv::Matx33f& tform) {
    const cv::Matx33f inv = tform.inv();
    std::array<cv::Point2f, 12> out;
    for (int k = 0; k < 12; ++k) {
        const float* l = lmk2d + 2 * (36 + k);
        const float x = 112.f + 112.f * (cam[0] * (l[0] + cam[1]));
        const float y = 112.f + 112.f * (-cam[0] * (l[1] + cam[2]));
        const cv::Vec3f q = inv * cv::Vec3f(x, y, 1.f);
        out[k] = {q[0] / q[2], q[1] / q[2]};
    }
    return out;
}

MeshTopology topology_from_flame(const recon::FlameModel& flame) {
    MeshTopology t;
    t.num_vertices = flame.num_vertices();
    auto faces = flame.faces().to(torch::kCPU, torch::kInt32).contiguous();
    t.faces.assign(faces.data_ptr<int32_t>(), faces.data_ptr<int32_t>() + faces.numel());
    auto vt = flame.v_template().to(torch::kCPU, torch::kFloat32).contiguous();
    t.nmfc_colors = nmfc_vertex_colors(vt.data_ptr<float>(), t.num_vertices);
    if (flame.has_uv()) {
        auto uv = flame.uv_coords().to(torch::kCPU, torch::kFloat32).contiguous();
        t.uv_coords.assign(uv.data_ptr<float>(), uv.data_ptr<float>() + uv.numel());
        auto uf = flame.uv_faces().to(torch::kCPU, torch::kInt32).contiguous();
        t.uv_faces.assign(uf.data_ptr<int32_t>(), uf.data_ptr<int32_t>() + uf.numel());
        if (flame.has_fixed_displacement()) t.fixed_displacement = tensor_uv_map(flame.fixed_displacement());
        if (flame.has_uv_face_eye_mask()) t.uv_face_eye_mask = tensor_uv_map(flame.uv_face_eye_mask());
    }
    return t;
}

ConditioningFrame conditioning_from_deca(const DecaImages& di, const cv::Matx33f& tform, const cv::Matx23f& align,
                                         const EyePoints& eyes, int crop_size, bool keep_crop_images) {
    ConditioningFrame cf;
    cf.detailed = di.detailed;
    cf.eye_points = eyes;
    // NMFC (3 channels) and the grey shape (1 channel) share one 4-channel pass through both warps;
    // every channel is warped independently, so this equals warping them one by one.
    cv::Mat packed, shape_grey;
    cv::extractChannel(di.shape, shape_grey, 0);
    cv::merge(std::vector<cv::Mat>{di.nmfc, shape_grey}, packed);
    const cv::Mat crop4 = deca_to_crop(packed, tform, crop_size);
    const cv::Mat aligned4 = crop_to_aligned(crop4, align, crop_size);
    auto unpack = [](const cv::Mat& m4, cv::Mat& nmfc, cv::Mat& shape) {
        cv::Mat ch[4];
        cv::split(m4, ch);
        cv::merge(std::vector<cv::Mat>{ch[0], ch[1], ch[2]}, nmfc);
        cv::merge(std::vector<cv::Mat>{ch[3], ch[3], ch[3]}, shape);
    };
    unpack(aligned4, cf.nmfc, cf.shape);
    cf.eyes = face::draw_eye_image(transform_eye_points(eyes, align), crop_size);
    if (keep_crop_images) {
        unpack(crop4, cf.nmfc_crop, cf.shape_crop);
        cf.eyes_crop = face::draw_eye_image(eyes, crop_size);
    }
    return cf;
}

namespace {
// With FLAME on a GPU the meshes are rasterized there too (the CUDA backend gives the CPU backend's fragments
// exactly: rasterizer.hpp), unless the caller chose a backend or this build/machine has no CUDA rasterizer.
DecaImageOptions deca_options_for(const recon::FlameModel& flame, DecaImageOptions o) {
    if (flame.device().is_cuda() && o.raster.backend == RasterBackend::Cpu && cuda_rasterizer_available())
        o.raster.backend = RasterBackend::Cuda;
    return o;
}
}  // namespace

ConditioningRenderer::ConditioningRenderer(const recon::FlameModel& flame, recon::DecaModel* deca,
                                           const ConditioningOptions& options)
    : flame_(flame), deca_(deca), options_(options),
      deca_renderer_(topology_from_flame(flame), deca_options_for(flame, options.deca)) {
    if (options_.crop_size <= 0) throw InputError(cat("[render] crop size must be positive, got ", options_.crop_size));
    if (options_.threads <= 0) options_.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

bool ConditioningRenderer::detailed_for(const recon::Reconstruction& rec, std::string* why_not) const {
    auto no = [&](const char* why) {
        if (why_not) *why_not = why;
        return false;
    };
    if (!deca_) return no("no DECA weights given (--deca)");
    if (!rec.has("detail")) return no("the reconstruction has no DECA detail codes");
    if (!deca_renderer_.topology().has_uv()) return no("the FLAME asset has no UV data (uv_coords/uv_faces)");
    return true;
}

std::vector<ConditioningFrame> ConditioningRenderer::render(const face::FaceTrack& track,
                                                            const recon::Reconstruction& rec,
                                                            const std::vector<int64_t>& frames) const {
    std::vector<ConditioningFrame> out(frames.size());
    if (frames.empty()) return out;
    if (!track.has_analysis)
        throw InputError("[render] the track has no analysis (landmarks, alignment, pupils); run `ned analyze` first");
    for (const char* name : {"exp", "pose", "cam", "tform"})
        if (!rec.has(name))
            throw InputError(cat("[render] reconstruction has no '", name, "' parameters (needed for rendering)"));
    const int64_t B = static_cast<int64_t>(frames.size());
    for (int64_t t : frames) {
        if (t < 0 || t >= rec.num_frames() || t >= static_cast<int64_t>(track.frames.size()))
            throw InputError(cat("[render] frame ", t, " is outside the track/reconstruction (", track.frames.size(),
                                 "/", rec.num_frames(), " frames)"));
        if (!rec.valid[t] || !track.frames[t].valid)
            throw InputError(cat("[render] frame ", t, " has no face in the track or reconstruction"));
    }
    auto gather = [&](const std::string& name) {
        const auto& blk = rec.at(name);
        const int64_t n = blk.row_size();
        auto t = torch::empty({B, n}, torch::kFloat32);
        for (int64_t b = 0; b < B; ++b)
            std::copy(blk.row(frames[b]), blk.row(frames[b]) + n, t.data_ptr<float>() + b * n);
        return t;
    };
    const bool detailed = detailed_for(rec);
    torch::Tensor verts, lmk2d, uvz;
    {
        torch::NoGradGuard ng;
        auto exp = gather("exp"), pose = gather("pose");
        auto shape = rec.has("shape") ? gather("shape") : torch::zeros({B, recon::kFlameShapeDims});
        auto fo = flame_.forward(shape, exp, pose);
        verts = fo.vertices.to(torch::kCPU, torch::kFloat32).contiguous();
        lmk2d = fo.landmarks2d.to(torch::kCPU, torch::kFloat32).contiguous();
        if (detailed) {
            auto dev = deca_->device();
            uvz = deca_->decode_detail(gather("detail").to(dev), exp.to(dev), pose.slice(1, 3, 6).to(dev))
                      .to(torch::kCPU, torch::kFloat32)
                      .contiguous();
        }
    }
    const auto& cam_blk = rec.at("cam");
    const auto& tf_blk = rec.at("tform");
    const int64_t V = verts.size(1);
    const int S = options_.crop_size;

    auto one = [&](int64_t b) {
        const int64_t t = frames[b];
        const face::FaceFrame& ff = track.frames[t];
        const float* cam = cam_blk.row(t);
        const float* tf = tf_blk.row(t);
        const cv::Matx33f tform(tf[0], tf[1], tf[2], tf[3], tf[4], tf[5], tf[6], tf[7], tf[8]);
        cv::Mat disp;
        if (detailed) disp = cv::Mat(kUvSize, kUvSize, CV_32F, uvz[b].data_ptr<float>());
        const DecaImages di = deca_renderer_.render(verts.data_ptr<float>() + b * V * 3, cam, disp);
        const EyePoints src = face::eye_points(ff);
        const EyePoints eyes =
            options_.eyes == EyeSource::Track
                ? src
                : move_pupils_with_contour(src, mesh_eye_contour(lmk2d.data_ptr<float>() + b * 68 * 2, cam, tform));
        out[b] = conditioning_from_deca(di, tform, ff.align, eyes, S, options_.keep_crop_images);
        out[b].frame_index = t;
    };

    parallel_for(B, options_.threads, one);
    return out;
}

}  // namespace ned::conditioning
