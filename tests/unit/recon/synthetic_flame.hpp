#pragma once
// A small synthetic FLAME-format asset (format "ned.flame" v1) built in memory: FLAME 2020 and DECA
// are gated, so tests use this stand-in with the same tensor names and layout as convert_flame.py's
// output. V vertices scattered in a head-sized ball, random faces and blendshapes, 5 joints with
// FLAME's kinematic tree, vertices below y = -0.02 skinned to the jaw, the others to root/neck, and
// posedirs non-zero only on jaw-skinned vertices (so a jaw rotation moves only those). smooth_contour:
// the 79 dynamic-contour entries vary smoothly with the bin (as FLAME's do) instead of at random.
#include <torch/torch.h>

#include <string>

#include "ned/core/safetensors.hpp"
#include "ned/core/torch_util.hpp"

namespace ned::test {

struct SyntheticFlame {
    st::File file;
    torch::Tensor jaw_mask;  ///< [V] bool, vertices skinned (only) to the jaw
};

inline SyntheticFlame make_synthetic_flame(int64_t V = 60, int64_t F = 90, uint64_t seed = 7, bool with_uv = false,
                                           bool smooth_contour = false) {
    torch::manual_seed(seed);
    auto f32 = torch::kFloat32;
    SyntheticFlame s;
    auto& file = s.file;
    file.metadata = {{"format", "ned.flame"}, {"version", "1"}};
    auto v = (torch::rand({V, 3}, f32) - 0.5) * 0.2;  // +-0.1 m
    file.tensors["v_template"] = from_torch(v);
    auto faces = torch::stack({torch::randint(0, V, {F}), torch::randint(0, V, {F}), torch::randint(0, V, {F})}, 1)
                     .to(torch::kLong);
    file.tensors["faces"] = from_torch(faces);
    file.tensors["shapedirs"] = from_torch(torch::randn({V, 3, 300}, f32) * 0.002);
    file.tensors["exprdirs"] = from_torch(torch::randn({V, 3, 100}, f32) * 0.002);
    s.jaw_mask = v.select(1, 1) < -0.02;
    auto jm = s.jaw_mask.to(f32);
    file.tensors["posedirs"] = from_torch(torch::randn({V, 3, 36}, f32) * 0.003 * jm.view({V, 1, 1}));
    auto J = torch::zeros({5, V}, f32);
    const int64_t per = V / 6;
    for (int j = 0; j < 5; ++j) J[j].slice(0, j * per, (j + 1) * per).fill_(1.0 / per);
    file.tensors["J_regressor"] = from_torch(J);
    auto w = torch::zeros({V, 5}, f32);
    auto r = torch::rand({V}, f32);
    w.select(1, 0).copy_((1 - jm) * r);
    w.select(1, 1).copy_((1 - jm) * (1 - r));
    w.select(1, 2).copy_(jm);
    file.tensors["lbs_weights"] = from_torch(w);
    file.tensors["parents"] = st::Tensor::i64({5}, {-1, 0, 1, 1, 1});
    auto bary = [&](std::vector<int64_t> shp) {
        shp.push_back(3);
        auto b = torch::rand(shp, f32) + 0.05;
        return b / b.sum(-1, true);
    };
    file.tensors["static_lmk_faces_idx"] = from_torch(torch::randint(0, F, {51}).to(torch::kLong));
    file.tensors["static_lmk_bary_coords"] = from_torch(bary({51}));
    if (smooth_contour) {  // like FLAME: neighbouring yaw bins give nearby contour points
        file.tensors["dynamic_lmk_faces_idx"] =
            from_torch(torch::randint(0, F, {1, 17}).to(torch::kLong).expand({79, 17}).contiguous());
        auto a = bary({1, 17}), b = bary({1, 17});
        auto w = (torch::arange(79, f32) / 78.0).view({79, 1, 1});
        file.tensors["dynamic_lmk_bary_coords"] = from_torch(a * (1 - w) + b * w);
    } else {
        file.tensors["dynamic_lmk_faces_idx"] = from_torch(torch::randint(0, F, {79, 17}).to(torch::kLong));
        file.tensors["dynamic_lmk_bary_coords"] = from_torch(bary({79, 17}));
    }
    file.tensors["full_lmk_faces_idx"] = from_torch(torch::randint(0, F, {68}).to(torch::kLong));
    file.tensors["full_lmk_bary_coords"] = from_torch(bary({68}));
    if (with_uv) {
        file.tensors["uv_coords"] = from_torch(torch::rand({V + 5, 2}, f32));
        file.tensors["uv_faces"] = from_torch(torch::randint(0, V + 5, {F, 3}).to(torch::kLong));
        file.tensors["fixed_displacement"] = from_torch(torch::randn({256, 256}, f32) * 0.001);
        file.tensors["uv_face_eye_mask"] = from_torch((torch::rand({256, 256}, f32) > 0.5).to(f32));
    }
    return s;
}

}  // namespace ned::test
