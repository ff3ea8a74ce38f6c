#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>

#include "ned/face/alignment.hpp"
#include "ned/face/face_mask.hpp"

using namespace ned::face;

namespace {
cv::Mat fill(const std::vector<cv::Point2f>& poly, int size) {
    std::vector<cv::Point> ip;
    for (const auto& p : poly) ip.emplace_back(cvRound(p.x), cvRound(p.y));
    cv::Mat m = cv::Mat::zeros(size, size, CV_8U);
    cv::fillPoly(m, std::vector<std::vector<cv::Point>>{ip}, cv::Scalar(255));
    return m;
}
}  // namespace

TEST(FaceMask, CoversTheFacePolygonAndIsBinary) {
    const Landmarks& t = ned_template();
    const cv::Mat m = landmark_face_mask(t, 256);
    ASSERT_EQ(m.type(), CV_8UC1);
    ASSERT_EQ(m.size(), cv::Size(256, 256));
    cv::Mat other = (m != 0) & (m != 255);
    EXPECT_EQ(cv::countNonZero(other), 0);
    // Inner face points are inside; the image corners are not.
    for (int i : {27, 30, 33, 36, 45, 48, 54, 62}) EXPECT_EQ(m.at<uchar>(cvRound(t[i].y), cvRound(t[i].x)), 255) << i;
    EXPECT_EQ(m.at<uchar>(0, 0), 0);
    EXPECT_EQ(m.at<uchar>(255, 255), 0);
    // The mask is the polygon slightly eroded by SoftErosion(21, 0.6): most of the polygon, nothing far outside.
    const cv::Mat poly = fill(face_mask_polygon(t, FaceMaskOptions{}.forehead_fraction), 256);
    const double inside = cv::countNonZero(m & poly), area = cv::countNonZero(poly);
    EXPECT_GT(inside / area, 0.85);
    EXPECT_LT(inside / area, 1.0);  // erosion removed the rim
    EXPECT_EQ(cv::countNonZero(m & ~poly), 0);
}

TEST(FaceMask, ForeheadFractionRaisesTheTop) {
    const Landmarks& t = ned_template();
    auto top_row = [](const cv::Mat& m) {
        for (int y = 0; y < m.rows; ++y)
            if (cv::countNonZero(m.row(y))) return y;
        return m.rows;
    };
    FaceMaskOptions a, b;
    a.forehead_fraction = 0.0f;
    b.forehead_fraction = 0.3f;
    const int ya = top_row(landmark_face_mask(t, 256, a)), yb = top_row(landmark_face_mask(t, 256, b));
    // Face height chin (220) to mean brow (~87.5) ~ 132 px: 0.3 raises the top by ~40 px.
    EXPECT_NEAR(ya - yb, 0.3 * 132.5, 6);
    const auto poly = face_mask_polygon(t, 0.5f);
    ASSERT_EQ(poly.size(), 27u);
    EXPECT_EQ(poly[0], t[0]);
    EXPECT_EQ(poly[16], t[16]);
    EXPECT_NEAR(poly[17].x, t[26].x, 3);  // raised along the (almost vertical) face axis
    EXPECT_LT(poly[17].y, t[26].y - 50);
}

TEST(FaceMask, LargestComponentKept) {
    cv::Mat m = cv::Mat::zeros(100, 100, CV_8U);
    cv::rectangle(m, cv::Rect(10, 10, 30, 30), cv::Scalar(255), -1);
    cv::rectangle(m, cv::Rect(60, 60, 10, 10), cv::Scalar(7), -1);
    const cv::Mat k = keep_largest_component(m);
    EXPECT_EQ(cv::countNonZero(k), 900);
    EXPECT_EQ(k.at<uchar>(65, 65), 0);
    EXPECT_EQ(k.at<uchar>(20, 20), 255);
    EXPECT_EQ(cv::countNonZero(keep_largest_component(cv::Mat::zeros(5, 5, CV_8U))), 0);
    // 8-connectivity: diagonal neighbours join.
    cv::Mat d = cv::Mat::zeros(5, 5, CV_8U);
    d.at<uchar>(0, 0) = d.at<uchar>(1, 1) = d.at<uchar>(2, 2) = 255;
    d.at<uchar>(4, 0) = d.at<uchar>(4, 1) = 255;
    EXPECT_EQ(cv::countNonZero(keep_largest_component(d)), 3);
}

TEST(FaceMask, PostprocessErodesAndDropsSmallBlobs) {
    cv::Mat m = cv::Mat::zeros(128, 128, CV_8U);
    cv::circle(m, cv::Point(64, 64), 40, cv::Scalar(255), -1);
    cv::circle(m, cv::Point(10, 10), 4, cv::Scalar(255), -1);  // vanishes under k=21 erosion
    const cv::Mat p = postprocess_face_mask(m);
    EXPECT_EQ(p.at<uchar>(10, 10), 0);
    EXPECT_EQ(p.at<uchar>(64, 64), 255);
    const int area = cv::countNonZero(p);
    EXPECT_LT(area, cv::countNonZero(m) - 50);
    EXPECT_GT(area, 0.7 * CV_PI * 40 * 40);
    // A mask too thin for the kernel disappears completely (caller falls back to the previous frame's).
    cv::Mat thin = cv::Mat::zeros(64, 64, CV_8U);
    cv::line(thin, {5, 32}, {60, 32}, cv::Scalar(255), 2);
    EXPECT_EQ(cv::countNonZero(postprocess_face_mask(thin)), 0);
}
