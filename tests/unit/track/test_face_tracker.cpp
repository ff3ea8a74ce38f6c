#include <gtest/gtest.h>

#include <cmath>

#include "ned/core/error.hpp"
#include "ned/track/face_tracker.hpp"

using namespace ned::face;
using namespace ned::track;

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
        d[t].push_back(det(100 + t, 100, 80));                     // target, drifting right
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
    EXPECT_EQ(nocut.chosen[15], -1);       // a gap of max_gap (10..14) keeps the track alive ...
    EXPECT_EQ(nocut.chosen[16], 0);        // ... it is lost after more than 5 missed frames (10..15),
    EXPECT_TRUE(nocut.segment_start[16]);  // re-acquired by the start rule, as a new segment
    EXPECT_EQ(nocut.acquired_among[16], 1);
    EXPECT_EQ(nocut.acquired_among[0], 1);
    EXPECT_EQ(nocut.acquired_among[1], 0);
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

TEST(FaceTracker, FillGapsInterpolatesShortDropOutsOnly) {
    // detections at 2, 3 and 6, 12; gaps: 0..1 (leading, 2), 4..5 (2), 7..11 (5, too long), 13..14 (trailing)
    std::vector<cv::Vec4f> b(15, cv::Vec4f(-1, -1, -1, -1));
    std::vector<bool> p(15, false);
    for (int t : {2, 3, 6, 12}) {
        p[t] = true;
        b[t] = cv::Vec4f(10.f * t, 0, 10.f * t + 50, 50);  // moving right 10 px per frame
    }
    const auto s = fill_gaps(b, p, 3);
    ASSERT_EQ(s.size(), 15u);
    using FS = FrameStatus;
    const std::vector<FS> want = {FS::Filled, FS::Filled,   FS::Detected, FS::Detected, FS::Filled,
                                  FS::Filled, FS::Detected, FS::NoFace,   FS::NoFace,   FS::NoFace,
                                  FS::NoFace, FS::NoFace,   FS::Detected, FS::Filled,   FS::Filled};
    for (int t = 0; t < 15; ++t) EXPECT_EQ(int(s[t]), int(want[t])) << "frame " << t;
    // interior: linear interpolation between 3 and 6; ends: constant velocity of the nearest detections
    for (int t : {0, 1, 4, 5, 13, 14}) EXPECT_NEAR(b[t][0], 10.f * t, 1e-4) << "frame " << t;
    EXPECT_FLOAT_EQ(b[8][0], -1.f);  // too long a gap: untouched
    // max_gap 0: nothing is filled; a segment without detections stays NoFace
    std::vector<cv::Vec4f> c(4, cv::Vec4f(0, 0, 1, 1));
    auto s0 = fill_gaps(c, {true, false, true, false}, 0);
    EXPECT_EQ(int(s0[1]), int(FS::NoFace));
    EXPECT_EQ(int(s0[3]), int(FS::NoFace));
    auto none = fill_gaps(c, {false, false, false, false}, 10);
    for (auto v : none) EXPECT_EQ(int(v), int(FS::NoFace));
}

TEST(FaceTracker, FillGapsExtrapolatesAFaceLeavingTheFrameOutOfIt) {
    // a face moving up 20 px per frame, last seen at y0 = 20: the filled boxes keep moving up and out
    std::vector<cv::Vec4f> b(10);
    std::vector<bool> p(10, false);
    for (int t = 0; t < 6; ++t) {
        p[t] = true;
        b[t] = cv::Vec4f(100, 120.f - 20.f * t, 200, 220.f - 20.f * t);
    }
    fill_gaps(b, p, 4);
    EXPECT_NEAR(b[9][1], 120.f - 180.f, 1e-3);
    EXPECT_LT(fraction_inside(b[9], 640, 480), 0.5f);
    EXPECT_GT(fraction_inside(b[5], 640, 480), 0.99f);
}

