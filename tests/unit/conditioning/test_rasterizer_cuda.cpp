// The CUDA rasterizer backend against the CPU backend on awkward meshes (overlaps, exact depth ties, a dense
// FLAME-sized head, pixel centres exactly on edges, off-screen, non-finite and degenerate triangles,
// non-square and one-pixel-wide images), its determinism under concurrent use, and BackendError where it
// cannot run. The comparisons skip where no CUDA device is visible (or ned was built without CUDA); the
// BackendError check runs everywhere.
//
// Tolerances. The CUDA backend walks each triangle row with the CPU backend's double arithmetic in the same
// order (no FMA contraction), so the Fragments are expected to be identical. The bounds below leave room for
// a CPU backend compiled with FMA contraction (e.g. -march=native), which changes barycentrics by ~1e-16
// relative: a face can then flip only at a pixel whose centre lies within ~1e-9 pixel of a triangle's
// inclusive edge (the -1e-6 tolerance boundary) or where two faces' depths round to different floats, which
// for these meshes is far below one pixel in 10,000; where the faces agree, barycentrics and depth agree to
// ~1e-7, checked at 1e-5.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "ned/core/error.hpp"
#include "ned/conditioning/rasterizer.hpp"

using namespace ned::conditioning;

namespace {

constexpr double kMaxFaceMismatchFraction = 1e-4;  // see the header comment
constexpr double kFragmentTolerance = 1e-5;

struct Mesh {
    std::vector<float> verts;    // [V*3] screen coordinates
    std::vector<int32_t> faces;  // [F*3]

    int64_t num_verts() const { return static_cast<int64_t>(verts.size() / 3); }
    int64_t num_faces() const { return static_cast<int64_t>(faces.size() / 3); }
    int32_t vertex(float x, float y, float z) {
        verts.insert(verts.end(), {x, y, z});
        return static_cast<int32_t>(num_verts() - 1);
    }
    void face(int32_t a, int32_t b, int32_t c) { faces.insert(faces.end(), {a, b, c}); }
    void triangle(std::array<float, 3> a, std::array<float, 3> b, std::array<float, 3> c) {
        const int32_t ia = vertex(a[0], a[1], a[2]), ib = vertex(b[0], b[1], b[2]), ic = vertex(c[0], c[1], c[2]);
        face(ia, ib, ic);
    }
};

// Screen coordinate of pixel coordinate u in an image of n pixels (pixel centres at integers).
float ndc(double u, int n) { return static_cast<float>((2.0 * u + 1.0) / n - 1.0); }

// Shared random vertices, random corner indices (some faces repeat a vertex: degenerate), overlapping.
Mesh random_soup(unsigned seed, int nv, int nf, float lo, float hi) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> U(lo, hi), Z(0.f, 1.f);
    Mesh m;
    for (int i = 0; i < nv; ++i) m.vertex(U(rng), U(rng), Z(rng));
    std::uniform_int_distribution<int32_t> I(0, nv - 1);
    for (int f = 0; f < nf; ++f) m.face(I(rng), I(rng), I(rng));
    return m;
}

// Triangles of constant depth from {1, 2, 3} (exact ties wherever two of a kind overlap), then the first
// half again with rotated and with reversed corners (the same triangle, tied with a lower face index).
Mesh tie_soup(unsigned seed, int nf) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> U(-1.f, 1.f), S(0.05f, 0.6f);
    std::uniform_int_distribution<int> D(1, 3);
    Mesh m;
    for (int f = 0; f < nf; ++f) {
        const float cx = U(rng), cy = U(rng), s = S(rng), z = static_cast<float>(D(rng));
        m.triangle({cx + s * U(rng), cy + s * U(rng), z}, {cx + s * U(rng), cy + s * U(rng), z},
                   {cx + s * U(rng), cy + s * U(rng), z});
    }
    for (int f = 0; f < nf / 2; ++f) {
        const int32_t a = m.faces[3 * f], b = m.faces[3 * f + 1], c = m.faces[3 * f + 2];
        m.face(b, c, a);
        m.face(a, c, b);
    }
    return m;
}

