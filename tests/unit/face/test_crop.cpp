#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "ned/core/error.hpp"
#include "ned/face/crop.hpp"

using namespace ned::face;

namespace {
cv::Point2f apply(const cv::Matx23f& m, float u, float v) {
    return {m(0, 0) * u + m(0, 1) * v + m(0, 2), m(1, 0) * u + m(1, 1) * v + m(1, 2)};
}
}  // namespace

TEST(Crop, MakeSquareKeepsHeightAndCentre) {
    const cv::Vec4f b = make_square({100, 50, 160, 150});  // 60 wide, 100 high
    EXPECT_FLOAT_EQ(b[2] - b[0], 100.f);
    EXPECT_FLOAT_EQ(b[3] - b[1], 100.f);
    EXPECT_FLOAT_EQ(0.5f * (b[0] + b[2]), 130.f);
    EXPECT_FLOAT_EQ(b[1], 50.f);
}

TEST(Crop, TransformIsSquareWithNedMarginAndCentred) {
    const cv::Vec4f box{200, 100, 386, 286};  // 186 px: with margin 70 the crop is exactly 256 px
    const cv::Matx23f m = crop_transform(box, 256, 70.f);
    EXPECT_FLOAT_EQ(m(0, 0), m(1, 1));  // same scale in x and y: square, undistorted
    EXPECT_FLOAT_EQ(m(0, 1), 0.f);
    EXPECT_FLOAT_EQ(m(1, 0), 0.f);
    EXPECT_NEAR(m(0, 0), 1.f, 1e-6);
    // crop centre -> box centre
    const cv::Point2f c = apply(m, 127.5f, 127.5f);
    EXPECT_NEAR(c.x, 293.f, 1e-4);
    EXPECT_NEAR(c.y, 193.f, 1e-4);
    // NED margin: mx = 70*w/(256-70), the crop spans box +- mx/2
    const cv::Matx23f m2 = crop_transform({0, 0, 372, 372}, 256, 70.f);
    const float side = 256 * m2(0, 0);
    EXPECT_NEAR(side, 372.f + 70.f * 372.f / 186.f, 1e-3);
    // margin 0: the crop is the box itself
    const cv::Matx23f m3 = crop_transform({10, 20, 138, 148}, 256, 0.f);
    EXPECT_NEAR(m3(0, 0), 0.5f, 1e-6);
}

TEST(Crop, TransformRejectsBadArguments) {
    EXPECT_THROW(crop_transform({0, 0, 10, 10}, 0, 70.f), ned::InputError);
    EXPECT_THROW(crop_transform({0, 0, 10, 10}, 256, 256.f), ned::InputError);
}

TEST(Crop, ExtractCropSamplesTheRightPixels) {
    // A gradient image: the crop pixel value tells where it was sampled from.
    cv::Mat img(300, 400, CV_8UC3);
    for (int y = 0; y < img.rows; ++y)
        for (int x = 0; x < img.cols; ++x) img.at<cv::Vec3b>(y, x) = cv::Vec3b(x % 256, y % 256, 128);
    // crop of scale 1 (box 186 -> crop 256) fully inside the frame
    FaceFrame f;
    f.crop_to_frame = crop_transform({60, 20, 246, 206}, 256, 70.f);
    const cv::Mat c = extract_crop(img, f, 256);
    ASSERT_EQ(c.size(), cv::Size(256, 256));
    ASSERT_EQ(c.type(), CV_8UC3);
    const cv::Point2f p = apply(f.crop_to_frame, 10, 20);
    EXPECT_NEAR(c.at<cv::Vec3b>(20, 10)[0], p.x, 1.0);
    EXPECT_NEAR(c.at<cv::Vec3b>(20, 10)[1], p.y, 1.0);
}

TEST(Crop, ExtractCropDownscalesAntialiased) {
    // Fine checkerboard: an antialiased 2x downscale gives flat grey, point sampling gives 0/255.
    cv::Mat img(600, 600, CV_8UC3);
    for (int y = 0; y < img.rows; ++y)
        for (int x = 0; x < img.cols; ++x) img.at<cv::Vec3b>(y, x) = cv::Vec3b::all(((x + y) % 2) ? 255 : 0);
    FaceFrame f;
    f.crop_to_frame = crop_transform({100, 100, 472, 472}, 256, 70.f);  // side 512 -> scale 2
    const cv::Mat c = extract_crop(img, f, 256);
    cv::Scalar mean, sd;
    cv::meanStdDev(c, mean, sd);
    EXPECT_NEAR(mean[0], 127.5, 3.0);
    EXPECT_LT(sd[0], 10.0);
}

TEST(Crop, PadsInsteadOfStretchingAtTheBorder) {
    // Face box at the top-left corner: half the crop lies outside the frame.
    cv::Mat img(200, 300, CV_8UC3, cv::Scalar(0, 0, 0));
    cv::circle(img, {20, 20}, 15, cv::Scalar(255, 255, 255), cv::FILLED);  // a round "face"
    FaceFrame f;
    f.crop_to_frame = crop_transform({-73, -73, 113, 113}, 256, 70.f);  // scale 1, centre (20,20)
    const cv::Mat c = extract_crop(img, f, 256);
    ASSERT_EQ(c.size(), cv::Size(256, 256));
    // The circle stays a circle centred at the crop centre (no stretching): equal extents in x and y.
    cv::Mat g, bin;
    cv::cvtColor(c, g, cv::COLOR_BGR2GRAY);
    // The crop centre row/column go through the circle; measure its width and height there.
    auto run = [&](bool horizontal) {
        int n = 0;
        for (int i = 0; i < 256; ++i) {
            const uint8_t v = horizontal ? g.at<uint8_t>(128, i) : g.at<uint8_t>(i, 128);
            n += v > 127 ? 1 : 0;
        }
        return n;
    };
    // replicated border extends the circle's edge pixels outwards; the part inside the frame is exact
    EXPECT_NEAR(g.at<uint8_t>(128, 128), 255, 1);
    EXPECT_NEAR(g.at<uint8_t>(128, 128 + 12), 255, 1);
    EXPECT_NEAR(g.at<uint8_t>(128 + 12, 128), 255, 1);
    EXPECT_NEAR(g.at<uint8_t>(128, 128 + 18), 0, 1);
    EXPECT_NEAR(g.at<uint8_t>(128 + 18, 128), 0, 1);
    EXPECT_EQ(run(true), run(false));
    // Padding = replicate: far outside the frame (top-left) equals the frame's corner pixel colour.
    EXPECT_EQ(c.at<cv::Vec3b>(0, 0), img.at<cv::Vec3b>(0, 0));
    // far right: inside the frame, black background
    EXPECT_EQ(c.at<cv::Vec3b>(128, 250), cv::Vec3b(0, 0, 0));
}

TEST(Crop, InvertAffineRoundTrips) {
    const cv::Matx23f m = crop_transform({10, 30, 210, 230}, 256, 70.f);
    const cv::Matx23f inv = invert_affine(m);
    const cv::Point2f p = apply(m, 33, 77);
    const cv::Point2f q = apply(inv, p.x, p.y);
    EXPECT_NEAR(q.x, 33, 1e-3);
    EXPECT_NEAR(q.y, 77, 1e-3);
}
