#include <gtest/gtest.h>

#include <cmath>

#include "ned/core/error.hpp"
#include "ned/recon/flame.hpp"
#include "synthetic_flame.hpp"
#include "support/test_support.hpp"

using namespace ned;
using namespace ned::recon;

namespace {

torch::Tensor rot_y(double deg) {
    const double a = deg * M_PI / 180.0;
    return torch::tensor({{std::cos(a), 0.0, std::sin(a)}, {0.0, 1.0, 0.0}, {-std::sin(a), 0.0, std::cos(a)}},
                         torch::kFloat32);
}

FlameModel synthetic_model(int64_t V = 60) { return FlameModel::from_file(test::make_synthetic_flame(V).file); }

// Landmarks computed element by element from the file tensors (independent of vertices_to_landmarks).
torch::Tensor manual_landmarks(const torch::Tensor& verts /*[V,3]*/, const torch::Tensor& faces,
                               const torch::Tensor& fidx, const torch::Tensor& bary) {
    const int64_t L = fidx.size(0);
    auto out = torch::zeros({L, 3});
    for (int64_t l = 0; l < L; ++l) {
        auto f = faces[fidx[l].item<int64_t>()];
        for (int k = 0; k < 3; ++k) out[l] += bary[l][k] * verts[f[k].item<int64_t>()];
    }
    return out;
}

}  // namespace

TEST(Flame, ZeroParametersGiveTemplate) {
    auto syn = test::make_synthetic_flame();
    auto m = FlameModel::from_file(syn.file);
    auto out = m.forward(torch::zeros({2, 100}), torch::zeros({2, 50}), torch::zeros({2, 6}));
    ASSERT_EQ(out.vertices.sizes(), (std::vector<int64_t>{2, 60, 3}));
    ASSERT_EQ(out.landmarks2d.sizes(), (std::vector<int64_t>{2, 68, 2}));
    ASSERT_EQ(out.landmarks3d.sizes(), (std::vector<int64_t>{2, 68, 3}));
    auto tmpl = to_torch(syn.file.at("v_template"));
    EXPECT_TRUE(torch::allclose(out.vertices[0], tmpl, 1e-5, 1e-6));
    EXPECT_TRUE(torch::allclose(out.vertices[1], tmpl, 1e-5, 1e-6));
}

TEST(Flame, ShapeAndExpressionAreLinearBlendShapes) {
    auto syn = test::make_synthetic_flame();
    auto m = FlameModel::from_file(syn.file);
    auto shape = torch::randn({1, 100}), exp = torch::randn({1, 50});
    auto out = m.forward(shape, exp, torch::zeros({1, 6}));
    auto sd = to_torch(syn.file.at("shapedirs")).slice(2, 0, 100);
    auto ed = to_torch(syn.file.at("exprdirs")).slice(2, 0, 50);
    auto expect = to_torch(syn.file.at("v_template")) + (sd * shape.view({1, 1, 100})).sum(2) +
                  (ed * exp.view({1, 1, 50})).sum(2);
    EXPECT_TRUE(torch::allclose(out.vertices[0], expect, 1e-4, 1e-6));
    // fewer components than 100/50 = trailing zeros
    auto part = m.forward(shape.slice(1, 0, 10), exp.slice(1, 0, 5), torch::zeros({1, 6}));
    auto full = m.forward(torch::cat({shape.slice(1, 0, 10), torch::zeros({1, 90})}, 1),
                          torch::cat({exp.slice(1, 0, 5), torch::zeros({1, 45})}, 1), torch::zeros({1, 6}));
    EXPECT_TRUE(torch::allclose(part.vertices, full.vertices));
}