// A FLAME-sized closed-ish head: a front shell (z = 10 - 0.5 d, DECA's +10 shift) in front of a slightly
// wider back shell (z = 10 + 0.5 d), each a jittered G x G grid on an ellipsoid cap, 4 (G-1)^2 faces.
Mesh flame_like(int G, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> J(-0.002f, 0.002f);
    const double pi = 3.14159265358979323846;
    Mesh m;
    for (int shell = 0; shell < 2; ++shell) {
        const int32_t base = static_cast<int32_t>(m.num_verts());
        const double wx = shell == 0 ? 0.6 : 0.66, sign = shell == 0 ? -0.5 : 0.5;
        for (int r = 0; r < G; ++r)
            for (int c = 0; c < G; ++c) {
                const double th = (c / double(G - 1) - 0.5) * pi * 0.9, ph = (r / double(G - 1) - 0.5) * pi * 0.9;
                const double d = std::cos(th) * std::cos(ph);
                m.vertex(static_cast<float>(wx * std::sin(th) * std::cos(ph)) + J(rng),
                         static_cast<float>(0.75 * std::sin(ph)) + J(rng), static_cast<float>(10.0 + sign * d));
            }
        for (int r = 0; r + 1 < G; ++r)
            for (int c = 0; c + 1 < G; ++c) {
                const int32_t p = base + r * G + c;
                m.face(p, p + G, p + 1);
                m.face(p + 1, p + G, p + G + 1);
            }
    }
    return m;
}

// Flat grid whose vertices sit exactly on pixel centres (every `step` pixels): the pixel centres on grid
// lines and diagonals lie exactly on shared edges, covered by several faces at the same depth.
Mesh pixel_grid(int W, int H, int step) {
    Mesh m;
    const int nx = (W - 1) / step + 1, ny = (H - 1) / step + 1;
    for (int r = 0; r < ny; ++r)
        for (int c = 0; c < nx; ++c) m.vertex(ndc(c * step, W), ndc(r * step, H), 5.f);
    for (int r = 0; r + 1 < ny; ++r)
        for (int c = 0; c + 1 < nx; ++c) {
            const int32_t p = r * nx + c;
            m.face(p, p + nx, p + 1);
            m.face(p + 1, p + nx, p + nx + 1);
        }
    return m;
}

// Partly and wholly off-screen triangles, boxes just under and over 4 image sizes, far-away and non-finite
// vertices (positions and depths).
Mesh off_screen(unsigned seed) {
    const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
    Mesh m = random_soup(seed, 300, 300, -3.f, 3.f);
    m.triangle({-4.9f, -1.f, 0.5f}, {2.9f, 0.9f, 0.5f}, {-1.f, 2.9f, 0.5f});  // box 3.9 images: kept
    m.triangle({-5.f, -1.f, 0.2f}, {5.f, 0.5f, 0.2f}, {0.f, 1.f, 0.2f});      // 5 images wide: skipped
    m.triangle({-1.f, -5.f, 0.1f}, {1.f, 5.f, 0.1f}, {0.5f, 0.f, 0.1f});      // 5 images tall: skipped
    m.triangle({1e6f, 1e6f, 0.f}, {1e6f + 0.5f, 1e6f, 0.f}, {1e6f, 1e6f + 0.5f, 0.f});
    m.triangle({-1e6f, 0.f, 0.f}, {-1e6f + 1.f, 0.f, 0.f}, {-1e6f, 0.5f, 0.f});
    m.triangle({nan, 0.f, 0.f}, {0.5f, 0.f, 0.f}, {0.f, 0.5f, 0.f});
    m.triangle({0.f, 0.f, 0.f}, {nan, 0.5f, 0.f}, {0.f, 0.5f, 0.f});
    m.triangle({0.f, 0.f, 0.f}, {0.5f, 0.f, 0.f}, {0.f, inf, 0.f});
    m.triangle({-inf, 0.f, 0.f}, {0.5f, 0.f, 0.f}, {0.f, 0.5f, 0.f});
    m.triangle({-0.5f, -0.5f, nan}, {0.5f, -0.5f, 0.f}, {0.f, 0.5f, 0.f});   // NaN depth never wins
    m.triangle({-0.5f, -0.5f, inf}, {0.5f, -0.5f, inf}, {0.f, 0.5f, inf});   // +inf depth never wins
    m.triangle({-0.2f, -0.2f, -inf}, {0.2f, -0.2f, 0.f}, {0.f, 0.2f, 0.f});  // -inf where it is reached
    return m;
}

// Proper triangles mixed with zero-area ones (collinear, repeated corner, sub-1e-12 pixel area) and needles.
Mesh degenerate(unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> U(-0.9f, 0.9f), Z(0.f, 1.f);
    Mesh m;
    for (int f = 0; f < 200; ++f) {
        const float x = U(rng), y = U(rng), dx = 0.3f * U(rng), dy = 0.3f * U(rng), z = Z(rng);
        switch (f % 5) {
            case 0: m.triangle({x, y, z}, {x + dx, y + dy, z}, {x + 2 * dx, y + 2 * dy, z}); break;  // collinear
            case 1: {
                const int32_t a = m.vertex(x, y, z), b = m.vertex(x + dx, y + dy, z);
                m.face(a, b, a);  // repeated corner
                break;
            }
            case 2: m.triangle({1e-9f, 0.f, z}, {0.f, 1e-9f, z}, {0.f, 0.f, z}); break;  // area ~1e-14 px^2
            case 3: m.triangle({x, y, z}, {x + dx, y + dy, z}, {x + dx + 1e-3f, y + dy, Z(rng)}); break;  // needle
            default: m.triangle({x, y, z}, {x + dx, y, Z(rng)}, {x, y + dy, Z(rng)}); break;
        }
    }
    return m;
}

