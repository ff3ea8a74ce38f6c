#pragma once
// FLAME 2020 head model in LibTorch, exactly DECA's forward (ned-reference §4.4): 100 identity and
// 50 expression components, pose = [global(3), jaw(3)] axis-angle with neck and eyes zero, Rodrigues
// with the 1e-8 guard, pose feature (R_j - I) of the 4 non-root joints, LBS over the 5-joint chain,
// 68 landmarks with DECA's yaw-dependent dynamic contour, and DECA's orthographic camera.
//
// The asset is the single safetensors file written by scripts/convert_flame.py (format "ned.flame",
// version 1, see docs/models.md):
//   v_template [V,3] f32, faces [F,3] i64, shapedirs [V,3,300] f32, exprdirs [V,3,100] f32,
//   posedirs [V,3,36] f32, J_regressor [5,V] f32, lbs_weights [V,5] f32, parents [5] i64 (root -1),
//   static_lmk_faces_idx [51] i64, static_lmk_bary_coords [51,3] f32,
//   dynamic_lmk_faces_idx [79,17] i64, dynamic_lmk_bary_coords [79,17,3] f32,
//   full_lmk_faces_idx [68] i64, full_lmk_bary_coords [68,3] f32
// and optionally (detail rendering, from DECA's data/ folder):
//   uv_coords [VT,2] f32 (OBJ vt, v up, in [0,1]), uv_faces [F,3] i64 (0-based vt index per corner),
//   fixed_displacement [256,256] f32, uv_face_eye_mask [256,256] f32 in [0,1].
//
// Coordinates: "model space" is FLAME's (metres, +y up, +z towards the viewer). The camera
// cam = [s, tx, ty] maps a model point X to DECA's normalised image coordinates with
// orth_project(X, cam) = s * (X.xy + t, X.z) and then image_coords(...) negates y and z (DECA's
// trans_verts); x,y in [-1,1] span the 224x224 DECA crop (ndc_to_pixels).
#include <torch/torch.h>

#include <string>

#include "ned/core/safetensors.hpp"

namespace ned::recon {

constexpr int kFlameShapeDims = 100;  ///< identity components used (of 300 in the asset)
constexpr int kFlameExpDims = 50;     ///< expression components used (of 100 in the asset)
constexpr int kFlamePoseDims = 6;     ///< global axis-angle (3) + jaw axis-angle (3)
constexpr int kFlameJoints = 5;       ///< root, neck, jaw, left eye, right eye
constexpr int kDynamicContourBins = 79;

/// Result of FlameModel::forward (all on the model's device, float32).
struct FlameOutput {
    torch::Tensor vertices;     ///< [B,V,3] posed vertices in model space (DECA's `verts`)
    torch::Tensor landmarks2d;  ///< [B,68,2] x,y of the 68 landmarks with the dynamic contour, model space
                                ///< (orthographic projection only needs x,y; see orth_project)
    torch::Tensor landmarks3d;  ///< [B,68,3] the 68 `full_lmk` landmarks, model space
};

/// The FLAME model loaded from a converted ned.flame file.
class FlameModel {
public:
    FlameModel() = default;
    /// Load from a ned.flame safetensors file; a missing/invalid file throws ModelError naming it and
    /// pointing to docs/models.md.
    static FlameModel load(const std::string& path, torch::Device device = torch::kCPU);
    /// Build from an already parsed file (tests build small synthetic assets in memory).
    static FlameModel from_file(const st::File& file, torch::Device device = torch::kCPU);

    /// A reduced model holding only the vertices and faces the landmarks use (joints are computed from
    /// precomputed joint blend shapes, so landmarks2d/3d are those of the full model). Its `vertices`
    /// output is the subset; used by the fitting, where it is many times faster.
    FlameModel landmark_model() const;

    /// Move every tensor to `device`.
    void to(torch::Device device);
    torch::Device device() const { return device_; }

    /// Batched forward. shape [B,<=100], exp [B,<=50] (missing trailing components = 0), pose [B,6].
    /// Inputs may live on any device; outputs are on the model's device.
    FlameOutput forward(const torch::Tensor& shape, const torch::Tensor& exp, const torch::Tensor& pose) const;

