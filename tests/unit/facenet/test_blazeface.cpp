// MediaPipe BlazeFace on the synthetic image, and the yaw read from its keypoints (its parity on photos:
// test_facenet_data.cpp).
#include <gtest/gtest.h>

#include <cmath>

#include "ned/core/error.hpp"
#include "ned/facenet/blazeface.hpp"
#include "unit/facenet/parity.hpp"

using namespace ned::facenet;
using namespace ned::facenet::test;

TEST(FacenetBlazeFace, FindsNoFaceInTheSyntheticImageAsTfjs) {
    const auto ref = reference()["images"]["synthetic"];
    EXPECT_EQ(BlazeFaceDetector().detect(synthetic_image(), 0.5f).size(), ref["blazeface"].size());
    EXPECT_THROW(BlazeFaceDetector().detect(cv::Mat()), ned::InputError);
}

TEST(FacenetBlazeFace, YawFromTheNoseOffsetAlongTheEyeLine) {
    // eyes at (10, 20) and (30, 20), nose 5 px right of their midpoint: r = 5 * 20 / 20^2 = 0.25,
    // yaw = atan(0.25 / 0.5) = 26.565 degrees; mirrored: the opposite sign
    FaceBox f{cv::Rect2f(0, 0, 40, 40), 0.9f, {{10, 20}, {30, 20}, {25, 30}, {20, 35}, {0, 20}, {40, 20}}};
    EXPECT_NEAR(blaze_yaw_deg(f), std::atan(0.5) * 180 / CV_PI, 1e-4);
    f.keypoints[2].x = 15;
    EXPECT_NEAR(blaze_yaw_deg(f), -std::atan(0.5) * 180 / CV_PI, 1e-4);
    f.keypoints[2].x = 20;
    EXPECT_EQ(blaze_yaw_deg(f), 0.f);
    f.keypoints[1] = f.keypoints[0];  // no eye line
    EXPECT_EQ(blaze_yaw_deg(f), 0.f);
    f.keypoints.clear();  // the SSD's boxes have no keypoints
    EXPECT_EQ(blaze_yaw_deg(f), 0.f);
}
