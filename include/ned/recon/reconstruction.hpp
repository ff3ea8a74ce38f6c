#pragma once
// Reconstruction: per-frame FLAME/DECA parameters of one video, the boundary type between
// reconstruction, emotion manipulation and conditioning rendering. Stored as
// WORKDIR/reconstruction.safetensors (format "ned.reconstruction", version 1).
//
// Tensors (T = frames; every parameter tensor except `valid` is optional — a method that does not
// produce it omits it and readers must accept that):
//   shape [T,100]  FLAME identity coefficients        exp [T,50]   FLAME expression coefficients
//   pose  [T,6]    global axis-angle (3) + jaw (3)     cam [T,3]    orthographic camera s, tx, ty
//   detail [T,128] DECA detail code                    light [T,9,3] SH lighting
//   tex   [T,50]   FLAME albedo coefficients           tform [T,3,3] crop pixels -> DECA 224 crop pixels
//   valid [T] u8   1 where the frame has parameters
// __metadata__: format, version, source, fps, frame_count, method ("deca" | "fit" | "manipulated" ...).
// Torch-free on purpose: manip and render convert to tensors themselves.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace ned::recon {

/// One named parameter block [T, dims...] stored row-major; empty `values` = absent.
struct ParamBlock {
    std::vector<int64_t> dims;  ///< per-frame dims, e.g. {100} or {9,3}
    std::vector<float> values;  ///< T * prod(dims) values, or empty
    int64_t row_size() const;
    bool present() const { return !values.empty(); }
    float* row(int64_t t) { return values.data() + t * row_size(); }
    const float* row(int64_t t) const { return values.data() + t * row_size(); }
};

struct Reconstruction {
    std::string source;  ///< input video
    std::string fps = "0/1";
    std::string method;                                 ///< "deca", "fit", "manipulated", ...
    std::map<std::string, std::string> extra_metadata;  ///< further __metadata__ entries, kept on round trip
    std::vector<uint8_t> valid;                         ///< [T]
    /// Parameter blocks by name: shape, exp, pose, cam, detail, light, tex, tform.
    std::map<std::string, ParamBlock> params;

    int64_t num_frames() const { return static_cast<int64_t>(valid.size()); }
    bool has(const std::string& name) const;
    /// The block `name`; throws InputError if absent.
    ParamBlock& at(const std::string& name);
    const ParamBlock& at(const std::string& name) const;
    /// Create (zero-filled, [num_frames, dims]) or return the block `name`.
    ParamBlock& ensure(const std::string& name);
};

/// Per-frame dims of the known parameter names ({100} for "shape", {9,3} for "light", ...).
std::vector<int64_t> known_dims(const std::string& name);

void save_reconstruction(const std::string& path, const Reconstruction& r);
/// Throws InputError naming the file for a missing file, wrong format or inconsistent shapes.
Reconstruction load_reconstruction(const std::string& path);

}  // namespace ned::recon