    int64_t num_vertices() const { return v_template_.size(0); }
    int64_t num_faces() const { return faces_.size(0); }
    const torch::Tensor& faces() const { return faces_; }              ///< [F,3] int64, 0-based
    const torch::Tensor& v_template() const { return v_template_; }    ///< [V,3]
    const torch::Tensor& lbs_weights() const { return lbs_weights_; }  ///< [V,5]
    const torch::Tensor& J_regressor() const { return J_regressor_; }  ///< [5,V]
    const torch::Tensor& parents() const { return parents_; }          ///< [5] int64 (CPU)

    /// UV data (present when the converter was given DECA's data/ files).
    bool has_uv() const { return uv_coords_.defined(); }
    const torch::Tensor& uv_coords() const { return uv_coords_; }  ///< [VT,2] in [0,1], v up (OBJ vt)
    const torch::Tensor& uv_faces() const { return uv_faces_; }    ///< [F,3] int64 vt index per corner
    bool has_fixed_displacement() const { return fixed_displacement_.defined(); }
    const torch::Tensor& fixed_displacement() const { return fixed_displacement_; }  ///< [256,256]
    bool has_uv_face_eye_mask() const { return uv_face_eye_mask_.defined(); }
    const torch::Tensor& uv_face_eye_mask() const { return uv_face_eye_mask_; }  ///< [256,256] [0,1]

    /// Index into the 79 dynamic-contour entries for a global rotation matrix's yaw (DECA's rule):
    /// y = round(min(deg(atan2(-R20, sqrt(R00^2+R10^2))), 39)); y>=0 -> y; -39<=y<0 -> 39-y; y<-39 -> 78.
    /// `rot` [B,3,3] -> [B] int64.
    static torch::Tensor dynamic_contour_index(const torch::Tensor& rot);

    std::string path;  ///< file it was loaded from (empty for in-memory assets)

private:
    torch::Device device_ = torch::kCPU;
    torch::Tensor v_template_, faces_, shapedirs_ /*[V,3,150]*/, posedirs_ /*[36,V*3]*/, J_regressor_, lbs_weights_,
        parents_;
    torch::Tensor static_faces_idx_, static_bary_, dynamic_faces_idx_, dynamic_bary_, full_faces_idx_, full_bary_;
    torch::Tensor J_template_ /*[5,3]*/, J_dirs_ /*[150,15]*/;
    torch::Tensor uv_coords_, uv_faces_, fixed_displacement_, uv_face_eye_mask_;
};

/// Rodrigues' formula as DECA's lbs.batch_rodrigues: rot_vecs [N,3] -> [N,3,3] (angle = ||r + 1e-8||).
torch::Tensor batch_rodrigues(const torch::Tensor& rot_vecs);

/// Barycentric landmarks as DECA's vertices2landmarks: vertices [B,V,3], faces [F,3],
/// lmk_faces_idx [B,L] int64, lmk_bary [B,L,3] -> [B,L,3].
torch::Tensor vertices_to_landmarks(const torch::Tensor& vertices, const torch::Tensor& faces,
                                    const torch::Tensor& lmk_faces_idx, const torch::Tensor& lmk_bary);

/// DECA's util.batch_orth_proj: X [B,N,C>=2], cam [B,3] = [s,tx,ty] -> s * (X.xy + t, X.rest).
torch::Tensor orth_project(const torch::Tensor& X, const torch::Tensor& cam);
/// DECA's `trans_verts`: orth_project then negate every column but x (y down, z away) -> [B,N,C].
/// x,y are normalised image coordinates of the 224x224 DECA crop in [-1,1].
torch::Tensor image_coords(const torch::Tensor& X, const torch::Tensor& cam);
/// Normalised image coordinates -> pixels of a size x size image: (x+1)*size/2 (DECA/NED landmark
/// convention, create_inputs.py uses 112+112x for 224). Acts on the last dimension's first 2 entries.
torch::Tensor ndc_to_pixels(const torch::Tensor& xy, double size = 224.0);

}  // namespace ned::recon
