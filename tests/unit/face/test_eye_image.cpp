#include <gtest/gtest.h>

#include <opencv2/core.hpp>

#include "ned/face/eye_image.hpp"

using namespace ned::face;

namespace {
// Eye in iBUG order (outer corner, upper lid x-3, upper lid x+3, inner corner, lower lid x+3, lower lid x-3)
// with vertical openings a (at x-3) and b (at x+3): |p1 - p4| = |p2 - p5| = sqrt(36 + ((a + b) / 2)^2).
std::array<cv::Point2f, 6> eye(cv::Point2f c, float a, float b) {
    return {cv::Point2f(c.x - 10, c.y), {c.x - 3, c.y - a / 2}, {c.x + 3, c.y - b / 2}, {c.x + 10, c.y},
            {c.x + 3, c.y + b / 2},     {c.x - 3, c.y + a / 2}};
}
// Reference count of NED's asymmetric-range disk: i, j in [-r, r), sqrt(i^2 + j^2) < r.
int ned_count(int r) {
    int n = 0;
    for (int i = -r; i < r; ++i)
        for (int j = -r; j < r; ++j) n += (i * i + j * j < r * r);
    return n;
}
}  // namespace

TEST(EyeImage, RadiusRule) {
    // p1 - p4 and p2 - p5 are diagonal: (x-3, y-4) vs (x+3, y+4) -> 10 each, r = int(20 / 4).
    const auto e = eye({50, 50}, 8, 8);
    const double d = std::sqrt(36.0 + 64.0);
    EXPECT_EQ(eye_disk_radius(e), static_cast<int>((d + d) / 4));  // 5
    EXPECT_EQ(eye_disk_radius(eye({50, 50}, 0, 0)), 3);            // sqrt(36)*2/4 = 3
    EXPECT_EQ(eye_disk_radius(eye({50, 50}, 20, 12)), 8);          // sqrt(36+256)=17.09 -> int(34.18/4)
    std::array<cv::Point2f, 6> closed;
    closed.fill(cv::Point2f(10.7f, 10.2f));
    EXPECT_EQ(eye_disk_radius(closed), 0);
}

TEST(EyeImage, DiskPixelsRedOnlyAndAsymmetricRange) {
    const auto l = eye({60, 60}, 8, 8), r = eye({180, 60}, 8, 8);
    const int rad = eye_disk_radius(l);
    ASSERT_EQ(rad, 5);
    const cv::Mat img = draw_eye_image(l, r, {60.9f, 60.9f}, {180, 60}, 256);
    ASSERT_EQ(img.type(), CV_8UC3);
    ASSERT_EQ(img.size(), cv::Size(256, 256));
    std::vector<cv::Mat> ch;
    cv::split(img, ch);
    EXPECT_EQ(cv::countNonZero(ch[0]), 0);
    EXPECT_EQ(cv::countNonZero(ch[1]), 0);
    EXPECT_EQ(cv::countNonZero(ch[2]), 2 * ned_count(rad));
    // Pupil truncated to (60, 60): range [-5, 5) reaches row/col 55 but never 65.
    EXPECT_EQ(ch[2].at<uchar>(60, 55), 0);  // i=0, j=-5: sqrt(25) < 5 false
    EXPECT_EQ(ch[2].at<uchar>(60, 56), 255);
    EXPECT_EQ(ch[2].at<uchar>(60, 64), 255);  // j = 4
    EXPECT_EQ(ch[2].at<uchar>(60, 65), 0);
    EXPECT_EQ(ch[2].at<uchar>(56, 57), 0);    // i=-4, j=-3: 25 < 25 is false
    EXPECT_EQ(ch[2].at<uchar>(56, 58), 255);  // i=-4, j=-2: 20 < 25
    EXPECT_EQ(ch[2].at<uchar>(55, 60), 0);    // i=-5, j=0: 25 < 25 is false
}

TEST(EyeImage, ExactPixelSetMatchesNedLoop) {
    const auto l = eye({40, 40}, 14, 10), r = eye({200, 45}, 6, 6);
    const cv::Mat img = draw_eye_image(l, r, {41, 39}, {199, 46}, 256);
    cv::Mat ref(256, 256, CV_8UC3, cv::Scalar::all(0));
    for (auto [c, e] : {std::make_pair(cv::Point(41, 39), l), std::make_pair(cv::Point(199, 46), r)}) {
        const int rad = eye_disk_radius(e);
        for (int i = -rad; i < rad; ++i)
            for (int j = -rad; j < rad; ++j)
                if (std::sqrt(double(i * i + j * j)) < rad) ref.at<cv::Vec3b>(c.y + i, c.x + j) = {0, 0, 255};
    }
    EXPECT_EQ(cv::norm(img, ref, cv::NORM_L1), 0.0);
}

