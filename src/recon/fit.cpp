#include "ned/recon/fit.hpp"

#include <cmath>
#include <utility>

#include "ned/core/error.hpp"
#include "ned/core/log.hpp"
#include "ned/recon/deca_image.hpp"

namespace ned::recon {
namespace {

using torch::indexing::Slice;

// cam is optimised as raw = (log s, s*tx, s*ty): translation in normalised image units, scale in log.
torch::Tensor cam_from_raw(const torch::Tensor& raw) {
    auto s = torch::exp(raw.select(1, 0)).unsqueeze(1);
    return torch::cat({s, raw.slice(1, 1, 3) / s}, 1);
}
torch::Tensor raw_from_cam(const torch::Tensor& cam) {
    auto s = cam.select(1, 0).unsqueeze(1);
    return torch::cat({torch::log(s), cam.slice(1, 1, 3) * s}, 1);
}

// Scale + translation aligning model landmarks xy [68,2] (model space, y up) to targets [n,68,2]
// (normalised image coordinates, y down) -> cam [n,3].
torch::Tensor rigid_cam_init(const torch::Tensor& model_lmk, const torch::Tensor& target) {
    auto t = target.clone();
    t.select(2, 1).neg_();        // to y up
    auto mm = model_lmk.mean(0);  // [2]
    auto tm = t.mean(1);          // [n,2]
    auto vm = (model_lmk - mm).pow(2).sum();
    auto vt = (t - tm.unsqueeze(1)).pow(2).sum({1, 2});              // [n]
    auto s = torch::sqrt(vt / vm.clamp_min(1e-12)).clamp_min(1e-3);  // [n]
    auto trans = tm / s.unsqueeze(1) - mm;                           // [n,2]
    return torch::cat({s.unsqueeze(1), trans}, 1);
}

double cosine_lr(double base, int it, int iters) {
    return base * (0.05 + 0.95 * 0.5 * (1.0 + std::cos(M_PI * it / std::max(1, iters))));
}

struct Priors {
    double w_exp, w_jaw;
};

torch::Tensor data_term(const FlameModel& flame, const torch::Tensor& shape, const torch::Tensor& exp,
                        const torch::Tensor& pose, const torch::Tensor& cam, const torch::Tensor& target) {
    const int64_t n = exp.size(0);
    auto out = flame.forward(shape.expand({n, -1}), exp, pose);
    auto pred = image_coords(out.landmarks2d, cam);
    return (pred - target).pow(2).sum({1, 2});  // [n]
}

/// The result before fitting: zero parameters for every frame, the given validity.
FitResult zero_result(int64_t T, const std::vector<uint8_t>& valid) {
    const auto fopt = torch::TensorOptions().dtype(torch::kFloat32);
    FitResult r;
    r.valid = valid;
    r.shape = torch::zeros({kFlameShapeDims}, fopt);
    r.exp = torch::zeros({T, kFlameExpDims}, fopt);
    r.pose = torch::zeros({T, kFlamePoseDims}, fopt);
    r.cam = torch::zeros({T, 3}, fopt);
    r.tform = torch::zeros({T, 3, 3}, fopt);
    r.error_px = torch::zeros({T}, fopt);
    return r;
}

/// Copies the landmarks into `lmk` [T,68,2] and each valid frame's DECA crop transform into `tform` [T,3,3];
/// returns the valid frames' indices.
std::vector<int64_t> fill_targets(const std::vector<face::Landmarks>& landmarks, const std::vector<uint8_t>& valid,
                                  torch::Tensor& lmk, torch::Tensor& tform) {
    const int64_t T = static_cast<int64_t>(landmarks.size());
    std::vector<int64_t> valid_idx;
    for (int64_t t = 0; t < T; ++t) {
        auto row = lmk[t];
        auto a = row.accessor<float, 2>();
        for (int l = 0; l < 68; ++l) {
            a[l][0] = landmarks[t][l].x;
            a[l][1] = landmarks[t][l].y;
        }
        if (!valid[t]) continue;
        valid_idx.push_back(t);
        auto m = deca_crop_tform(landmarks[t]);
        auto trow = tform[t];
        auto ta = trow.accessor<float, 2>();
        for (int i = 0; i < 3; ++i)
            for (int j = 0; j < 3; ++j) ta[i][j] = m(i, j);
    }
    return valid_idx;
}

/// The 2D landmarks of `shape` [100] with zero expression and pose (CPU).
torch::Tensor template_landmarks(const FlameModel& flame, const torch::Tensor& shape) {
    torch::NoGradGuard ng;
    return flame.forward(shape.unsqueeze(0), torch::zeros({1, kFlameExpDims}), torch::zeros({1, kFlamePoseDims}))
        .landmarks2d[0]
        .cpu();
}

/// Pass 1: the shared shape [1,100] (on the model's device) from frames spread over the video.
torch::Tensor fit_shape(const FlameModel& flame, const torch::Tensor& target_all, const std::vector<int64_t>& valid_idx,
                        const FitOptions& o) {
    const auto dev = flame.device();
    const auto fopt = torch::TensorOptions().dtype(torch::kFloat32);
    torch::Tensor shape = torch::zeros({1, kFlameShapeDims}, fopt.device(dev));
    if (o.shape_iters <= 0) return shape;
    const int64_t n = std::min<int64_t>(std::max(1, o.shape_frames), valid_idx.size());
    std::vector<int64_t> pick;
    for (int64_t i = 0; i < n; ++i) pick.push_back(valid_idx[(i * (int64_t)valid_idx.size()) / n]);
    auto idx = torch::tensor(pick, torch::kLong);
    auto target = target_all.index_select(0, idx).to(dev);
    auto cam0 = rigid_cam_init(template_landmarks(flame, shape.squeeze(0).cpu()), target.cpu());
    auto sh = shape.clone().requires_grad_(true);
    auto ex = torch::zeros({n, kFlameExpDims}, fopt.device(dev)).requires_grad_(true);
    auto po = torch::zeros({n, kFlamePoseDims}, fopt.device(dev)).requires_grad_(true);
    auto cr = raw_from_cam(cam0).to(dev).requires_grad_(true);
    torch::optim::Adam opt({sh, ex, po, cr}, torch::optim::AdamOptions(o.lr));
    for (int it = 0; it < o.shape_iters; ++it) {
        for (auto& g : opt.param_groups()) g.options().set_lr(cosine_lr(o.lr, it, o.shape_iters));
        opt.zero_grad();
        auto loss = data_term(flame, sh, ex, po, cam_from_raw(cr), target).sum() + o.w_exp * ex.pow(2).sum() +
                    o.w_jaw * po.slice(1, 3, 6).pow(2).sum() + o.w_shape * n * sh.pow(2).sum();
        loss.backward();
        opt.step();
    }
    return sh.detach();
}

/// The last fitted frame's parameters ([1,...] each; undefined before the first chunk): the next chunk starts
/// from them and is pulled towards them by the smoothness term.
struct WarmStart {
    torch::Tensor exp, pose, raw;
};

/// Pass 2, one chunk: fits exp/pose/cam of `frames` (with the shared `shape`), writes them and their errors into
/// `r`, advances `warm`; returns the chunk's summed error in crop pixels.
double fit_chunk(const FlameModel& flame, const torch::Tensor& shape, const torch::Tensor& base_lmk,
                 const torch::Tensor& target_all, const std::vector<int64_t>& frames, const FitOptions& o,
                 WarmStart& warm, FitResult& r) {
    const auto dev = flame.device();
    const auto fopt = torch::TensorOptions().dtype(torch::kFloat32);
    const int64_t n = static_cast<int64_t>(frames.size());
    auto idx = torch::tensor(frames, torch::kLong);
    auto target = target_all.index_select(0, idx).to(dev);
    torch::Tensor ex, po, cr;
    if (warm.exp.defined()) {
        ex = warm.exp.expand({n, -1}).clone();
        po = warm.pose.expand({n, -1}).clone();
        cr = warm.raw.expand({n, -1}).clone();
    } else {
        ex = torch::zeros({n, kFlameExpDims}, fopt.device(dev));
        po = torch::zeros({n, kFlamePoseDims}, fopt.device(dev));
        cr = raw_from_cam(rigid_cam_init(base_lmk, target.cpu())).to(dev);
    }
    ex.requires_grad_(true);
    po.requires_grad_(true);
    cr.requires_grad_(true);
    torch::optim::Adam opt({ex, po, cr}, torch::optim::AdamOptions(o.lr));
    const int iters = warm.exp.defined() ? o.iters : o.first_iters;
    auto smooth = [&](const torch::Tensor& x, const torch::Tensor& prev) {
        auto d = x.slice(0, 1) - x.slice(0, 0, n - 1);
        auto s = d.pow(2).sum();
        if (prev.defined()) s = s + (x.slice(0, 0, 1) - prev).pow(2).sum();
        return s;
    };
    for (int it = 0; it < iters; ++it) {
        for (auto& g : opt.param_groups()) g.options().set_lr(cosine_lr(o.lr, it, iters));
        opt.zero_grad();
        auto loss = data_term(flame, shape, ex, po, cam_from_raw(cr), target).sum() + o.w_exp * ex.pow(2).sum() +
                    o.w_jaw * po.slice(1, 3, 6).pow(2).sum() +
                    o.w_smooth * (smooth(ex, warm.exp) + 10.0 * smooth(po, warm.pose) + smooth(cr, warm.raw));
        loss.backward();
        opt.step();
    }
    torch::NoGradGuard ng;
    auto cam = cam_from_raw(cr);
    auto out = flame.forward(shape.expand({n, -1}), ex, po);
    auto pred = image_coords(out.landmarks2d, cam);
    // error in 224 pixels, then in 256-crop pixels via the tform scale
    auto err224 = ((pred - target).norm(2, {2}) * (kDecaImageSize / 2.0)).mean(1).cpu();  // [n]
    auto scale = r.tform.index_select(0, idx).select(1, 0).select(1, 0);                  // [n]
    auto err = err224 / scale;
    r.exp.index_copy_(0, idx, ex.detach().cpu());
    r.pose.index_copy_(0, idx, po.detach().cpu());
    r.cam.index_copy_(0, idx, cam.cpu());
    r.error_px.index_copy_(0, idx, err);
    warm.exp = ex.detach().slice(0, n - 1, n);
    warm.pose = po.detach().slice(0, n - 1, n);
    warm.raw = cr.detach().slice(0, n - 1, n);
    return err.sum().item<double>();
}

}  // namespace

torch::Tensor crop_to_deca_ndc(const torch::Tensor& landmarks, const torch::Tensor& tform) {
    auto A = tform.slice(1, 0, 2).slice(2, 0, 2);  // [N,2,2]
    auto b = tform.slice(1, 0, 2).select(2, 2);    // [N,2]
    auto p = torch::matmul(landmarks, A.transpose(1, 2)) + b.unsqueeze(1);
    return p / (kDecaImageSize / 2.0) - 1.0;
}

void FitOptions::validate() const {
    const auto steps = [](const char* field, int v) {
        if (v < 0) throw OptionError(cat("FitOptions::", field), cat(" must be >= 0 (got ", v, ")"));
    };
    if (chunk < 1) throw OptionError("FitOptions::chunk", cat(" must be >= 1 (got ", chunk, ")"));
    steps("iters", iters);
    steps("first_iters", first_iters);
    steps("shape_iters", shape_iters);
    if (!(std::isfinite(lr) && lr > 0))
        throw OptionError("FitOptions::lr", cat(" must be a finite number > 0 (got ", lr, ")"));
    for (const auto& [field, w] : {std::pair<const char*, double>{"w_shape", w_shape},
                                   {"w_exp", w_exp},
                                   {"w_jaw", w_jaw},
                                   {"w_smooth", w_smooth}})
        if (!(std::isfinite(w) && w >= 0))
            throw OptionError(cat("FitOptions::", field), cat(" must be a finite number >= 0 (got ", w, ")"));
}

FitResult fit_landmarks(const FlameModel& full_flame, const std::vector<face::Landmarks>& landmarks,
                        const std::vector<uint8_t>& valid, const FitOptions& o, const ProgressFn& progress) {
    const FlameModel flame = full_flame.landmark_model();  // same landmarks, only the vertices they use
    NED_CHECK(landmarks.size() == valid.size(), "fit: ", landmarks.size(), " landmark sets for ", valid.size(),
              " frames");
    o.validate();
    const int64_t T = static_cast<int64_t>(landmarks.size());
    FitResult r = zero_result(T, valid);

    // per-frame targets (small: T x 68 x 2)
    auto lmk = torch::zeros({T, 68, 2}, torch::TensorOptions().dtype(torch::kFloat32));
    const std::vector<int64_t> valid_idx = fill_targets(landmarks, valid, lmk, r.tform);
    if (valid_idx.empty()) {
        NED_LOG_WARN("[recon] fit: no valid frames");
        return r;
    }
    auto target_all = crop_to_deca_ndc(lmk, r.tform);  // [T,68,2] (garbage for invalid frames, never used)

    // ---- 1. shared shape on frames spread over the video ----
    const torch::Tensor shape = fit_shape(flame, target_all, valid_idx, o);
    r.shape = shape.squeeze(0).cpu();
    const torch::Tensor base_lmk = template_landmarks(flame, r.shape);

    // ---- 2. per-frame exp/pose/cam in chunks, warm-started ----
    WarmStart warm;
    int64_t done = 0;
    double err_sum = 0;
    for (size_t c0 = 0; c0 < valid_idx.size(); c0 += o.chunk) {
        const size_t c1 = std::min(valid_idx.size(), c0 + o.chunk);
        const std::vector<int64_t> frames(valid_idx.begin() + c0, valid_idx.begin() + c1);
        err_sum += fit_chunk(flame, shape, base_lmk, target_all, frames, o, warm, r);
        done += static_cast<int64_t>(frames.size());
        if (progress) progress(done, static_cast<long>(valid_idx.size()));
    }
    r.mean_error_px = err_sum / valid_idx.size();
    return r;
}

}  // namespace ned::recon
