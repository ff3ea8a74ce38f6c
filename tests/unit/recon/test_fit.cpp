#include <gtest/gtest.h>

#include "ned/recon/deca_image.hpp"
#include "ned/recon/fit.hpp"
#include "synthetic_flame.hpp"

using namespace ned;
using namespace ned::recon;

// A known synthetic FLAME face (random identity, per-frame expression, head and jaw pose, camera) is
// projected to landmarks of a 256 crop; the fit must reproduce them. The data are noise-free and
// exactly representable by the model, so the optimum is 0; the tolerance (mean < 1 px, every frame
// < 2 px in the 256 crop) allows for the priors and the finite number of Adam steps and is well
// below the ~2-3 px noise of dlib landmarks that the fit sees in practice.
TEST(Fit, RecoversLandmarksOfKnownFace) {
    auto syn = test::make_synthetic_flame(60, 90, 11, false, /*smooth_contour=*/true);
    auto flame = FlameModel::from_file(syn.file);
    torch::manual_seed(5);
    const int64_t T = 7;
    auto shape = torch::randn({1, 100}) * 0.5;
    // a smooth trajectory, as in a video: expression and pose drift linearly between two random states
    auto w = (torch::arange(T, torch::kFloat32) / (T - 1)).unsqueeze(1);
    auto exp = torch::randn({1, 50}) * 0.5 * (1 - w) + torch::randn({1, 50}) * 0.5 * w;
    auto pose = (torch::rand({1, 6}) - 0.5) * 0.3 * (1 - w) + (torch::rand({1, 6}) - 0.5) * 0.3 * w;
    auto cam = torch::tensor({{8.5f, 0.002f, -0.004f}}).repeat({T, 1}) + torch::randn({T, 3}) * 0.002;
    auto out = flame.forward(shape.expand({T, -1}), exp, pose);
    auto ndc = image_coords(out.landmarks2d, cam);            // [T,68,2]
    auto crop = (ndc + 1.0) * 112.0 * (240.0 / 224.0) + 6.0;  // some placement in a 256 crop
    std::vector<face::Landmarks> lmks(T);
    std::vector<uint8_t> valid(T, 1);
    valid[3] = 0;  // an invalid frame in the middle is skipped
    for (int64_t t = 0; t < T; ++t)
        for (int l = 0; l < 68; ++l) lmks[t][l] = cv::Point2f(crop[t][l][0].item<float>(), crop[t][l][1].item<float>());
    FitOptions o;
    o.chunk = 3;  // exercises the warm start across chunks
    auto r = fit_landmarks(flame, lmks, valid, o);
    ASSERT_EQ(r.exp.sizes(), (std::vector<int64_t>{T, 50}));
    EXPECT_LT(r.mean_error_px, 1.0);
    for (int64_t t = 0; t < T; ++t) {
        if (!valid[t]) {
            EXPECT_EQ(r.error_px[t].item<float>(), 0.f);
            EXPECT_EQ(r.cam[t].abs().sum().item<float>(), 0.f);
            continue;
        }
        EXPECT_LT(r.error_px[t].item<float>(), 2.0f) << "frame " << t;
        // independent check of the reported error: re-project with the returned parameters
        auto o2 = flame.forward(r.shape.unsqueeze(0), r.exp.slice(0, t, t + 1), r.pose.slice(0, t, t + 1));
        auto p = ndc_to_pixels(image_coords(o2.landmarks2d, r.cam.slice(0, t, t + 1)), 224)[0];  // 224 px
        auto s = r.tform[t][0][0].item<float>();
        auto tx = r.tform[t][0][2].item<float>(), ty = r.tform[t][1][2].item<float>();
        auto back = torch::stack({(p.select(1, 0) - tx) / s, (p.select(1, 1) - ty) / s}, 1);  // crop px
        auto err = (back - crop[t]).norm(2, {1}).mean().item<float>();
        EXPECT_NEAR(err, r.error_px[t].item<float>(), 0.05f) << "frame " << t;
    }
    // the tform is DECA's crop of the frame's landmarks
    auto expect_tf = deca_crop_tform(lmks[0]);
    EXPECT_NEAR(r.tform[0][0][0].item<float>(), expect_tf(0, 0), 1e-6);
    EXPECT_NEAR(r.tform[0][1][2].item<float>(), expect_tf(1, 2), 1e-4);
}

TEST(Fit, NoValidFramesGiveZeros) {
    auto flame = FlameModel::from_file(test::make_synthetic_flame().file);
    std::vector<face::Landmarks> lmks(2);
    auto r = fit_landmarks(flame, lmks, {0, 0});
    EXPECT_EQ(r.exp.size(0), 2);
    EXPECT_EQ(r.mean_error_px, 0.0);
}
