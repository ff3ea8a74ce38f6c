// The blend mask that follows the edit and how the render-inputs preview shows it (src/conditioning/render_inputs.cpp).
#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>

#include "ned/conditioning/render_inputs.hpp"

using namespace ned::conditioning;

namespace {
// A source face mask (a disk) and an NMFC whose coverage adds an opened jaw below it (a rectangle).
struct Scene {
    cv::Mat src = cv::Mat::zeros(64, 64, CV_8UC1);
    cv::Mat nmfc = cv::Mat::zeros(64, 64, CV_8UC3);
    Scene() {
        cv::circle(src, {32, 28}, 14, cv::Scalar(255), cv::FILLED);
        cv::circle(nmfc, {32, 28}, 12, cv::Scalar(40, 90, 200), cv::FILLED);
        cv::rectangle(nmfc, cv::Rect(26, 40, 12, 14), cv::Scalar(10, 0, 0), cv::FILLED);  // one channel > 0 counts
    }
};
}  // namespace

TEST(EditMask, IsTheUnionOfSourceMaskAndNmfcCoverage) {
    const Scene s;
    const cv::Mat m = edit_mask(s.src, s.nmfc);
    ASSERT_EQ(m.type(), CV_8UC1);
    for (int y = 0; y < 64; ++y)
        for (int x = 0; x < 64; ++x) {
            const bool in_src = s.src.at<uint8_t>(y, x) > 127;
            const cv::Vec3b c = s.nmfc.at<cv::Vec3b>(y, x);
            const bool covered = c[0] || c[1] || c[2];
            ASSERT_EQ(m.at<uint8_t>(y, x), (in_src || covered) ? 255 : 0) << x << "," << y;
        }
    EXPECT_EQ(m.at<uint8_t>(50, 32), 255);  // the jaw below the source mask is kept
    EXPECT_THROW(edit_mask(s.src, cv::Mat::zeros(32, 32, CV_8UC3)), std::exception);
}

TEST(EditMask, PreviewTintsWhatTheEditAddsAndLeavesTheRest) {
    const Scene s;
    const cv::Mat grey(64, 64, CV_8UC3, cv::Scalar(100, 100, 100));
    cv::Mat img = grey.clone();
    draw_edit_mask(img, s.src, s.nmfc);
    // Inside the added jaw (away from outlines): half red.
    const cv::Vec3b jaw = img.at<cv::Vec3b>(50, 32);
    EXPECT_EQ(jaw[0], 50);
    EXPECT_EQ(jaw[1], 50);
    EXPECT_NEAR(jaw[2], 177.5, 0.5);
    // Well inside the source mask and well outside the edit mask: untouched.
    EXPECT_EQ(img.at<cv::Vec3b>(28, 32), cv::Vec3b(100, 100, 100));
    EXPECT_EQ(img.at<cv::Vec3b>(5, 5), cv::Vec3b(100, 100, 100));
    // The source mask's outline is green (its top point is not part of the added region).
    EXPECT_EQ(img.at<cv::Vec3b>(14, 32), cv::Vec3b(0, 255, 0));
    // The edit mask's outline at the bottom of the jaw is red.
    EXPECT_EQ(img.at<cv::Vec3b>(53, 32), cv::Vec3b(0, 0, 255));
    // Outside the edit mask nothing changed at all.
    const cv::Mat outside = edit_mask(s.src, s.nmfc) == 0;
    cv::Mat diff;
    cv::absdiff(img, grey, diff);
    cv::Mat d1;
    cv::cvtColor(diff, d1, cv::COLOR_BGR2GRAY);
    EXPECT_EQ(cv::countNonZero(d1 & outside), 0);
}