TEST(Flame, GlobalRotationIsRigidAboutRootJoint) {
    auto syn = test::make_synthetic_flame();
    auto m = FlameModel::from_file(syn.file);
    auto shape = torch::randn({1, 100});
    auto rest = m.forward(shape, torch::zeros({1, 50}), torch::zeros({1, 6})).vertices[0];
    auto pose = torch::zeros({1, 6});
    pose[0][1] = 0.5;  // 0.5 rad about y
    auto posed = m.forward(shape, torch::zeros({1, 50}), pose).vertices[0];
    auto root = torch::matmul(to_torch(syn.file.at("J_regressor"))[0], rest);  // root joint [3]
    auto R = rot_y(0.5 * 180.0 / M_PI);
    auto expect = torch::matmul(rest - root, R.t()) + root;
    EXPECT_TRUE(torch::allclose(posed, expect, 1e-4, 1e-6));
    // distances are preserved. Computed from explicit differences, not torch::cdist: above 25 points cdist
    // switches to the |x|^2 + |y|^2 - 2xy matrix-product form, whose cancellation error depends on the CPU's
    // BLAS kernel. Differences of float32 coordinates of size ~1 have absolute error ~1e-7 each, and the
    // rotation adds ~1e-6, so 1e-5 absolute is an upper bound from the arithmetic, not from one run.
    auto pairwise = [](const torch::Tensor& x) { return (x.unsqueeze(1) - x.unsqueeze(0)).norm(2, {2}); };
    auto d0 = pairwise(rest), d1 = pairwise(posed);
    const double scale = d0.max().item<double>();
    EXPECT_LT((d0 - d1).abs().max().item<double>(), 1e-5 * std::max(1.0, scale));
}

TEST(Flame, JawRotationMovesOnlyJawWeightedVertices) {
    auto syn = test::make_synthetic_flame();
    auto m = FlameModel::from_file(syn.file);
    ASSERT_GT(syn.jaw_mask.sum().item<int64_t>(), 3);
    ASSERT_GT((~syn.jaw_mask).sum().item<int64_t>(), 3);
    auto pose = torch::zeros({1, 6});
    pose[0][3] = 0.3;  // open the jaw
    auto rest = m.forward(torch::zeros({1, 100}), torch::zeros({1, 50}), torch::zeros({1, 6})).vertices[0];
    auto posed = m.forward(torch::zeros({1, 100}), torch::zeros({1, 50}), pose).vertices[0];
    auto moved = (posed - rest).norm(2, {1}) > 1e-6;
    EXPECT_TRUE(torch::equal(moved, syn.jaw_mask))
        << "moved " << moved.sum().item<int64_t>() << " of " << syn.jaw_mask.sum().item<int64_t>() << " jaw vertices";
}

TEST(Flame, BatchEqualsSingle) {
    auto m = synthetic_model();
    const int64_t B = 4;
    auto shape = torch::randn({B, 100}), exp = torch::randn({B, 50}) * 2, pose = torch::randn({B, 6}) * 0.4;
    auto batch = m.forward(shape, exp, pose);
    // Batch and single calls may take different BLAS kernels (blocking, FMA), so they agree to float32
    // rounding of sums over 150 blend shapes (~150 * 6e-8 relative), not bit for bit: 1e-4 / 1e-5.
    for (int64_t b = 0; b < B; ++b) {
        auto one = m.forward(shape.slice(0, b, b + 1), exp.slice(0, b, b + 1), pose.slice(0, b, b + 1));
        EXPECT_TRUE(torch::allclose(one.vertices[0], batch.vertices[b], 1e-4, 1e-5)) << b;
        EXPECT_TRUE(torch::allclose(one.landmarks2d[0], batch.landmarks2d[b], 1e-4, 1e-5)) << b;
        EXPECT_TRUE(torch::allclose(one.landmarks3d[0], batch.landmarks3d[b], 1e-4, 1e-5)) << b;
    }
}