class CudaRasterizer : public ::testing::Test {
protected:
    void SetUp() override {
        if (!cuda_rasterizer_available())
            GTEST_SKIP() << "no CUDA device visible (or ned built without CUDA): CUDA rasterizer not compared";
        cuda_ = std::make_unique<Rasterizer>(RasterizerOptions{RasterBackend::Cuda, 1});
    }

    // Rasterize `m` with both backends and check that they agree (see the header comment); returns the
    // number of covered pixels for the caller's sanity checks.
    int64_t expect_agree(const Mesh& m, int W, int H, const std::string& what) {
        Fragments cpu, gpu;
        Rasterizer(RasterizerOptions{RasterBackend::Cpu, 1})
            .rasterize(m.verts.data(), m.num_verts(), m.faces.data(), m.num_faces(), W, H, cpu);
        cuda_->rasterize(m.verts.data(), m.num_verts(), m.faces.data(), m.num_faces(), W, H, gpu);
        const int64_t n = static_cast<int64_t>(W) * H;
        EXPECT_EQ(gpu.width, W) << what;
        EXPECT_EQ(gpu.height, H) << what;
        if (static_cast<int64_t>(gpu.face.size()) != n || static_cast<int64_t>(gpu.bary.size()) != 3 * n ||
            static_cast<int64_t>(gpu.depth.size()) != n) {
            ADD_FAILURE() << what << ": CUDA fragments have the wrong size";
            return 0;
        }
        int64_t face_mismatch = 0, bad_background = 0;
        double bary_err = 0, depth_err = 0;
        for (int64_t p = 0; p < n; ++p) {
            if (cpu.face[p] != gpu.face[p]) {
                ++face_mismatch;
                continue;
            }
            if (gpu.face[p] < 0) {
                if (gpu.bary[3 * p] != 0.f || gpu.bary[3 * p + 1] != 0.f || gpu.bary[3 * p + 2] != 0.f ||
                    gpu.depth[p] != std::numeric_limits<float>::infinity())
                    ++bad_background;
                continue;
            }
            for (int k = 0; k < 3; ++k)
                bary_err = std::max(bary_err, std::abs(double(cpu.bary[3 * p + k]) - gpu.bary[3 * p + k]));
            if (cpu.depth[p] != gpu.depth[p])  // (equal infinities are fine)
                depth_err = std::max(depth_err, std::abs(double(cpu.depth[p]) - gpu.depth[p]));
        }
        const auto allowed = static_cast<int64_t>(kMaxFaceMismatchFraction * n);
        EXPECT_LE(face_mismatch, allowed) << what << ": faces differ at " << face_mismatch << " of " << n << " pixels";
        EXPECT_EQ(bad_background, 0) << what << ": background pixels without bary 0 / depth +inf";
        EXPECT_LE(bary_err, kFragmentTolerance) << what;
        EXPECT_LE(depth_err, kFragmentTolerance) << what;
        return cpu.num_covered();
    }

    std::unique_ptr<Rasterizer> cuda_;
};

}  // namespace

TEST(CudaRasterizerAvailability, BackendErrorUnlessACudaDeviceIsUsable) {
    if (cuda_rasterizer_available()) {
        // A CUDA build on a GPU machine: the backend must come up (a build without a kernel image for this
        // GPU would throw BackendError here).
        EXPECT_NO_THROW(Rasterizer(RasterizerOptions{RasterBackend::Cuda, 1}));
        return;
    }
    try {
        Rasterizer r(RasterizerOptions{RasterBackend::Cuda, 1});
        ADD_FAILURE() << "the CUDA backend was constructed although cuda_rasterizer_available() is false";
    } catch (const ned::BackendError& e) {
        EXPECT_NE(std::string(e.what()).find("CUDA"), std::string::npos) << e.what();
    }
}

TEST_F(CudaRasterizer, RandomOverlappingTriangles) {
    const Mesh m = random_soup(7, 600, 400, -1.1f, 1.1f);
    EXPECT_GT(expect_agree(m, 97, 61, "random 97x61"), 1000);
    EXPECT_GT(expect_agree(m, 61, 97, "random 61x97"), 1000);
    EXPECT_GT(expect_agree(random_soup(11, 3000, 4000, -1.f, 1.f), 640, 360, "random 640x360"), 100000);
}

