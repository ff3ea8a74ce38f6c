// Face detector on real photos (label data: skipped without ../shared/data).
#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>

#include "ned/detect/face_detector.hpp"
#include "support/test_support.hpp"

using namespace ned::detect;

TEST(FaceDetector, AutoScaleAndBoxMapping) {
    DetectorOptions o;
    EXPECT_FLOAT_EQ(resolve_detect_scale(o, 1920, 1080), 640.f / 1920.f);
    EXPECT_FLOAT_EQ(resolve_detect_scale(o, 256, 256), 1.f);  // never upscaled
    o.detect_scale = 0.5f;
    EXPECT_FLOAT_EQ(resolve_detect_scale(o, 1920, 1080), 0.5f);
    const cv::Vec4f b = hog_to_ned_box({100, 100, 200, 200});
    EXPECT_NEAR(b[2] - b[0], 100 * kHogScale, 1e-4);
    EXPECT_NEAR(b[3] - b[1], 100 * kHogScale, 1e-4);
    EXPECT_NEAR(0.5f * (b[0] + b[2]), 150.f, 1e-4);
    EXPECT_NEAR(0.5f * (b[1] + b[3]), 150.f - 100 * kHogShiftY, 1e-4);
}

TEST(FaceDetector, FindsTheFaceInAPortrait) {
    NED_REQUIRE_DATA();
    const cv::Mat img = cv::imread(ned::test::data_path("images/faces/face_recognition__obama-1080p.jpg"));
    ASSERT_FALSE(img.empty());
    FaceDetector det;
    const auto d = det.detect(img);
    ASSERT_GE(d.size(), 1u);
    const cv::Vec4f& b = d[0].box;
    // The face is in the middle third of the 1920x1080 portrait and a few hundred pixels tall.
    const float cx = 0.5f * (b[0] + b[2]), side = b[2] - b[0];
    EXPECT_GT(cx, 640.f);
    EXPECT_LT(cx, 1280.f);
    EXPECT_GT(side, 150.f);
    EXPECT_LT(side, 700.f);
}

TEST(FaceDetector, FindsBothFacesLargestFirstAndUpsampleHelpsSmallFaces) {
    NED_REQUIRE_DATA();
    const cv::Mat img = cv::imread(ned::test::data_path("images/faces/face_recognition__two_people.jpg"));
    ASSERT_FALSE(img.empty());
    DetectorOptions o;
    o.upsample = 1;
    FaceDetector det(o);
    const auto d = det.detect(img);
    ASSERT_GE(d.size(), 2u);
    for (size_t i = 1; i < d.size(); ++i)
        EXPECT_GE((d[i - 1].box[2] - d[i - 1].box[0]) * (d[i - 1].box[3] - d[i - 1].box[1]),
                  (d[i].box[2] - d[i].box[0]) * (d[i].box[3] - d[i].box[1]));
}
