// Analytic cases of the orthographic rasterizer: coverage, barycentrics, depth order, pixel centres,
// thread-count independence and backend selection.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "ned/core/error.hpp"
#include "ned/conditioning/rasterizer.hpp"

using namespace ned::conditioning;

namespace {

// Screen coordinate of pixel coordinate u in an image of n pixels (pixel centres at integers).
float ndc(float u, int n) { return (2.f * u + 1.f) / n - 1.f; }

std::vector<float> tri_verts(std::initializer_list<std::array<float, 3>> pix, int W, int H) {
    std::vector<float> v;
    for (const auto& p : pix) v.insert(v.end(), {ndc(p[0], W), ndc(p[1], H), p[2]});
    return v;
}

}  // namespace

TEST(Rasterizer, OneTriangleCoverageAndBarycentrics) {
    const int W = 8, H = 8;
    auto v = tri_verts({{0, 0, 1}, {7, 0, 1}, {0, 7, 1}}, W, H);
    const int32_t f[3] = {0, 1, 2};
    Rasterizer r;
    Fragments fr;
    r.rasterize(v.data(), 3, f, 1, W, H, fr);
    ASSERT_EQ(fr.width, W);
    ASSERT_EQ(fr.height, H);
    // Pixel centres (i, j) with i + j <= 7 are inside (edges inclusive): 8+7+...+1 = 36.
    EXPECT_EQ(fr.num_covered(), 36);
    for (int j = 0; j < H; ++j)
        for (int i = 0; i < W; ++i) {
            const int p = j * W + i;
            EXPECT_EQ(fr.covered(p), i + j <= 7) << i << "," << j;
            if (!fr.covered(p)) {
                EXPECT_EQ(fr.bary[3 * p], 0.f);
                continue;
            }
            EXPECT_NEAR(fr.bary[3 * p + 1], i / 7.f, 1e-5);
            EXPECT_NEAR(fr.bary[3 * p + 2], j / 7.f, 1e-5);
            EXPECT_NEAR(fr.bary[3 * p] + fr.bary[3 * p + 1] + fr.bary[3 * p + 2], 1.f, 1e-5);
            EXPECT_NEAR(fr.depth[p], 1.f, 1e-6);
        }
}

TEST(Rasterizer, PixelCentreConvention) {
    // A small triangle around the centre of pixel (5, 2) of a 10x6 image covers exactly that pixel;
    // the same triangle shifted by half a pixel covers no pixel centre.
    const int W = 10, H = 6;
    auto v = tri_verts({{4.7f, 1.7f, 0}, {5.4f, 1.8f, 0}, {5.0f, 2.4f, 0}}, W, H);
    const int32_t f[3] = {0, 1, 2};
    Rasterizer r;
    Fragments fr;
    r.rasterize(v.data(), 3, f, 1, W, H, fr);
    ASSERT_EQ(fr.num_covered(), 1);
    EXPECT_TRUE(fr.covered(2 * W + 5));
    auto shifted = tri_verts({{4.2f, 1.2f, 0}, {4.9f, 1.3f, 0}, {4.5f, 1.9f, 0}}, W, H);
    r.rasterize(shifted.data(), 3, f, 1, W, H, fr);
    EXPECT_EQ(fr.num_covered(), 0);
}

TEST(Rasterizer, NearestSurfaceWinsWhateverTheOrder) {
    const int W = 16, H = 16;
    // Two overlapping quads' worth of triangles at z = 2 (far) and z = 1 (near).
    auto far = tri_verts({{0, 0, 2}, {15, 0, 2}, {0, 15, 2}}, W, H);
    auto near = tri_verts({{2, 2, 1}, {14, 2, 1}, {2, 14, 1}}, W, H);
    for (int order = 0; order < 2; ++order) {
        std::vector<float> v = order == 0 ? far : near;
        const auto& second = order == 0 ? near : far;
        v.insert(v.end(), second.begin(), second.end());
        const int32_t f[6] = {0, 1, 2, 3, 4, 5};
        Rasterizer r;
        Fragments fr;
        r.rasterize(v.data(), 6, f, 2, W, H, fr);
        const int near_face = order == 0 ? 1 : 0;
        EXPECT_EQ(fr.face[4 * W + 4], near_face);  // inside both
        EXPECT_NEAR(fr.depth[4 * W + 4], 1.f, 1e-6);
        EXPECT_EQ(fr.face[0], 1 - near_face);  // only the far one
        EXPECT_NEAR(fr.depth[0], 2.f, 1e-6);
    }
}

