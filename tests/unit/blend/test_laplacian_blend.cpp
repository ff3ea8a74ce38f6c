#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "ned/blend/laplacian_blend.hpp"

using namespace ned::blend;

namespace {
cv::Mat noise(int seed, cv::Size s = {64, 48}) {
    cv::Mat m(s, CV_32FC3);
    cv::RNG rng(seed);
    rng.fill(m, cv::RNG::UNIFORM, 0.0, 1.0);
    return m;
}
}  // namespace

TEST(LaplacianBlend, MaskZeroGivesAAndMaskOneGivesB) {
    const cv::Mat a = noise(1), b = noise(2);
    for (int levels : {0, 1, 4}) {
        const cv::Mat r0 = laplacian_blend(a, b, cv::Mat::zeros(a.size(), CV_32F), levels);
        const cv::Mat r1 = laplacian_blend(a, b, cv::Mat::ones(a.size(), CV_32F), levels);
        EXPECT_LT(cv::norm(r0, a, cv::NORM_INF), 1e-4) << levels;
        EXPECT_LT(cv::norm(r1, b, cv::NORM_INF), 1e-4) << levels;
        EXPECT_EQ(r0.type(), CV_32FC3);
    }
}

TEST(LaplacianBlend, HalfMaskMixesAndLevelsWidenTheSeam) {
    const cv::Mat a(64, 64, CV_32FC3, cv::Scalar::all(0.0)), b(64, 64, CV_32FC3, cv::Scalar::all(1.0));
    cv::Mat m = cv::Mat::zeros(64, 64, CV_32F);
    m(cv::Rect(32, 0, 32, 64)).setTo(1.f);
    const cv::Mat r0 = laplacian_blend(a, b, m, 0);
    const cv::Mat r4 = laplacian_blend(a, b, m, 4);
    // far from the seam: the source images
    EXPECT_NEAR(r4.at<cv::Vec3f>(32, 2)[0], 0.f, 0.05);
    EXPECT_NEAR(r4.at<cv::Vec3f>(32, 61)[0], 1.f, 0.05);
    // level 0 is a hard cut; 4 levels blend smoothly across the seam (intermediate values near it)
    EXPECT_EQ(r0.at<cv::Vec3f>(32, 30)[0], 0.f);
    EXPECT_GT(r4.at<cv::Vec3f>(32, 30)[0], 0.1f);
    EXPECT_LT(r4.at<cv::Vec3f>(32, 30)[0], 0.9f);
    // monotone ramp along a row (values within float noise)
    for (int x = 1; x < 64; ++x) EXPECT_GE(r4.at<cv::Vec3f>(32, x)[0] + 1e-4f, r4.at<cv::Vec3f>(32, x - 1)[0]);
}

TEST(LaplacianBlend, OddSizesWork) {
    const cv::Mat a = noise(3, {37, 29}), b = noise(4, {37, 29});
    const cv::Mat r = laplacian_blend(a, b, cv::Mat::zeros(a.size(), CV_32F), 4);
    EXPECT_EQ(r.size(), a.size());
    EXPECT_LT(cv::norm(r, a, cv::NORM_INF), 1e-4);
}
