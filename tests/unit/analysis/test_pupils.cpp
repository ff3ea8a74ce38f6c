#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>

#include "ned/analysis/pupils.hpp"

using namespace ned::face;
using namespace ned::analysis;

namespace {
std::array<cv::Point2f, 6> eye_at(float cx, float cy, float w, float h) {
    // iBUG order: outer corner, two upper lid points, inner corner, two lower lid points
    return {cv::Point2f(cx - w / 2, cy), {cx - w / 6, cy - h / 2}, {cx + w / 6, cy - h / 2}, {cx + w / 2, cy},
            {cx + w / 6, cy + h / 2},    {cx - w / 6, cy + h / 2}};
}
}  // namespace

TEST(Pupil, DarkDiskInsidePolygonIsFound) {
    cv::Mat img(100, 160, CV_8UC3, cv::Scalar(200, 200, 200));
    const auto eye = eye_at(80, 50, 60, 24);
    // Weight is 1/gray: a near-black pupil (gray 2/255) outweighs the bright sclera (200/255) 100:1.
    cv::circle(img, cv::Point(90, 48), 5, cv::Scalar(2, 2, 2), -1);
    // A darker blob outside the polygon must be ignored.
    cv::circle(img, cv::Point(20, 20), 8, cv::Scalar(0, 0, 1), -1);
    const cv::Point2f p = estimate_pupil(img, eye);
    // The sclera's small weight still pulls ~1 px towards the polygon centre (80, 50).
    EXPECT_NEAR(p.x, 90, 1.5);
    EXPECT_LT(p.x, 90);
    EXPECT_NEAR(p.y, 48, 1.0);
    // A grey pupil (gray 10/255, weight ratio 20:1) is pulled towards the polygon centre (80, 50), as in NED.
    cv::circle(img, cv::Point(90, 48), 5, cv::Scalar(10, 10, 10), -1);
    const cv::Point2f g = estimate_pupil(img, eye);
    EXPECT_GT(g.x, 82);
    EXPECT_LT(g.x, p.x - 1.0);
}

TEST(Pupil, UniformEyeGivesPolygonCentroidAndGrayFormula) {
    cv::Mat img(100, 160, CV_8UC3, cv::Scalar(120, 120, 120));
    const auto eye = eye_at(70, 40, 40, 20);
    const cv::Point2f p = estimate_pupil(img, eye);
    EXPECT_NEAR(p.x, 70, 0.6);
    EXPECT_NEAR(p.y, 40, 0.6);
    // Green weighs most in skimage's rgb2gray: a pure-green half looks brighter than a pure-blue half
    // of the same value, so the centroid moves towards the blue (darker) half.
    cv::Mat two(100, 160, CV_8UC3, cv::Scalar(0, 0, 0));
    two(cv::Rect(0, 0, 70, 100)).setTo(cv::Scalar(0, 200, 0));   // left: green (gray 0.561)
    two(cv::Rect(70, 0, 90, 100)).setTo(cv::Scalar(200, 0, 0));  // right: blue (gray 0.057)
    const cv::Point2f q = estimate_pupil(two, eye);
    EXPECT_GT(q.x, 75);
}

TEST(Pupil, BlackPixelsHaveZeroWeight) {
    // gray == 0 pixels get weight 0 (NED), so a black patch does not attract the centroid.
    cv::Mat img(100, 160, CV_8UC3, cv::Scalar(100, 100, 100));
    const auto eye = eye_at(80, 50, 60, 24);
    img(cv::Rect(88, 44, 10, 10)).setTo(cv::Scalar(0, 0, 0));
    const cv::Point2f p = estimate_pupil(img, eye);
    EXPECT_LT(p.x, 80);  // pulled away from the black patch
}

TEST(Pupil, BothEyesFromLandmarks) {
    cv::Mat img(256, 256, CV_8UC3, cv::Scalar(180, 180, 180));
    Landmarks lm{};
    const auto l = eye_at(90, 110, 30, 12), r = eye_at(160, 110, 30, 12);
    for (int i = 0; i < 6; ++i) {
        lm[36 + i] = l[i];
        lm[42 + i] = r[i];
    }
    cv::circle(img, cv::Point(85, 110), 3, cv::Scalar(1, 1, 1), -1);
    cv::circle(img, cv::Point(166, 111), 3, cv::Scalar(1, 1, 1), -1);
    const auto p = estimate_pupils(img, lm);
    EXPECT_NEAR(p[0].x, 85, 1.5);
    EXPECT_NEAR(p[1].x, 166, 1.5);
    EXPECT_EQ(eye_contour(lm, true)[0], lm[42]);
}
