#pragma once
// Triangle rasterizer for orthographic meshes (the replacement of PyTorch3D's rasterize_meshes as DECA uses
// it, ned-reference §4.5): one face per pixel, z-buffer (smallest z wins), no back-face culling, no blur,
// screen-space (= orthographic) barycentrics.
//
// Screen coordinates are DECA's `trans_verts` (recon::image_coords): x to the right, y DOWN, both in
// [-1,1] across the image; z = depth, smaller = nearer the viewer. Pixel-centre convention (matches
// PyTorch3D, which DECA feeds with x,y negated): the centre of pixel column i, row j is at
//     x = (2i + 1) / W - 1,   y = (2j + 1) / H - 1,
// i.e. a vertex at (x, y) lands on pixel coordinates u = (x + 1) * W / 2 - 0.5, v = (y + 1) * H / 2 - 0.5
// in OpenCV's convention (pixel centres at integers). Note DECA/NED map *landmarks* with 112 + 112 x
// (recon::ndc_to_pixels) — half a pixel apart from the rasterizer; both are reproduced as they are.
//
// A pixel is covered by a triangle when all three barycentrics are >= -1e-6 (edges inclusive); zero-area
// triangles are skipped; among covering triangles the smallest interpolated z wins and on an exact tie
// the lower face index wins (deterministic for any thread count). PyTorch3D additionally drops points
// with z < 0 ("behind the camera"); DECA shifts z by +10 so that never happens there, and we do not cull.
//
// The backend is chosen at construction (`RasterBackend`); callers never see which one runs. The CPU
// backend splits the image into row bands over `threads` std::threads. The CUDA backend
// (src/conditioning/rasterizer_cuda.cu, built when CMake's NED_WITH_CUDA is on) runs the same algorithm on the
// GPU of the device current at construction: one thread per (face, image row) walks the row exactly as the
// CPU does and bids for each covered pixel with a 64-bit atomicMin on (float z bits, face index), so it
// keeps the same winner rule and is deterministic; the output equals the CPU backend's (bit for bit when
// the CPU backend is compiled without FMA contraction; otherwise faces may differ only at pixels within
// ~1e-9 pixel of an edge, barycentrics and depth by ~1e-6 at most). It takes host pointers and returns host
// Fragments; one Rasterizer may serve several threads at once. Asking for the CUDA backend in a build
// without CUDA, or where no CUDA device is usable, throws BackendError (cuda_rasterizer_available() asks
// first).
#include <cstdint>
#include <memory>
#include <vector>

namespace ned::conditioning {

enum class RasterBackend { Cpu, Cuda };

// No validate(): set by code from already checked options (RenderInputsOptions, StreamRenderOptions).
struct RasterizerOptions {
    RasterBackend backend = RasterBackend::Cpu;
    int threads = 1;  ///< CPU worker threads for one image (0 = all cores)
};

/// Per-pixel result of rasterizing one mesh into a width x height image (row-major, y down).
struct Fragments {
    int width = 0, height = 0;
    std::vector<int32_t> face;  ///< [H*W] index of the visible face, -1 = background
    std::vector<float> bary;    ///< [H*W*3] barycentrics of the visible face's 3 corners (0 on background)
    std::vector<float> depth;   ///< [H*W] interpolated z of the visible face (+inf on background)

    bool covered(int64_t pixel) const { return face[pixel] >= 0; }
    int64_t num_covered() const;
};

/// Backend interface (implementations live in src/conditioning/; not for callers).
class RasterizerBackend {
public:
    virtual ~RasterizerBackend() = default;
    virtual void rasterize(const float* verts, int64_t num_verts, const int32_t* faces, int64_t num_faces, int width,
                           int height, Fragments& out) const = 0;
};

class Rasterizer {
public:
    /// Throws BackendError when the backend is not available in this build or on this machine (CUDA: no
    /// device, or no kernel image for its architecture).
    explicit Rasterizer(const RasterizerOptions& options = {});
    ~Rasterizer();
    Rasterizer(Rasterizer&&) noexcept;
    Rasterizer& operator=(Rasterizer&&) noexcept;

    /// Rasterize `num_faces` triangles (`faces` [F*3] vertex indices) of `verts` [V*3] in screen
    /// coordinates (see the header comment) into `out` (resized, reused between calls).
    /// Throws ned::Error on an out-of-range face index or non-positive size.
    void rasterize(const float* verts, int64_t num_verts, const int32_t* faces, int64_t num_faces, int width,
                   int height, Fragments& out) const;

    const RasterizerOptions& options() const { return options_; }

private:
    RasterizerOptions options_;
    std::unique_ptr<RasterizerBackend> backend_;
};

/// True when this build has the CUDA backend and the CUDA runtime sees at least one device. Constructing
/// a RasterBackend::Cuda rasterizer can still fail (BackendError), e.g. when the build has no kernel image
/// for the GPU's architecture. Cheap; creates no CUDA context.
bool cuda_rasterizer_available() noexcept;

/// Interpolate per-vertex attributes `attr` [V*C] at every covered pixel with the fragments' barycentrics
/// (corner k of face f takes attr[faces[3f+k]]); background pixels get 0. Output `dst` [H*W*C].
void interpolate_vertex_attributes(const Fragments& frags, const int32_t* faces, const float* attr, int channels,
                                   float* dst);

}  // namespace ned::conditioning