TEST(Flame, LandmarksAreBarycentricOnFaces) {
    auto syn = test::make_synthetic_flame();
    auto m = FlameModel::from_file(syn.file);
    auto pose = torch::zeros({1, 6});
    pose[0][3] = 0.2;
    auto out = m.forward(torch::randn({1, 100}), torch::randn({1, 50}), pose);
    auto verts = out.vertices[0];
    auto faces = to_torch(syn.file.at("faces"));
    auto full = manual_landmarks(verts, faces, to_torch(syn.file.at("full_lmk_faces_idx")),
                                 to_torch(syn.file.at("full_lmk_bary_coords")));
    EXPECT_TRUE(torch::allclose(out.landmarks3d[0], full, 1e-5, 1e-6));
    // 2D: 17 contour points from dynamic bin 0 (no yaw) + 51 static points
    auto stat = manual_landmarks(verts, faces, to_torch(syn.file.at("static_lmk_faces_idx")),
                                 to_torch(syn.file.at("static_lmk_bary_coords")));
    auto dyn = manual_landmarks(verts, faces, to_torch(syn.file.at("dynamic_lmk_faces_idx"))[0],
                                to_torch(syn.file.at("dynamic_lmk_bary_coords"))[0]);
    EXPECT_TRUE(torch::allclose(out.landmarks2d[0].slice(0, 17), stat.slice(1, 0, 2), 1e-5, 1e-6));
    EXPECT_TRUE(torch::allclose(out.landmarks2d[0].slice(0, 0, 17), dyn.slice(1, 0, 2), 1e-5, 1e-6));
}

TEST(Flame, DynamicContourIndexRule) {
    struct Case {
        double deg;
        int64_t index;
    };
    // y>=0 -> y (clamped at 39); -39<=y<0 -> 39-y; y<-39 -> 78
    const Case cases[] = {{0.0, 0},    {10.2, 10},  {38.6, 39},  {39.0, 39},  {45.0, 39},
                          {89.0, 39},  {-0.6, 40},  {-1.0, 40},  {-20.0, 59}, {-38.6, 78},
                          {-39.0, 78}, {-39.4, 78}, {-39.6, 78}, {-45.0, 78}, {-80.0, 78}};
    for (const auto& c : cases) {
        auto idx = FlameModel::dynamic_contour_index(rot_y(c.deg).unsqueeze(0));
        EXPECT_EQ(idx[0].item<int64_t>(), c.index) << c.deg << " degrees";
    }
    // in the forward, the global yaw selects the bin: -20 degrees -> entry 59
    auto syn = test::make_synthetic_flame();
    auto m = FlameModel::from_file(syn.file);
    auto pose = torch::zeros({1, 6});
    pose[0][1] = -20.0 * M_PI / 180.0;
    auto out = m.forward(torch::zeros({1, 100}), torch::zeros({1, 50}), pose);
    auto dyn = manual_landmarks(out.vertices[0], to_torch(syn.file.at("faces")),
                                to_torch(syn.file.at("dynamic_lmk_faces_idx"))[59],
                                to_torch(syn.file.at("dynamic_lmk_bary_coords"))[59]);
    EXPECT_TRUE(torch::allclose(out.landmarks2d[0].slice(0, 0, 17), dyn.slice(1, 0, 2), 1e-5, 1e-6));
}

TEST(Flame, RodriguesMatchesAxisAngle) {
    auto r = torch::tensor({{0.0f, 0.0f, 0.0f}, {0.0f, 0.7f, 0.0f}, {0.3f, -0.2f, 0.5f}});
    auto R = batch_rodrigues(r);
    EXPECT_TRUE(torch::allclose(R[0], torch::eye(3)));
    EXPECT_TRUE(torch::allclose(R[1], rot_y(0.7 * 180 / M_PI), 1e-5, 1e-6));
    EXPECT_TRUE(torch::allclose(torch::matmul(R[2], R[2].t()), torch::eye(3), 1e-5, 1e-6));
    EXPECT_NEAR(torch::det(R[2]).item<float>(), 1.0f, 1e-5);
}