TEST(Rasterizer, EqualDepthTieGoesToLowerFaceIndex) {
    const int W = 8, H = 8;
    auto v = tri_verts({{0, 0, 1}, {7, 0, 1}, {0, 7, 1}}, W, H);
    const int32_t f[6] = {0, 1, 2, 0, 2, 1};
    Rasterizer r;
    Fragments fr;
    r.rasterize(v.data(), 3, f, 2, W, H, fr);
    EXPECT_EQ(fr.face[W + 1], 0);
}

TEST(Rasterizer, NoBackFaceCullingAndSlopedDepth) {
    const int W = 8, H = 8;
    // Clockwise winding, depth varying along x.
    auto v = tri_verts({{0, 0, 0}, {0, 7, 0}, {7, 0, 7}}, W, H);
    const int32_t f[3] = {0, 1, 2};
    Rasterizer r;
    Fragments fr;
    r.rasterize(v.data(), 3, f, 1, W, H, fr);
    EXPECT_EQ(fr.num_covered(), 36);
    EXPECT_NEAR(fr.depth[1 * W + 3], 3.f, 1e-5);
}

TEST(Rasterizer, SameResultForAnyThreadCount) {
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> U(-1.1f, 1.1f), Z(0.f, 1.f);
    const int nv = 600, nf = 400;
    std::vector<float> v(nv * 3);
    for (int i = 0; i < nv; ++i) v[3 * i] = U(rng), v[3 * i + 1] = U(rng), v[3 * i + 2] = Z(rng);
    std::vector<int32_t> f(nf * 3);
    std::uniform_int_distribution<int> I(0, nv - 1);
    for (auto& x : f) x = I(rng);
    Fragments a, b;
    Rasterizer(RasterizerOptions{RasterBackend::Cpu, 1}).rasterize(v.data(), nv, f.data(), nf, 97, 61, a);
    Rasterizer(RasterizerOptions{RasterBackend::Cpu, 3}).rasterize(v.data(), nv, f.data(), nf, 97, 61, b);
    EXPECT_GT(a.num_covered(), 1000);
    EXPECT_EQ(a.face, b.face);
    EXPECT_EQ(a.bary, b.bary);
}

TEST(Rasterizer, InterpolatesVertexAttributes) {
    const int W = 8, H = 8;
    auto v = tri_verts({{0, 0, 1}, {7, 0, 1}, {0, 7, 1}}, W, H);
    const int32_t f[3] = {0, 1, 2};
    const float attr[6] = {0, 10, 7, 10, 0, 17};  // 2 channels: x-ramp 0..7 and 10 + y-ramp
    Rasterizer r;
    Fragments fr;
    r.rasterize(v.data(), 3, f, 1, W, H, fr);
    std::vector<float> out(W * H * 2);
    interpolate_vertex_attributes(fr, f, attr, 2, out.data());
    EXPECT_NEAR(out[2 * (3 * W + 2)], 2.f, 1e-4);
    EXPECT_NEAR(out[2 * (3 * W + 2) + 1], 13.f, 1e-4);
    EXPECT_EQ(out[2 * (7 * W + 7)], 0.f);  // background
}

TEST(Rasterizer, RejectsBadInput) {
    const float v[9] = {0, 0, 0, 1, 0, 0, 0, 1, 0};
    const int32_t bad[3] = {0, 1, 3};
    Rasterizer r;
    Fragments fr;
    EXPECT_THROW(r.rasterize(v, 3, bad, 1, 8, 8, fr), ned::Error);
    const int32_t ok[3] = {0, 1, 2};
    EXPECT_THROW(r.rasterize(v, 3, ok, 1, 0, 8, fr), ned::Error);
}

TEST(Rasterizer, CudaBackendWithoutCudaThrowsBackendError) {
    if (cuda_rasterizer_available()) GTEST_SKIP() << "a CUDA device is usable (test_conditioning_cuda covers it)";
    EXPECT_THROW(Rasterizer(RasterizerOptions{RasterBackend::Cuda, 1}), ned::BackendError);
}
