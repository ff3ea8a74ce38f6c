#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "ned/core/error.hpp"
#include "ned/face/soft_erosion.hpp"

using namespace ned::face;

TEST(SoftErosion, KernelIsNormalisedConeLikeNed) {
    const cv::Mat k = soft_erosion_kernel(5);
    ASSERT_EQ(k.size(), cv::Size(5, 5));
    EXPECT_NEAR(cv::sum(k)[0], 1.0, 1e-5);
    // K = max(dist) - dist: the corners (max distance) are 0, the centre the largest, symmetric.
    EXPECT_FLOAT_EQ(k.at<float>(0, 0), 0.f);
    double mx;
    cv::Point loc;
    cv::minMaxLoc(k, nullptr, &mx, nullptr, &loc);
    EXPECT_EQ(loc, cv::Point(2, 2));
    EXPECT_FLOAT_EQ(k.at<float>(1, 2), k.at<float>(2, 1));
    // ratio centre / edge-middle = (2*sqrt2 - 0) / (2*sqrt2 - 2)
    EXPECT_NEAR(k.at<float>(2, 2) / k.at<float>(0, 2), 2 * std::sqrt(2.0) / (2 * std::sqrt(2.0) - 2), 1e-4);
    EXPECT_THROW(soft_erosion_kernel(4), ned::InputError);
}

TEST(SoftErosion, BlendKernelRule) {
    EXPECT_EQ(blend_erosion_kernel_size(256), 33);
    EXPECT_EQ(blend_erosion_kernel_size(512), 67);  // int(66) made odd
    EXPECT_EQ(blend_erosion_kernel_size(128), 17);  // int(16.5) = 16 -> 17
}

TEST(SoftErosion, HardAndSoftMasks) {
    cv::Mat m = cv::Mat::zeros(101, 101, CV_8U);
    cv::rectangle(m, cv::Rect(20, 20, 61, 61), cv::Scalar(255), cv::FILLED);
    const auto r = soft_erosion(m, 11, 0.8f);
    ASSERT_EQ(r.soft.type(), CV_32FC1);
    ASSERT_EQ(r.hard.type(), CV_32FC1);
    // deep inside: hard 1 and soft 1; far outside: 0 in both
    EXPECT_EQ(r.hard.at<float>(50, 50), 1.f);
    EXPECT_EQ(r.soft.at<float>(50, 50), 1.f);
    EXPECT_EQ(r.hard.at<float>(2, 2), 0.f);
    EXPECT_EQ(r.soft.at<float>(2, 2), 0.f);
    // the hard mask is eroded: the mask edge pixel is not hard (conv there ~ 0.5)
    EXPECT_EQ(r.hard.at<float>(50, 20), 0.f);
    // soft is in [0,1], 1 exactly on hard pixels, and the non-hard maximum is normalised to 1
    double mn, mx;
    cv::minMaxLoc(r.soft, &mn, &mx);
    EXPECT_GE(mn, 0.0);
    EXPECT_LE(mx, 1.0);
    cv::Mat nonhard = r.hard == 0.f;
    cv::minMaxLoc(r.soft, nullptr, &mx, nullptr, nullptr, nonhard);
    EXPECT_NEAR(mx, 1.0, 1e-6);
    // soft ramps down monotonically going outwards across the edge
    float prev = 2.f;
    for (int x = 30; x >= 10; --x) {
        const float v = r.soft.at<float>(50, x);
        EXPECT_LE(v, prev + 1e-6f) << "x=" << x;
        prev = v;
    }
    // beyond the kernel radius outside the mask the soft mask is 0 (support = mask dilated by r)
    EXPECT_EQ(r.soft.at<float>(50, 20 - 6), 0.f);
    EXPECT_GT(r.soft.at<float>(50, 20 - 4), 0.f);
    // float input gives the same as u8
    cv::Mat mf;
    m.convertTo(mf, CV_32F, 1 / 255.0);
    const auto rf = soft_erosion(mf, 11, 0.8f);
    EXPECT_EQ(cv::norm(rf.soft, r.soft, cv::NORM_INF), 0.0);
}
