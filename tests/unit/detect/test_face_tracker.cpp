#include <gtest/gtest.h>

#include "ned/detect/face_tracker.hpp"

using namespace ned::detect;

namespace {
Detection det(float x0, float y0, float side) { return {cv::Vec4f(x0, y0, x0 + side, y0 + side), 1.0}; }
}  // namespace

TEST(FaceTracker, Iou) {
    EXPECT_FLOAT_EQ(iou({0, 0, 10, 10}, {0, 0, 10, 10}), 1.f);
    EXPECT_FLOAT_EQ(iou({0, 0, 10, 10}, {20, 20, 30, 30}), 0.f);
    EXPECT_NEAR(iou({0, 0, 10, 10}, {5, 0, 15, 10}), 50.f / 150.f, 1e-6);
    EXPECT_FLOAT_EQ(iou({0, 0, 0, 10}, {0, 0, 10, 10}), 0.f);
}

TEST(FaceTracker, LargerFaceAppearingLaterDoesNotStealTheTrack) {
    std::vector<std::vector<Detection>> d(20);
    for (int t = 0; t < 20; ++t) {
        d[t].push_back(det(100 + t, 100, 80));                // target, drifting right
        if (t >= 5) d[t].insert(d[t].begin(), det(400, 50, 200));  // a larger face from frame 5, listed first
    }
    const auto sel = select_target(d, {}, 0, 0.3f, 25);
    for (int t = 0; t < 20; ++t) {
        ASSERT_GE(sel.chosen[t], 0);
        EXPECT_FLOAT_EQ(d[t][sel.chosen[t]].box[0], 100.f + t) << "frame " << t;
    }
    for (int t = 1; t < 20; ++t) EXPECT_FALSE(sel.segment_start[t]);
}

TEST(FaceTracker, FaceIndexPicksBySizeInFirstFrameWithEnoughFaces) {
    std::vector<std::vector<Detection>> d(10);
    d[0] = {det(0, 0, 50)};  // only one face: face_index 1 is not decided here
    for (int t = 1; t < 10; ++t) d[t] = {det(0, 0, 50 + t), det(300, 0, 120), det(600, 0, 90)};
    auto sel0 = select_target(d, {}, 0, 0.3f, 25);
    EXPECT_EQ(sel0.chosen[0], 0);
    EXPECT_FLOAT_EQ(d[5][sel0.chosen[5]].box[0], 0.f);  // tracks the first frame's (only) face
    auto sel1 = select_target(d, {}, 1, 0.3f, 25);
    EXPECT_EQ(sel1.chosen[0], -1);
    for (int t = 1; t < 10; ++t) EXPECT_FLOAT_EQ(d[t][sel1.chosen[t]].box[0], 600.f);  // 2nd largest: 90 px
    auto sel2 = select_target(d, {}, 2, 0.3f, 25);
    for (int t = 1; t < 10; ++t) EXPECT_FLOAT_EQ(d[t][sel2.chosen[t]].box[0], 0.f);  // 3rd largest
    auto sel5 = select_target(d, {}, 5, 0.3f, 25);
    for (int t = 0; t < 10; ++t) EXPECT_EQ(sel5.chosen[t], -1);
}

TEST(FaceTracker, ReacquiresAfterCutAndAfterLongGap) {
    std::vector<std::vector<Detection>> d(40);
    for (int t = 0; t < 10; ++t) d[t] = {det(100, 100, 80)};
    for (int t = 10; t < 20; ++t) d[t] = {det(500, 300, 100)};  // new shot, face elsewhere
    // 20..34: nothing; 35..39: face at yet another place (after max_gap 10 -> re-acquired, split)
    for (int t = 35; t < 40; ++t) d[t] = {det(0, 0, 100)};
    std::vector<bool> cuts(40, false);
    cuts[10] = true;
    const auto sel = select_target(d, cuts, 0, 0.3f, 10);
    EXPECT_TRUE(sel.segment_start[10]);
    EXPECT_EQ(sel.chosen[10], 0);
    EXPECT_EQ(sel.chosen[25], -1);
    EXPECT_EQ(sel.chosen[35], 0);
    EXPECT_TRUE(sel.segment_start[35]);
    // without a cut the face at (500,300) would not continue a track at (100,100): missing until re-acquired
    const auto nocut = select_target(d, {}, 0, 0.3f, 5);
    EXPECT_EQ(nocut.chosen[12], -1);
    EXPECT_EQ(nocut.chosen[14], -1);
    EXPECT_EQ(nocut.chosen[15], 0);         // re-acquired after 5 missed frames (10..14) ...
    EXPECT_TRUE(nocut.segment_start[15]);  // ... as a new segment
}

