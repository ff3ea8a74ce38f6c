// Rasterizer front end: backend dispatch and attribute interpolation.
#include "ned/conditioning/rasterizer.hpp"

#include <algorithm>
#include <cstring>

#include "backends.hpp"
#include "ned/core/error.hpp"

namespace ned::conditioning {

int64_t Fragments::num_covered() const {
    return std::count_if(face.begin(), face.end(), [](int32_t f) { return f >= 0; });
}

Rasterizer::Rasterizer(const RasterizerOptions& options) : options_(options) {
    switch (options.backend) {
        case RasterBackend::Cpu: backend_ = detail::make_cpu_backend(options.threads); break;
        case RasterBackend::Cuda: backend_ = detail::make_cuda_backend(); break;
    }
    NED_CHECK(backend_ != nullptr, "unknown rasterizer backend");
}

Rasterizer::~Rasterizer() = default;
Rasterizer::Rasterizer(Rasterizer&&) noexcept = default;
Rasterizer& Rasterizer::operator=(Rasterizer&&) noexcept = default;

void Rasterizer::rasterize(const float* verts, int64_t num_verts, const int32_t* faces, int64_t num_faces, int width,
                           int height, Fragments& out) const {
    if (width <= 0 || height <= 0)
        throw Error(cat("[render] rasterize: image size must be positive, got ", width, "x", height));
    for (int64_t i = 0; i < num_faces * 3; ++i) {
        if (faces[i] < 0 || faces[i] >= num_verts)
            throw Error(
                cat("[render] rasterize: face ", i / 3, " uses vertex ", faces[i], ", expected 0..", num_verts - 1));
    }
    backend_->rasterize(verts, num_verts, faces, num_faces, width, height, out);
}

void interpolate_vertex_attributes(const Fragments& frags, const int32_t* faces, const float* attr, int channels,
                                   float* dst) {
    const int64_t n = static_cast<int64_t>(frags.width) * frags.height;
    for (int64_t p = 0; p < n; ++p) {
        float* d = dst + p * channels;
        const int32_t f = frags.face[p];
        if (f < 0) {
            std::memset(d, 0, sizeof(float) * channels);
            continue;
        }
        const float* b = &frags.bary[p * 3];
        const float* a0 = attr + static_cast<int64_t>(faces[3 * f]) * channels;
        const float* a1 = attr + static_cast<int64_t>(faces[3 * f + 1]) * channels;
        const float* a2 = attr + static_cast<int64_t>(faces[3 * f + 2]) * channels;
        for (int c = 0; c < channels; ++c) d[c] = b[0] * a0[c] + b[1] * a1[c] + b[2] * a2[c];
    }
}

}  // namespace ned::conditioning
