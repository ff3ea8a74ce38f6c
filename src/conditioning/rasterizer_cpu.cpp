// CPU rasterizer backend: bounding-box scan of each triangle with edge functions, z-buffer, row bands over
// std::threads (each thread owns whole rows, so no synchronisation and a result independent of the
// thread count). A backend is stateless, so one Rasterizer may serve several threads at once.
#include <algorithm>
#include <cmath>
#include <limits>
#include <thread>

#include "backends.hpp"

namespace ned::conditioning::detail {
namespace {

// Edges are inclusive up to this barycentric tolerance (absorbs float rounding of on-edge pixel centres).
constexpr double kEdgeEps = 1e-6;
// Triangles whose bounding box is wider or taller than this many image sizes are skipped (see band()).
constexpr double kMaxSpan = 4.0;

class CpuBackend final : public RasterizerBackend {
public:
    explicit CpuBackend(int threads) : threads_(threads) {
        if (threads_ <= 0) threads_ = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    }

    void rasterize(const float* verts, int64_t num_verts, const int32_t* faces, int64_t num_faces, int width,
                   int height, Fragments& out) const override {
        const int64_t n = static_cast<int64_t>(width) * height;
        out.width = width;
        out.height = height;
        out.face.assign(n, -1);
        out.bary.assign(n * 3, 0.f);
        out.depth.assign(n, std::numeric_limits<float>::infinity());

        // Screen -> pixel coordinates (pixel centres at integers): u = (x+1)*W/2 - 0.5.
        std::vector<double> pix(num_verts * 3);
        const double sx = width * 0.5, sy = height * 0.5;
        for (int64_t v = 0; v < num_verts; ++v) {
            pix[3 * v] = (verts[3 * v] + 1.0) * sx - 0.5;
            pix[3 * v + 1] = (verts[3 * v + 1] + 1.0) * sy - 0.5;
            pix[3 * v + 2] = verts[3 * v + 2];
        }
        const int nthreads = std::min(threads_, std::max(1, height / 8));
        if (nthreads <= 1) {
            band(pix.data(), faces, num_faces, 0, height, out);
            return;
        }
        std::vector<std::thread> pool;
        pool.reserve(nthreads - 1);
        for (int t = 1; t < nthreads; ++t) {
            const int r0 = static_cast<int>(static_cast<int64_t>(height) * t / nthreads);
            const int r1 = static_cast<int>(static_cast<int64_t>(height) * (t + 1) / nthreads);
            pool.emplace_back([=, &out, &pix] { band(pix.data(), faces, num_faces, r0, r1, out); });
        }
        band(pix.data(), faces, num_faces, 0, static_cast<int>(height / nthreads), out);
        for (auto& th : pool) th.join();
    }

private:
    // Rasterize every face into rows [row0, row1).
    void band(const double* P, const int32_t* faces, int64_t num_faces, int row0, int row1, Fragments& out) const {
        const int width = out.width;
        for (int64_t f = 0; f < num_faces; ++f) {
            const double* a = P + 3 * static_cast<int64_t>(faces[3 * f]);
            const double* b = P + 3 * static_cast<int64_t>(faces[3 * f + 1]);
            const double* c = P + 3 * static_cast<int64_t>(faces[3 * f + 2]);
            const double ymin = std::min({a[1], b[1], c[1]}), ymax = std::max({a[1], b[1], c[1]});
            const double xmin = std::min({a[0], b[0], c[0]}), xmax = std::max({a[0], b[0], c[0]});
            // Hostile parameters (a huge camera scale, NaN): a non-finite triangle, or one spanning far more
            // than the image, is no face triangle; skipping it keeps the work bounded and the casts defined.
            if (!(std::isfinite(xmin) && std::isfinite(xmax) && std::isfinite(ymin) && std::isfinite(ymax))) continue;
            if (xmax - xmin > kMaxSpan * width || ymax - ymin > kMaxSpan * out.height) continue;
            const int j0 = std::max(row0, static_cast<int>(std::ceil(std::max(ymin, -1.0))));
            const int j1 = std::min(row1 - 1, static_cast<int>(std::floor(std::min(ymax, double(out.height)))));
            if (j0 > j1) continue;
            const int i0 = std::max(0, static_cast<int>(std::ceil(std::max(xmin, -1.0))));
            const int i1 = std::min(width - 1, static_cast<int>(std::floor(std::min(xmax, double(width)))));
            if (i0 > i1) continue;
            const double area = (b[0] - a[0]) * (c[1] - a[1]) - (c[0] - a[0]) * (b[1] - a[1]);
            if (std::abs(area) < 1e-12) continue;  // degenerate (PyTorch3D skips zero-area faces too)
            const double inv = 1.0 / area;
            // w_k(u, v) = A_k u + B_k v + C_k  (barycentric weight of corner k).
            const double A0 = (b[1] - c[1]) * inv, B0 = (c[0] - b[0]) * inv, C0 = (b[0] * c[1] - c[0] * b[1]) * inv;
            const double A1 = (c[1] - a[1]) * inv, B1 = (a[0] - c[0]) * inv, C1 = (c[0] * a[1] - a[0] * c[1]) * inv;
            const double A2 = (a[1] - b[1]) * inv, B2 = (b[0] - a[0]) * inv, C2 = (a[0] * b[1] - b[0] * a[1]) * inv;
            for (int j = j0; j <= j1; ++j) {
                double w0 = A0 * i0 + B0 * j + C0, w1 = A1 * i0 + B1 * j + C1, w2 = A2 * i0 + B2 * j + C2;
                int64_t p = static_cast<int64_t>(j) * width + i0;
                for (int i = i0; i <= i1; ++i, ++p, w0 += A0, w1 += A1, w2 += A2) {
                    if (w0 < -kEdgeEps || w1 < -kEdgeEps || w2 < -kEdgeEps) continue;
                    const float z = static_cast<float>(w0 * a[2] + w1 * b[2] + w2 * c[2]);
                    if (!(z < out.depth[p])) continue;
                    out.depth[p] = z;
                    out.face[p] = static_cast<int32_t>(f);
                    float* bp = &out.bary[3 * p];
                    bp[0] = static_cast<float>(w0);
                    bp[1] = static_cast<float>(w1);
                    bp[2] = static_cast<float>(w2);
                }
            }
        }
    }

    int threads_;
};

}  // namespace

std::unique_ptr<RasterizerBackend> make_cpu_backend(int threads) { return std::make_unique<CpuBackend>(threads); }

}  // namespace ned::conditioning::detail