TEST(FaceTracker, FastMoveOfSameFaceContinuesWithSplit) {
    std::vector<std::vector<Detection>> d(4);
    d[0] = {det(100, 100, 100)};
    d[1] = {det(100, 100, 100)};
    d[2] = {det(140, 100, 100), det(600, 100, 100)};  // IoU 0.43 -> ok
    d[3] = {det(185, 100, 100)};                      // IoU 0.38 -> ok
    auto sel = select_target(d, {}, 0, 0.5f, 25);     // min_iou 0.5: frames 2,3 fail IoU but move < side/2
    EXPECT_EQ(sel.chosen[2], 0);
    EXPECT_TRUE(sel.segment_start[2]);
    EXPECT_EQ(sel.chosen[3], 0);
}

TEST(FaceTracker, FillMissingLikeNed) {
    std::vector<cv::Vec4f> b(6);
    std::vector<bool> p = {false, true, false, false, true, false};
    b[1] = {1, 1, 1, 1};
    b[4] = {4, 4, 4, 4};
    ASSERT_TRUE(fill_missing(b, p));
    EXPECT_EQ(b[0][0], 1.f);  // next
    EXPECT_EQ(b[2][0], 4.f);  // next, not previous
    EXPECT_EQ(b[3][0], 4.f);
    EXPECT_EQ(b[5][0], 4.f);  // no next: previous
    std::vector<cv::Vec4f> e(3);
    EXPECT_FALSE(fill_missing(e, {false, false, false}));
}

TEST(FaceTracker, MedianSmoothWindowEndsAndReflect) {
    std::vector<cv::Vec4f> b;
    for (float v : {5.f, 1.f, 9.f, 2.f, 100.f, 3.f, 4.f}) b.push_back({v, v, v, v});
    // window 3: interior = median of neighbours; ends reflect (a | a b ...): median(5,5,1)=5
    auto s3 = median_smooth(b, 3);
    EXPECT_EQ(s3[0][0], 5.f);
    EXPECT_EQ(s3[1][0], 5.f);
    EXPECT_EQ(s3[3][0], 9.f);   // median(9,2,100)
    EXPECT_EQ(s3[4][0], 3.f);   // the outlier is removed
    EXPECT_EQ(s3[6][0], 4.f);   // median(3,4,4)
    // even window -> minus 1; window longer than the sequence -> its length (7) made odd
    auto s4 = median_smooth(b, 4);
    for (size_t i = 0; i < b.size(); ++i) EXPECT_EQ(s4[i][1], s3[i][1]);
    auto s49 = median_smooth(b, 49);  // window 7, reflect: frame 0 sees 2,9,1,5 | 5,1,9,2 -> median(...)
    // frame 3 sees the whole sequence: median of {5,1,9,2,100,3,4} = 4
    EXPECT_EQ(s49[3][0], 4.f);
    // frame 0 window: reflect indices -3..3 -> 9,1,5 | 5,1,9,2 -> sorted 1,1,2,5,5,9,9 -> 5
    EXPECT_EQ(s49[0][0], 5.f);
    auto s1 = median_smooth(b, 1);
    for (size_t i = 0; i < b.size(); ++i) EXPECT_EQ(s1[i][2], b[i][2]);
}

TEST(FaceTracker, HistogramDistance) {
    cv::Mat a(10, 10, CV_8U, cv::Scalar(0)), b(10, 10, CV_8U, cv::Scalar(255));
    EXPECT_FLOAT_EQ(histogram_distance(grey_histogram(a), grey_histogram(a)), 0.f);
    EXPECT_FLOAT_EQ(histogram_distance(grey_histogram(a), grey_histogram(b)), 1.f);
    cv::Mat c = a.clone();
    c(cv::Rect(0, 0, 10, 5)).setTo(255);
    EXPECT_NEAR(histogram_distance(grey_histogram(a), grey_histogram(c)), 0.5f, 1e-6);
}