TEST(FaceTracker, FractionInsideAndGapFrames) {
    EXPECT_FLOAT_EQ(fraction_inside({0, 0, 10, 10}, 100, 100), 1.f);
    EXPECT_FLOAT_EQ(fraction_inside({-5, 0, 5, 10}, 100, 100), 0.5f);
    EXPECT_FLOAT_EQ(fraction_inside({90, 95, 110, 105}, 100, 100), 0.25f);  // (10 x 5) of (20 x 10)
    EXPECT_FLOAT_EQ(fraction_inside({200, 200, 210, 210}, 100, 100), 0.f);
    EXPECT_FLOAT_EQ(fraction_inside({0, 0, 0, 10}, 100, 100), 0.f);
    EXPECT_FLOAT_EQ(fraction_inside({NAN, 0, 10, 10}, 100, 100), 0.f);
    EXPECT_EQ(gap_frames(0.33f, 30000, 1001), 10);
    EXPECT_EQ(gap_frames(0.33f, 25, 1), 8);
    EXPECT_EQ(gap_frames(0.f, 25, 1), 0);
    EXPECT_EQ(gap_frames(0.33f, 0, 1), 8);  // unknown rate: 25 fps
}

TEST(FaceTracker, MedianSmoothWindowEndsAndReflect) {
    std::vector<cv::Vec4f> b;
    for (float v : {5.f, 1.f, 9.f, 2.f, 100.f, 3.f, 4.f}) b.push_back({v, v, v, v});
    // window 3: interior = median of neighbours; ends reflect (a | a b ...): median(5,5,1)=5
    auto s3 = median_smooth(b, 3);
    EXPECT_EQ(s3[0][0], 5.f);
    EXPECT_EQ(s3[1][0], 5.f);
    EXPECT_EQ(s3[3][0], 9.f);  // median(9,2,100)
    EXPECT_EQ(s3[4][0], 3.f);  // the outlier is removed
    EXPECT_EQ(s3[6][0], 4.f);  // median(3,4,4)
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

TEST(FaceTracker, CutNeedsBothSignalsUnlessOneIsStrong) {
    cv::Mat a(8, 8, CV_8UC3, cv::Scalar(100, 100, 100)), b = a.clone();
    EXPECT_FLOAT_EQ(thumbnail_difference(a, b), 0.f);
    b.setTo(cv::Scalar(151, 151, 151));
    EXPECT_NEAR(thumbnail_difference(a, b), 51.f / 255.f, 1e-6);
    // the measured synthetic cut (0.376, 0.26) is a cut; the strongest non-cut motion (0.074, 0.043) is not
    EXPECT_TRUE(is_cut(0.376f, 0.26f, 0.2f));
    EXPECT_FALSE(is_cut(0.074f, 0.043f, 0.2f));
    EXPECT_FALSE(is_cut(0.3f, 0.05f, 0.2f));  // tones changed, layout did not: e.g. a light switched on
    EXPECT_FALSE(is_cut(0.1f, 0.2f, 0.2f));   // fast pan: layout moved, tones kept
    EXPECT_TRUE(is_cut(0.51f, 0.0f, 0.2f));   // either alone at 2.5x its bound
    EXPECT_TRUE(is_cut(0.0f, 0.26f, 0.2f));
}

TEST(FaceTracker, ParseFaceAt) {
    EXPECT_FALSE(parse_face_at("").active());
    const FaceAt f = parse_face_at("2.5:900,400");
    EXPECT_TRUE(f.active());
    EXPECT_DOUBLE_EQ(f.seconds, 2.5);
    EXPECT_DOUBLE_EQ(f.x, 900);
    EXPECT_DOUBLE_EQ(f.y, 400);
    EXPECT_DOUBLE_EQ(parse_face_at("0:0,0").seconds, 0.0);
    for (const char* bad : {"2.5", "2.5:900", "2.5,900:400", "a:1,2", "1:x,2", "1:2,", "-1:2,3", "1:-2,3", "1:2,3x",
                            "nan:1,2", "1:2,3,4"})
        EXPECT_THROW(parse_face_at(bad), ned::InputError) << bad;
}

TEST(FaceTracker, NearestFaceAndMostSimilar) {
    const std::vector<Detection> d = {det(0, 0, 100), det(300, 0, 100), det(600, 0, 50)};
    EXPECT_EQ(nearest_face(d, 350, 50), 1);   // inside face 1
    EXPECT_EQ(nearest_face(d, 120, 50), 0);   // 20 px right of face 0, within half its side
    EXPECT_EQ(nearest_face(d, 200, 50), -1);  // 100 px from both: no face near
    EXPECT_EQ(nearest_face(d, 640, 20), 2);
    EXPECT_EQ(nearest_face({}, 0, 0), -1);
    // most similar in position and size: a box like face 1 moved a little
    EXPECT_EQ(most_similar(d, cv::Vec4f(310, 10, 410, 110)), 1);
    EXPECT_EQ(most_similar(d, cv::Vec4f(590, 0, 640, 50)), 2);
    EXPECT_EQ(most_similar({}, cv::Vec4f(0, 0, 1, 1)), -1);
}

TEST(FaceTracker, FaceAtFollowsThePointedFaceThroughCutsAndBackwards) {
    // Two faces side by side in every frame; the left one is larger (face_index 0 would pick it). The user points
    // at the right one in frame 12 (second shot, cut at 10). Before the cut the right face sits elsewhere in the
    // same size: the earlier shot re-picks the most similar face, the right one.
    std::vector<std::vector<Detection>> d(25);
    std::vector<bool> cuts(25, false);
    cuts[10] = true;
    for (int t = 0; t < 25; ++t) {
        const float shift = t < 10 ? 0.f : 30.f;
        d[t] = {det(50 + shift, 100, 150), det(400 + shift + t, 120, 100)};
        if (t % 2) std::swap(d[t][0], d[t][1]);  // detection order carries no meaning
    }
    d[20].clear();  // a one-frame drop-out
    const auto sel = select_target_at(d, cuts, 12, nearest_face(d[12], 480, 170), 0.3f, 3);
    for (int t = 0; t < 25; ++t) {
        if (t == 20) {
            EXPECT_EQ(sel.chosen[t], -1);
            continue;
        }
        ASSERT_GE(sel.chosen[t], 0) << t;
        EXPECT_FLOAT_EQ(d[t][sel.chosen[t]].box[2] - d[t][sel.chosen[t]].box[0], 100.f) << "frame " << t;
    }
    EXPECT_TRUE(sel.segment_start[0]);
    EXPECT_TRUE(sel.segment_start[10]);  // the cut, crossed backwards
    for (int t = 1; t < 25; ++t)
        if (t != 10) {
            EXPECT_FALSE(sel.segment_start[t]) << t;
        }
    EXPECT_EQ(sel.acquired_among[9], 2);  // picked again (most similar) when the backward pass crossed the cut
    // The same detections with --face-index 0 take the larger left face.
    const auto by_size = select_target(d, cuts, 0, 0.3f, 3);
    EXPECT_FLOAT_EQ(d[12][by_size.chosen[12]].box[2] - d[12][by_size.chosen[12]].box[0], 150.f);
}

TEST(FaceTracker, FaceAtReacquiresAfterALongGapByPositionAndSize) {
    std::vector<std::vector<Detection>> d(30);
    for (int t = 0; t < 10; ++t) d[t] = {det(100, 100, 150), det(500, 100, 80)};
    // 10..19: no faces; 20..29 the faces return in swapped detection order, slightly moved
    for (int t = 20; t < 30; ++t) d[t] = {det(505, 105, 82), det(95, 100, 150)};
    const auto sel = select_target_at(d, {}, 3, nearest_face(d[3], 540, 140), 0.3f, 5);
    for (int t = 0; t < 10; ++t) EXPECT_EQ(sel.chosen[t], 1) << t;
    for (int t = 10; t < 20; ++t) EXPECT_EQ(sel.chosen[t], -1) << t;
    for (int t = 20; t < 30; ++t) EXPECT_EQ(sel.chosen[t], 0) << t;
    EXPECT_TRUE(sel.segment_start[20]);
}
