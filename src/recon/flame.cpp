#include "ned/recon/flame.hpp"

#include <cmath>

#include "ned/core/error.hpp"
#include "ned/core/fs_util.hpp"
#include "ned/core/torch_util.hpp"

namespace ned::recon {
namespace {

constexpr const char* kFormat = "ned.flame";
constexpr const char* kDocsHint = " (see docs/models.md for how to obtain and convert the FLAME model)";

torch::Tensor req(const st::File& f, const std::string& name, st::DType dt, const std::vector<int64_t>& shape) {
    try {
        return to_torch(f.at(name, dt, shape));
    } catch (const ModelError&) {
        throw;
    } catch (const std::exception& e) {
        throw ModelError(
            cat("FLAME file ", f.path.empty() ? std::string("<memory>") : f.path, ": ", e.what(), kDocsHint));
    }
}

torch::Tensor pad_cols(const torch::Tensor& x, int64_t n, const char* what) {
    NED_CHECK(x.dim() == 2, "FLAME ", what, " must be [B,n], got ", x.sizes());
    NED_CHECK(x.size(1) <= n, "FLAME ", what, " has ", x.size(1), " components, at most ", n, " are used");
    if (x.size(1) == n) return x;
    return torch::cat({x, torch::zeros({x.size(0), n - x.size(1)}, x.options())}, 1);
}

}  // namespace

torch::Tensor batch_rodrigues(const torch::Tensor& rot_vecs) {
    const int64_t n = rot_vecs.size(0);
    auto angle = torch::norm(rot_vecs + 1e-8, 2, {1}, /*keepdim=*/true);  // [N,1]
    auto dir = rot_vecs / angle;
    auto c = torch::cos(angle).unsqueeze(1);  // [N,1,1]
    auto s = torch::sin(angle).unsqueeze(1);
    auto rx = dir.slice(1, 0, 1), ry = dir.slice(1, 1, 2), rz = dir.slice(1, 2, 3);
    auto z = torch::zeros({n, 1}, rot_vecs.options());
    auto K = torch::cat({z, -rz, ry, rz, z, -rx, -ry, rx, z}, 1).view({n, 3, 3});
    auto I = torch::eye(3, rot_vecs.options()).unsqueeze(0);
    return I + s * K + (1 - c) * torch::bmm(K, K);
}

torch::Tensor vertices_to_landmarks(const torch::Tensor& vertices, const torch::Tensor& faces,
                                    const torch::Tensor& lmk_faces_idx, const torch::Tensor& lmk_bary) {
    const int64_t B = vertices.size(0), V = vertices.size(1);
    auto lmk_faces = faces.index_select(0, lmk_faces_idx.reshape({-1})).view({B, -1, 3});
    lmk_faces = lmk_faces + torch::arange(B, lmk_faces.options()).view({-1, 1, 1}) * V;
    auto lv = vertices.reshape({-1, 3}).index_select(0, lmk_faces.reshape({-1})).view({B, -1, 3, 3});
    return (lv * lmk_bary.unsqueeze(-1)).sum(2);
}

torch::Tensor orth_project(const torch::Tensor& X, const torch::Tensor& cam) {
    auto c = cam.reshape({-1, 1, 3});
    auto xy = X.slice(2, 0, 2) + c.slice(2, 1, 3);
    auto t = X.size(2) > 2 ? torch::cat({xy, X.slice(2, 2)}, 2) : xy;
    return c.slice(2, 0, 1) * t;
}

torch::Tensor image_coords(const torch::Tensor& X, const torch::Tensor& cam) {
    auto p = orth_project(X, cam);
    return torch::cat({p.slice(2, 0, 1), -p.slice(2, 1)}, 2);
}

torch::Tensor ndc_to_pixels(const torch::Tensor& xy, double size) {
    auto p = xy.clone();
    p.narrow(-1, 0, 2).add_(1.0).mul_(size / 2.0);
    return p;
}

torch::Tensor FlameModel::dynamic_contour_index(const torch::Tensor& rot) {
    auto r = rot.to(torch::kFloat32);
    auto sy = torch::sqrt(r.select(1, 0).select(1, 0).pow(2) + r.select(1, 1).select(1, 0).pow(2));
    auto yaw = torch::atan2(-r.select(1, 2).select(1, 0), sy);
    auto y = torch::round(torch::clamp_max(yaw * (180.0 / M_PI), 39.0)).to(torch::kLong);
    auto neg = y.lt(0).to(torch::kLong);
    auto beyond = y.lt(-39).to(torch::kLong);
    auto neg_vals = beyond * 78 + (1 - beyond) * (39 - y);
    return neg * neg_vals + (1 - neg) * y;
}

FlameModel FlameModel::load(const std::string& path, torch::Device device) {
    if (path.empty()) throw ModelError(cat("no FLAME model file given", kDocsHint));
    const st::File f =
        st::load_model(path, kFormat, 1, cat("(expected a file written by scripts/convert_flame.py)", kDocsHint));
    auto m = from_file(f, device);
    m.path = path;
    return m;
}

FlameModel FlameModel::from_file(const st::File& f, torch::Device device) {
    using st::DType;
    FlameModel m;
    m.v_template_ = req(f, "v_template", DType::F32, {-1, 3});
    const int64_t V = m.v_template_.size(0);
    m.faces_ = req(f, "faces", DType::I64, {-1, 3});
    auto shapedirs = req(f, "shapedirs", DType::F32, {V, 3, -1});
    auto exprdirs = req(f, "exprdirs", DType::F32, {V, 3, -1});
    if (shapedirs.size(2) < kFlameShapeDims || exprdirs.size(2) < kFlameExpDims)
        throw ModelError(cat("FLAME file ", f.path, ": shapedirs/exprdirs have ", shapedirs.size(2), "/",
                             exprdirs.size(2), " components, need at least ", kFlameShapeDims, "/", kFlameExpDims,
                             kDocsHint));
    m.shapedirs_ = torch::cat({shapedirs.slice(2, 0, kFlameShapeDims), exprdirs.slice(2, 0, kFlameExpDims)}, 2)
                       .reshape({V * 3, kFlameShapeDims + kFlameExpDims})
                       .t()
                       .contiguous();  // [150, V*3]
    auto posedirs = req(f, "posedirs", DType::F32, {V, 3, 36});
    m.posedirs_ = posedirs.reshape({V * 3, 36}).t().contiguous();  // [36, V*3]
    m.J_regressor_ = req(f, "J_regressor", DType::F32, {kFlameJoints, V});
    m.lbs_weights_ = req(f, "lbs_weights", DType::F32, {V, kFlameJoints});
    m.parents_ = req(f, "parents", DType::I64, {kFlameJoints});
    auto par = m.parents_.accessor<int64_t, 1>();
    if (par[0] != -1) throw ModelError(cat("FLAME file ", f.path, ": parents[0] must be -1"));
    for (int j = 1; j < kFlameJoints; ++j)
        if (par[j] < 0 || par[j] >= j)
            throw ModelError(cat("FLAME file ", f.path, ": parents[", j, "] = ", par[j], " is not an earlier joint"));
    m.static_faces_idx_ = req(f, "static_lmk_faces_idx", DType::I64, {51});
    m.static_bary_ = req(f, "static_lmk_bary_coords", DType::F32, {51, 3});
    m.dynamic_faces_idx_ = req(f, "dynamic_lmk_faces_idx", DType::I64, {kDynamicContourBins, 17});
    m.dynamic_bary_ = req(f, "dynamic_lmk_bary_coords", DType::F32, {kDynamicContourBins, 17, 3});
    m.full_faces_idx_ = req(f, "full_lmk_faces_idx", DType::I64, {68});
    m.full_bary_ = req(f, "full_lmk_bary_coords", DType::F32, {68, 3});
    const int64_t F = m.faces_.size(0);
    auto check_range = [&](const torch::Tensor& t, int64_t hi, const char* what) {
        if (t.numel() && (t.min().item<int64_t>() < 0 || t.max().item<int64_t>() >= hi))
            throw ModelError(cat("FLAME file ", f.path, ": ", what, " out of range [0,", hi, ")"));
    };
    check_range(m.faces_, V, "faces");
    check_range(m.static_faces_idx_, F, "static_lmk_faces_idx");
    check_range(m.dynamic_faces_idx_, F, "dynamic_lmk_faces_idx");
    check_range(m.full_faces_idx_, F, "full_lmk_faces_idx");
    if (f.has("uv_coords") && f.has("uv_faces")) {
        m.uv_coords_ = req(f, "uv_coords", DType::F32, {-1, 2});
        m.uv_faces_ = req(f, "uv_faces", DType::I64, {F, 3});
        check_range(m.uv_faces_, m.uv_coords_.size(0), "uv_faces");
    }
    if (f.has("fixed_displacement")) m.fixed_displacement_ = req(f, "fixed_displacement", DType::F32, {-1, -1});
    if (f.has("uv_face_eye_mask")) m.uv_face_eye_mask_ = req(f, "uv_face_eye_mask", DType::F32, {-1, -1});
    {
        const int64_t K = kFlameShapeDims + kFlameExpDims;
        m.J_template_ = torch::matmul(m.J_regressor_, m.v_template_);  // [5,3]
        m.J_dirs_ = torch::einsum("jv,kvc->kjc", {m.J_regressor_, m.shapedirs_.view({K, V, 3})})
                        .reshape({K, kFlameJoints * 3})
                        .contiguous();
    }
    m.path = f.path;
    m.to(device);
    return m;
}

FlameModel FlameModel::landmark_model() const {
    FlameModel m = *this;
    auto used_faces = std::get<0>(torch::_unique(
        torch::cat({static_faces_idx_.reshape({-1}), dynamic_faces_idx_.reshape({-1}), full_faces_idx_.reshape({-1})})
            .cpu(),
        /*sorted=*/true));
    auto fcs = faces_.cpu().index_select(0, used_faces);                // [F',3] old vertex ids
    auto verts = std::get<0>(torch::_unique(fcs.reshape({-1}), true));  // [V'] sorted
    const int64_t V = v_template_.size(0), Vs = verts.size(0), Fn = faces_.size(0);
    auto vmap = torch::full({V}, -1, torch::kLong);
    vmap.index_put_({verts}, torch::arange(Vs, torch::kLong));
    auto fmap = torch::full({Fn}, -1, torch::kLong);
    fmap.index_put_({used_faces}, torch::arange(used_faces.size(0), torch::kLong));
    const int64_t K = shapedirs_.size(0);
    auto dev = device_;
    auto vd = verts.to(dev);
    m.v_template_ = v_template_.index_select(0, vd);
    m.shapedirs_ = shapedirs_.view({K, V, 3}).index_select(1, vd).reshape({K, Vs * 3}).contiguous();
    m.posedirs_ = posedirs_.view({36, V, 3}).index_select(1, vd).reshape({36, Vs * 3}).contiguous();
    m.lbs_weights_ = lbs_weights_.index_select(0, vd);
    m.faces_ = vmap.index_select(0, fcs.reshape({-1})).view({-1, 3}).to(dev);
    auto remap = [&](const torch::Tensor& idx) {
        return fmap.index_select(0, idx.cpu().reshape({-1})).view(idx.sizes()).to(dev);
    };
    m.static_faces_idx_ = remap(static_faces_idx_);
    m.dynamic_faces_idx_ = remap(dynamic_faces_idx_);
    m.full_faces_idx_ = remap(full_faces_idx_);
    m.uv_coords_ = m.uv_faces_ = torch::Tensor();
    return m;
}

void FlameModel::to(torch::Device device) {
    device_ = device;
    for (auto* t : {&v_template_, &faces_, &shapedirs_, &posedirs_, &J_regressor_, &lbs_weights_, &J_template_,
                    &J_dirs_, &static_faces_idx_, &static_bary_, &dynamic_faces_idx_, &dynamic_bary_, &full_faces_idx_,
                    &full_bary_, &uv_coords_, &uv_faces_, &fixed_displacement_, &uv_face_eye_mask_})
        if (t->defined()) *t = t->to(device);
    // parents_ stays on the CPU (read element-wise in the kinematic chain).
}

FlameOutput FlameModel::forward(const torch::Tensor& shape_in, const torch::Tensor& exp_in,
                                const torch::Tensor& pose_in) const {
    NED_CHECK(v_template_.defined(), "FLAME model not loaded");
    auto opts = v_template_.options();
    auto shape = pad_cols(shape_in.to(opts), kFlameShapeDims, "shape");
    auto exp = pad_cols(exp_in.to(opts), kFlameExpDims, "exp");
    auto pose = pose_in.to(opts);
    const int64_t B = shape.size(0);
    NED_CHECK(exp.size(0) == B && pose.dim() == 2 && pose.size(0) == B && pose.size(1) == kFlamePoseDims,
              "FLAME forward: batch sizes differ or pose is not [B,6]: shape ", shape.sizes(), " exp ", exp.sizes(),
              " pose ", pose.sizes());
    const int64_t V = v_template_.size(0), J = kFlameJoints;

    // full pose: global, neck = 0, jaw, eyes = 0
    auto zeros3 = torch::zeros({B, 3}, opts);
    auto full_pose = torch::cat({pose.slice(1, 0, 3), zeros3, pose.slice(1, 3, 6), zeros3, zeros3}, 1);  // [B,15]

    // blend shapes
    auto betas = torch::cat({shape, exp}, 1);  // [B,150]
    auto v_shaped = v_template_.unsqueeze(0) + torch::mm(betas, shapedirs_).view({B, V, 3});
    // J = J_regressor (v_template + dirs betas), with J_regressor applied to the template and dirs up front
    auto joints = J_template_.unsqueeze(0) + torch::mm(betas, J_dirs_).view({B, J, 3});  // [B,J,3]

    auto rot = batch_rodrigues(full_pose.view({-1, 3})).view({B, J, 3, 3});
    auto ident = torch::eye(3, opts);
    auto pose_feature = (rot.slice(1, 1) - ident).reshape({B, -1});  // [B,36]
    auto v_posed = v_shaped + torch::mm(pose_feature, posedirs_).view({B, V, 3});

    // rigid chain
    auto par = parents_.accessor<int64_t, 1>();
    std::vector<torch::Tensor> chain(J);
    auto bottom = torch::tensor({0.f, 0.f, 0.f, 1.f}, opts).view({1, 1, 4}).expand({B, 1, 4});
    for (int64_t j = 0; j < J; ++j) {
        auto jt = joints.select(1, j);  // [B,3]
        auto rel = j == 0 ? jt : jt - joints.select(1, par[j]);
        auto T = torch::cat({torch::cat({rot.select(1, j), rel.unsqueeze(2)}, 2), bottom}, 1);  // [B,4,4]
        chain[j] = j == 0 ? T : torch::bmm(chain[par[j]], T);
    }
    auto G = torch::stack(chain, 1);  // [B,J,4,4]
    // A_j = G_j with translation t_j - R^g_j J_j
    auto Rg = G.slice(2, 0, 3).slice(3, 0, 3);
    auto tj = G.slice(2, 0, 3).select(3, 3) - torch::matmul(Rg, joints.unsqueeze(-1)).squeeze(-1);
    auto A = torch::cat({torch::cat({Rg, tj.unsqueeze(-1)}, 3), G.slice(2, 3, 4)}, 2);  // [B,J,4,4]
    auto T = torch::matmul(lbs_weights_.unsqueeze(0), A.view({B, J, 16})).view({B, V, 4, 4});
    auto verts = torch::matmul(T.slice(2, 0, 3).slice(3, 0, 3), v_posed.unsqueeze(-1)).squeeze(-1) +
                 T.slice(2, 0, 3).select(3, 3);

    // dynamic contour: relative rotation of the neck chain (neck then root)
    auto rel_rot = torch::bmm(rot.select(1, 0), rot.select(1, 1));
    auto dyn_idx = dynamic_contour_index(rel_rot);                 // [B]
    auto dyn_faces = dynamic_faces_idx_.index_select(0, dyn_idx);  // [B,17]
    auto dyn_bary = dynamic_bary_.index_select(0, dyn_idx);        // [B,17,3]
    auto lmk_faces = torch::cat({dyn_faces, static_faces_idx_.unsqueeze(0).expand({B, -1})}, 1);
    auto lmk_bary = torch::cat({dyn_bary, static_bary_.unsqueeze(0).expand({B, -1, -1})}, 1);

    FlameOutput out;
    out.vertices = verts;
    out.landmarks2d = vertices_to_landmarks(verts, faces_, lmk_faces, lmk_bary).slice(2, 0, 2);
    out.landmarks3d = vertices_to_landmarks(verts, faces_, full_faces_idx_.unsqueeze(0).expand({B, -1}),
                                            full_bary_.unsqueeze(0).expand({B, -1, -1}));
    return out;
}

}  // namespace ned::recon