TEST_F(CudaRasterizer, ExactDepthTiesGoToTheLowerFace) {
    const Mesh m = tie_soup(3, 300);
    EXPECT_GT(expect_agree(m, 128, 128, "ties 128x128"), 5000);
    EXPECT_GT(expect_agree(m, 150, 90, "ties 150x90"), 5000);
    // The duplicates (face index >= 300) tie with a lower original everywhere they cover: they never win.
    Fragments gpu;
    cuda_->rasterize(m.verts.data(), m.num_verts(), m.faces.data(), m.num_faces(), 128, 128, gpu);
    EXPECT_EQ(std::count_if(gpu.face.begin(), gpu.face.end(), [](int32_t f) { return f >= 300; }), 0);
}

TEST_F(CudaRasterizer, FlameSizedHead) {
    const Mesh m = flame_like(51, 5);  // 10,000 faces (FLAME has 9,976)
    ASSERT_EQ(m.num_faces(), 10000);
    EXPECT_GT(expect_agree(m, 224, 224, "head 224x224"), 15000);
    EXPECT_GT(expect_agree(m, 256, 256, "head 256x256"), 25000);
    EXPECT_GT(expect_agree(m, 320, 240, "head 320x240"), 20000);
}

TEST_F(CudaRasterizer, PixelCentresOnSharedEdges) {
    EXPECT_EQ(expect_agree(pixel_grid(64, 48, 4), 64, 48, "grid step 4"), 61 * 45);
    EXPECT_EQ(expect_agree(pixel_grid(33, 17, 1), 33, 17, "grid step 1"), 33 * 17);
}

TEST_F(CudaRasterizer, OffScreenAndNonFiniteTriangles) {
    const Mesh m = off_screen(13);
    EXPECT_GT(expect_agree(m, 100, 80, "off-screen 100x80"), 4000);
    EXPECT_GT(expect_agree(m, 37, 1, "off-screen 37x1"), 0);
    EXPECT_GT(expect_agree(m, 1, 37, "off-screen 1x37"), 0);
}

TEST_F(CudaRasterizer, DegenerateTriangles) {
    const Mesh m = degenerate(17);
    EXPECT_GT(expect_agree(m, 120, 90, "degenerate 120x90"), 500);
    EXPECT_GT(expect_agree(m, 7, 5, "degenerate 7x5"), 0);
}

TEST_F(CudaRasterizer, EmptyMeshIsBackground) {
    Fragments gpu;
    const float v[3] = {0, 0, 0};
    cuda_->rasterize(v, 1, nullptr, 0, 9, 4, gpu);
    ASSERT_EQ(gpu.face.size(), 36u);
    EXPECT_EQ(gpu.num_covered(), 0);
    for (float d : gpu.depth) EXPECT_EQ(d, std::numeric_limits<float>::infinity());
    for (float b : gpu.bary) EXPECT_EQ(b, 0.f);
}

TEST_F(CudaRasterizer, DeterministicAcrossCallsSizesAndThreads) {
    const Mesh ties = tie_soup(21, 400), head = flame_like(40, 9);
    Fragments ref_ties, ref_head;
    cuda_->rasterize(ties.verts.data(), ties.num_verts(), ties.faces.data(), ties.num_faces(), 160, 120, ref_ties);
    cuda_->rasterize(head.verts.data(), head.num_verts(), head.faces.data(), head.num_faces(), 300, 300, ref_head);
    ASSERT_GT(ref_ties.num_covered(), 5000);
    // Alternate sizes and meshes on one backend from 4 threads at once (buffers are reused and regrown).
    std::vector<int> bad(4, 0);
    std::vector<std::string> errors(4);
    std::vector<std::thread> pool;
    for (int t = 0; t < 4; ++t)
        pool.emplace_back([&, t] {
            try {
                Fragments fr;
                for (int it = 0; it < 6; ++it) {
                    const bool use_ties = (it + t) % 2 == 0;
                    const Mesh& m = use_ties ? ties : head;
                    const Fragments& ref = use_ties ? ref_ties : ref_head;
                    cuda_->rasterize(m.verts.data(), m.num_verts(), m.faces.data(), m.num_faces(), ref.width,
                                     ref.height, fr);
                    if (fr.face != ref.face || fr.bary != ref.bary || fr.depth != ref.depth) ++bad[t];
                }
            } catch (const std::exception& e) {
                errors[t] = e.what();
            }
        });
    for (auto& th : pool) th.join();
    for (int t = 0; t < 4; ++t) {
        EXPECT_EQ(bad[t], 0) << "thread " << t;
        EXPECT_EQ(errors[t], "") << "thread " << t;
    }
}