TEST(Flame, OrthographicProjectionAsDeca) {
    auto X = torch::tensor({{{0.1f, 0.2f, 0.3f}, {-0.1f, 0.0f, 0.05f}}});
    auto cam = torch::tensor({{2.0f, 0.5f, -0.25f}});
    auto p = orth_project(X, cam);
    EXPECT_TRUE(torch::allclose(p, torch::tensor({{{1.2f, -0.1f, 0.6f}, {0.8f, -0.5f, 0.1f}}})));
    auto q = image_coords(X, cam);
    EXPECT_TRUE(torch::allclose(q, torch::tensor({{{1.2f, 0.1f, -0.6f}, {0.8f, 0.5f, -0.1f}}})));
    auto px = ndc_to_pixels(q.slice(2, 0, 2), 224);
    EXPECT_NEAR(px[0][0][0].item<float>(), (1.2f + 1) * 112, 1e-4);
    EXPECT_NEAR(px[0][1][1].item<float>(), (0.5f + 1) * 112, 1e-4);
}

TEST(Flame, LoaderValidatesFile) {
    test::TempDir tmp;
    EXPECT_THROW(FlameModel::load(tmp / "missing.safetensors"), ModelError);
    auto syn = test::make_synthetic_flame(60, 90, 3, true);
    st::save(tmp / "flame.safetensors", syn.file);
    auto m = FlameModel::load(tmp / "flame.safetensors");
    EXPECT_EQ(m.num_vertices(), 60);
    EXPECT_EQ(m.num_faces(), 90);
    EXPECT_TRUE(m.has_uv());
    EXPECT_EQ(m.uv_faces().sizes(), (std::vector<int64_t>{90, 3}));
    EXPECT_TRUE(m.has_fixed_displacement());
    auto bad = syn.file;
    bad.tensors.erase("posedirs");
    st::save(tmp / "bad.safetensors", bad);
    EXPECT_THROW(FlameModel::load(tmp / "bad.safetensors"), ModelError);
    auto wrong = syn.file;
    wrong.metadata["format"] = "ned.deca";
    st::save(tmp / "wrong.safetensors", wrong);
    EXPECT_THROW(FlameModel::load(tmp / "wrong.safetensors"), ModelError);
    auto oob = syn.file;
    oob.tensors["faces"].ptr<int64_t>()[0] = 1000;
    EXPECT_THROW(FlameModel::from_file(oob), ModelError);
}

TEST(Flame, CudaMatchesCpu) {
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
    auto syn = test::make_synthetic_flame();
    auto cpu = FlameModel::from_file(syn.file);
    auto gpu = FlameModel::from_file(syn.file, torch::kCUDA);
    auto shape = torch::randn({3, 100}), exp = torch::randn({3, 50}), pose = torch::randn({3, 6}) * 0.3;
    auto a = cpu.forward(shape, exp, pose), b = gpu.forward(shape, exp, pose);
    EXPECT_TRUE(b.vertices.is_cuda());
    EXPECT_TRUE(torch::allclose(a.vertices, b.vertices.cpu(), 1e-4, 1e-5));
    EXPECT_TRUE(torch::allclose(a.landmarks2d, b.landmarks2d.cpu(), 1e-4, 1e-5));
}

TEST(Flame, LandmarkModelGivesSameLandmarks) {
    auto syn = test::make_synthetic_flame(80, 150, 9);
    auto m = FlameModel::from_file(syn.file);
    auto lm = m.landmark_model();
    EXPECT_LE(lm.num_vertices(), m.num_vertices());
    auto shape = torch::randn({3, 100}), exp = torch::randn({3, 50}), pose = torch::randn({3, 6}) * 0.4;
    auto a = m.forward(shape, exp, pose), b = lm.forward(shape, exp, pose);
    // different vertex counts -> different matmul shapes and kernels: equal up to float32 sum rounding
    EXPECT_TRUE(torch::allclose(a.landmarks2d, b.landmarks2d, 1e-4, 1e-5));
    EXPECT_TRUE(torch::allclose(a.landmarks3d, b.landmarks3d, 1e-4, 1e-5));
}
