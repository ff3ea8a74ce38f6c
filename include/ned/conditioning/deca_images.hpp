#pragma once
// DECA's conditioning renderings of one frame in DECA's 224x224 crop (ned-reference §4.5, §5.1, §5.2), on
// plain arrays (no torch): the NMFC image and the detailed (or coarse) shape image, plus the warps that
// bring them into the 256 face crop (§1.6, skimage bilinear with tform) and into aligned space (§1.7,
// Lanczos4 with the analysis alignment).
//
// Images are OpenCV BGR: for the NMFC, channel 2 (R) = normalised x, 1 (G) = y, 0 (B) = z, so a PNG
// written with cv::imwrite reads back as RGB = (x, y, z) exactly like NED's nmfcs/. The shape image is grey.
#include <opencv2/core.hpp>

#include <cstdint>
#include <vector>

#include "ned/conditioning/rasterizer.hpp"

namespace ned::conditioning {

constexpr int kDecaImageSize = 224;            ///< DECA renders at 224x224
constexpr int kUvSize = 256;                   ///< DECA's UV maps are 256x256
constexpr float kShapeAlbedo = 180.f / 255.f;  ///< constant grey albedo of render_shape
constexpr float kShapeLightIntensity = 1.7f;   ///< intensity of each of the 5 directional lights

/// DECA's util.vertex_normals: per-vertex sum of the (area-weighted) face normals (b-a)x(c-a) of every face
/// using the vertex, normalised with eps 1e-6 (a vertex in no face gets 0). verts [V*3] -> normals [V*3].
void vertex_normals(const float* verts, int64_t num_verts, const int32_t* faces, int64_t num_faces, float* normals);

/// vertex_normals() of DECA's dense UV-grid mesh: grid [H*W*3] vertices, faces of
/// generate_triangles(H, W, margin_x=2, margin_y=5) with corners permuted [0,2,1] (quad p: (p, p+W, p+1) and
/// (p+1, p+W, p+W+1)); vertices in no face get 0. normals [H*W*3].
void dense_grid_normals(const float* grid, int width, int height, float* normals);

/// NMFC vertex colours (§5.1): v_template [V*3] normalised per axis to [0,1] with min/max over all
/// vertices: c = (v - min) / (max - min); returned as [V*3] in x,y,z order.
std::vector<float> nmfc_vertex_colors(const float* v_template, int64_t num_verts);

/// DECA's add_directionlight for the 5 lights of render_shape: mean over the directions normalize(-1,1,1),
/// (1,1,1), (-1,-1,1), (1,-1,1), (0,0,1) of clamp(n . l, 0, 1) * 1.7 (model space, +z towards the viewer).
/// n is used as given (DECA does not renormalise interpolated normals).
float deca_shading(float nx, float ny, float nz);

/// Mesh data the renderer needs, extracted once from a FLAME asset.
struct MeshTopology {
    int64_t num_vertices = 0;
    std::vector<int32_t> faces;      ///< [F*3] vertex indices
    std::vector<float> nmfc_colors;  ///< [V*3] nmfc_vertex_colors(v_template)
    // UV data for the detailed shape image; empty when the FLAME asset has none.
    std::vector<float> uv_coords;   ///< [VT*2] u, v in [0,1], v up (OBJ vt)
    std::vector<int32_t> uv_faces;  ///< [F*3] vt index per face corner
    cv::Mat fixed_displacement;     ///< 256x256 CV_32F DECA's fixed UV displacement (empty = 0)
    cv::Mat uv_face_eye_mask;       ///< 256x256 CV_32F in [0,1] (empty = 1 everywhere)

    int64_t num_faces() const { return static_cast<int64_t>(faces.size() / 3); }
    bool has_uv() const { return !uv_faces.empty(); }
};

/// The two DECA renderings of one frame, image_size x image_size CV_32FC3 BGR, unclipped.
struct DecaImages {
    cv::Mat nmfc;           ///< NMFC colours x coverage x pos_mask, background 0
    cv::Mat shape;          ///< 180/255 grey shaded with the 5 lights x coverage x pos_mask, background 0
    bool detailed = false;  ///< shape used DECA's detail normals (else the coarse vertex normals)
};

// No validate(): set by code (DECA's render size, a rasterizer of the caller's threads), not by users.
struct DecaImageOptions {
    int image_size = kDecaImageSize;
    RasterizerOptions raster;  ///< backend and threads per image
};

/// Renders NMFC and shape images like DECA's decode() + render_shape() as NED calls them. Thread-safe:
/// render() may be called from several threads at once.
class DecaImageRenderer {
public:
    explicit DecaImageRenderer(MeshTopology topology, const DecaImageOptions& options = {});

    /// verts [V*3]: posed FLAME vertices in model space (FlameOutput::vertices of one frame);
    /// cam = (s, tx, ty). uv_displacement: D_detail's output for the frame (256x256 CV_32F, already x0.01,
    /// before the face-eye mask) for the detailed shape image, or empty for the coarse (vertex-normal) one.
    /// A non-empty displacement needs topology().has_uv() (else ned::Error).
    DecaImages render(const float* verts, const float cam[3], const cv::Mat& uv_displacement = {}) const;

    /// DECA's displacement2normal (§5.2 steps 1-3): detail normals on the 256x256 UV grid, CV_32FC3 (x,y,z).
    /// `verts` posed model-space vertices, `normals` their vertex_normals().
    cv::Mat detail_normal_map(const float* verts, const float* normals, const cv::Mat& uv_displacement) const;

    const MeshTopology& topology() const { return topo_; }

private:
    MeshTopology topo_;
    DecaImageOptions options_;
    Rasterizer rasterizer_;
    Fragments uv_frags_;  ///< UV layout rasterized at 256 (constant per topology)
};

/// The 224 DECA image back into the crop: output(p) = img(tform * p), bilinear, 0 outside (skimage.warp
/// with tform as inverse map), then img_as_ubyte (round(clip(x,0,1)*255)) as renderer/create_inputs.py.
/// tform: crop pixel -> DECA 224 pixel (Reconstruction "tform"). Float input of 1-4 channels (channels are
/// independent); returns CV_8UC(channels), crop_size^2.
cv::Mat deca_to_crop(const cv::Mat& deca_image, const cv::Matx33f& tform, int crop_size = 256);

/// Crop -> aligned space: cv::warpAffine(img, align, size, INTER_LANCZOS4, constant 0) (§1.7).
cv::Mat crop_to_aligned(const cv::Mat& crop_image, const cv::Matx23f& align, int size = 256);

}  // namespace ned::conditioning
