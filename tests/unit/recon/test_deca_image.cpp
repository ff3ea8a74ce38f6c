// DECA's 224x224 crop (ned/recon/deca_image.hpp; needs OpenCV, so not in the NED_NETS_ONLY build).
#include <gtest/gtest.h>

#include <opencv2/core.hpp>

#include <cmath>

#include "ned/recon/deca_image.hpp"

using namespace ned;
using namespace ned::recon;

TEST(Deca, CropTransformFollowsDeca) {
    face::Landmarks lmk;
    for (int i = 0; i < 68; ++i) lmk[i] = cv::Point2f(60.f + (i % 10) * 13.3f, 70.f + (i / 10) * 20.f);
    // bbox: l=60, r=60+9*13.3=179.7, t=70, b=70+6*20=190
    const double old_size = ((179.7 - 60) + (190 - 70)) / 2 * 1.1;
    const double size = std::floor(old_size * 1.25);
    const double cx = (60 + 179.7) / 2, cy = (70 + 190) / 2.0;
    auto T = deca_crop_tform(lmk);
    auto map = [&](double x, double y) {
        return cv::Point2d(T(0, 0) * x + T(0, 1) * y + T(0, 2), T(1, 0) * x + T(1, 1) * y + T(1, 2));
    };
    auto p0 = map(cx - size / 2, cy - size / 2), p1 = map(cx - size / 2, cy + size / 2),
         p2 = map(cx + size / 2, cy - size / 2);
    EXPECT_NEAR(p0.x, 0, 1e-3);
    EXPECT_NEAR(p0.y, 0, 1e-3);
    EXPECT_NEAR(p1.x, 0, 1e-3);
    EXPECT_NEAR(p1.y, 223, 1e-3);
    EXPECT_NEAR(p2.x, 223, 1e-3);
    EXPECT_NEAR(p2.y, 0, 1e-3);
    // image warp: a BGR image with a single pure-red pixel at the box centre lands at the crop centre
    cv::Mat img(256, 256, CV_8UC3, cv::Scalar(0, 0, 0));
    img.at<cv::Vec3b>(int(std::lround(cy)), int(std::lround(cx))) = cv::Vec3b(0, 0, 255);
    auto crop = deca_crop_image(img, T);
    ASSERT_EQ(crop.sizes(), (std::vector<int64_t>{3, 224, 224}));
    EXPECT_GT(crop[0].max().item<float>(), 0.f);  // red channel first (RGB)
    EXPECT_EQ(crop[2].max().item<float>(), 0.f);
    auto idx = crop[0].argmax().item<int64_t>();
    auto c = map(std::lround(cx), std::lround(cy));
    EXPECT_NEAR(double(idx % 224), c.x, 1.0);
    EXPECT_NEAR(double(idx / 224), c.y, 1.0);
}
