#pragma once
// A tiny synthetic FLAME asset for render tests (the real FLAME model is gated): a flat G x G grid in the
// z = 0 plane spanning x in [-0.1, 0.1] and y in [-0.12, 0.12] (normals +z, towards the viewer), all
// vertices bound to the root joint, no pose correctives, expression component 0 translates the whole mesh
// by +0.01 in y (up). Landmarks sit on grid vertices; static landmark k (= 68-point index 17 + k) uses face
// 2 * (k * 5 % (faces/2)) with barycentrics (1, 0, 0). Optional UV data: u = (x + 0.1) / 0.2,
// v = (y + 0.12) / 0.24 (the whole UV square), zero fixed displacement, mask = 1.
#include <vector>

#include "ned/core/safetensors.hpp"

namespace ned::test {

inline st::File synthetic_flame_file(int G = 24, bool with_uv = true) {
    const int V = G * G;
    std::vector<float> vt(V * 3);
    std::vector<float> uv(V * 2);
    for (int r = 0; r < G; ++r)
        for (int c = 0; c < G; ++c) {
            const int v = r * G + c;
            vt[3 * v] = -0.1f + 0.2f * c / (G - 1);
            vt[3 * v + 1] = 0.12f - 0.24f * r / (G - 1);
            vt[3 * v + 2] = 0.f;
            uv[2 * v] = (vt[3 * v] + 0.1f) / 0.2f;
            uv[2 * v + 1] = (vt[3 * v + 1] + 0.12f) / 0.24f;
        }
    std::vector<int64_t> faces;
    for (int r = 0; r + 1 < G; ++r)
        for (int c = 0; c + 1 < G; ++c) {
            const int64_t p = r * G + c;
            // counter-clockwise seen from +z (y up): p, p+G, p+1 and p+1, p+G, p+G+1
            faces.insert(faces.end(), {p, p + G, p + 1, p + 1, p + G, p + G + 1});
        }
    const int64_t F = static_cast<int64_t>(faces.size() / 3);
    std::vector<float> shapedirs(static_cast<size_t>(V) * 3 * 300, 0.f);
    std::vector<float> exprdirs(static_cast<size_t>(V) * 3 * 100, 0.f);
    for (int v = 0; v < V; ++v) exprdirs[(static_cast<size_t>(v) * 3 + 1) * 100 + 0] = 0.01f;
    std::vector<float> posedirs(static_cast<size_t>(V) * 3 * 36, 0.f);
    std::vector<float> jreg(5 * V, 1.f / V);
    std::vector<float> weights(V * 5, 0.f);
    for (int v = 0; v < V; ++v) weights[v * 5] = 1.f;
    std::vector<int64_t> static_idx(51), full_idx(68), dyn_idx(79 * 17);
    std::vector<float> static_bary(51 * 3, 0.f), full_bary(68 * 3, 0.f), dyn_bary(79 * 17 * 3, 0.f);
    for (int k = 0; k < 51; ++k) {
        static_idx[k] = 2 * ((k * 5) % (F / 2));
        static_bary[3 * k] = 1.f;
    }
    for (int k = 0; k < 68; ++k) {
        full_idx[k] = 2 * ((k * 3) % (F / 2));
        full_bary[3 * k] = 1.f;
    }
    for (int k = 0; k < 79 * 17; ++k) {
        dyn_idx[k] = 2 * (k % 17);
        dyn_bary[3 * k] = 1.f;
    }
    st::File f;
    f.metadata = {{"format", "ned.flame"}, {"version", "1"}};
    f.tensors["v_template"] = st::Tensor::f32({V, 3}, vt);
    f.tensors["faces"] = st::Tensor::i64({F, 3}, faces);
    f.tensors["shapedirs"] = st::Tensor::f32({V, 3, 300}, shapedirs);
    f.tensors["exprdirs"] = st::Tensor::f32({V, 3, 100}, exprdirs);
    f.tensors["posedirs"] = st::Tensor::f32({V, 3, 36}, posedirs);
    f.tensors["J_regressor"] = st::Tensor::f32({5, V}, jreg);
    f.tensors["lbs_weights"] = st::Tensor::f32({V, 5}, weights);
    f.tensors["parents"] = st::Tensor::i64({5}, {-1, 0, 1, 1, 1});
    f.tensors["static_lmk_faces_idx"] = st::Tensor::i64({51}, static_idx);
    f.tensors["static_lmk_bary_coords"] = st::Tensor::f32({51, 3}, static_bary);
    f.tensors["dynamic_lmk_faces_idx"] = st::Tensor::i64({79, 17}, dyn_idx);
    f.tensors["dynamic_lmk_bary_coords"] = st::Tensor::f32({79, 17, 3}, dyn_bary);
    f.tensors["full_lmk_faces_idx"] = st::Tensor::i64({68}, full_idx);
    f.tensors["full_lmk_bary_coords"] = st::Tensor::f32({68, 3}, full_bary);
    if (with_uv) {
        f.tensors["uv_coords"] = st::Tensor::f32({V, 2}, uv);
        f.tensors["uv_faces"] = st::Tensor::i64({F, 3}, faces);
        f.tensors["fixed_displacement"] = st::Tensor::f32({256, 256}, std::vector<float>(256 * 256, 0.f));
        f.tensors["uv_face_eye_mask"] = st::Tensor::f32({256, 256}, std::vector<float>(256 * 256, 1.f));
    }
    return f;
}

}  // namespace ned::test