TEST(EyeImage, ClampsAtTheBorder) {
    const auto l = eye({2, 2}, 8, 8);
    const cv::Mat img = draw_eye_image(l, l, {0, 0}, {0, 0}, 64);
    std::vector<cv::Mat> ch;
    cv::split(img, ch);
    EXPECT_EQ(ch[2].at<uchar>(0, 0), 255);
    // Clamped rows/cols collapse onto the border: fewer distinct pixels than a full disk.
    EXPECT_LT(cv::countNonZero(ch[2]), ned_count(5));
    EXPECT_GT(cv::countNonZero(ch[2]), 0);
}

TEST(EyeImage, FrameEyeImageUsesAlign) {
    FaceFrame f;
    for (int i = 0; i < 6; ++i) {
        f.landmarks[36 + i] = eye({60, 60}, 8, 8)[i];
        f.landmarks[42 + i] = eye({120, 60}, 8, 8)[i];
    }
    f.pupils = {cv::Point2f(60, 60), cv::Point2f(120, 60)};
    f.align = cv::Matx23f(1, 0, 10, 0, 1, 20);
    const cv::Mat crop = frame_eye_image(f, 256, false), al = frame_eye_image(f, 256, true);
    EXPECT_EQ(crop.at<cv::Vec3b>(60, 60)[2], 255);
    EXPECT_EQ(al.at<cv::Vec3b>(60, 60)[2], 0);
    EXPECT_EQ(al.at<cv::Vec3b>(80, 70)[2], 255);
}

TEST(EyePoints, FromTrackTruncatesLikeNedsFile) {
    FaceFrame f;
    for (int k = 0; k < 68; ++k) f.landmarks[k] = {10.7f + k, 20.2f};
    f.pupils = {cv::Point2f(30.9f, 40.99f), cv::Point2f(60.5f, 41.2f)};
    const EyePoints e = eye_points(f);
    EXPECT_EQ(e.left[0], cv::Point2f(46, 20));   // landmark 36 = 46.7 -> 46
    EXPECT_EQ(e.right[5], cv::Point2f(57, 20));  // landmark 47 = 57.7 -> 57
    EXPECT_EQ(e.left_pupil, cv::Point2f(30, 40));
    EXPECT_EQ(e.right_pupil, cv::Point2f(60, 41));
}

// NED's aligned eye files: each point mapped by the transform first, truncated after (not before).
TEST(EyePoints, MappedPointsAreTruncatedAfterTheTransform) {
    FaceFrame f;
    for (int k = 0; k < 68; ++k) f.landmarks[k] = {10.4f + k, 20.4f};
    f.pupils = {cv::Point2f(30.4f, 40.4f), cv::Point2f(60.4f, 41.4f)};
    const cv::Matx23f twice(2, 0, 1, 0, 2, 0);
    const EyePoints e = eye_points(f, twice);
    EXPECT_EQ(e.left[0], cv::Point2f(93, 40));     // 2 * 46.4 + 1 = 93.8 -> 93 (truncating first: 2 * 46 + 1 = 93)
    EXPECT_EQ(e.right[0], cv::Point2f(105, 40));   // 2 * 52.4 + 1 = 105.8 -> 105
    EXPECT_EQ(e.left_pupil, cv::Point2f(61, 80));  // 2 * 30.4 + 1 = 61.8, 2 * 40.4 = 80.8
    EXPECT_EQ(e.right_pupil.y, 82.f);              // 2 * 41.4 = 82.8 -> 82 (truncating first: 82 too)
    FaceFrame g;
    for (int k = 0; k < 68; ++k) g.landmarks[k] = {10.8f + k, 20.8f};
    g.pupils = {cv::Point2f(30.8f, 40.8f), cv::Point2f(60.8f, 41.8f)};
    const EyePoints odd = eye_points(g, cv::Matx23f(1.5f, 0, 0, 0, 1.5f, 0));
    EXPECT_EQ(odd.left_pupil, cv::Point2f(46, 61));  // 1.5 * 30.8 = 46.2, 1.5 * 40.8 = 61.2 (truncating first: 45, 60)
    EXPECT_EQ(odd.left[0], cv::Point2f(70, 31));     // 1.5 * 46.8 = 70.2, 1.5 * 20.8 = 31.2 (truncating first: 69, 30)
}

TEST(EyePoints, FrameEyeImageDrawsTheFramesEyePoints) {
    FaceFrame f;
    for (int k = 0; k < 68; ++k) f.landmarks[k] = {60.f + 3.3f * (k % 6), 90.f + 2.7f * (k % 3)};
    for (int k = 42; k < 48; ++k) f.landmarks[k].x += 80.f;
    f.pupils = {cv::Point2f(68.6f, 92.3f), cv::Point2f(148.2f, 92.9f)};
    f.align = cv::Matx23f(0.9f, 0.1f, 5.5f, -0.1f, 0.9f, 7.25f);
    EXPECT_EQ(cv::norm(frame_eye_image(f, 256, false), draw_eye_image(eye_points(f), 256), cv::NORM_INF), 0.0);
    EXPECT_EQ(cv::norm(frame_eye_image(f, 256, true), draw_eye_image(eye_points(f, f.align), 256), cv::NORM_INF), 0.0);
    EXPECT_GT(cv::countNonZero(frame_eye_image(f, 256, true).reshape(1)), 0);
}
