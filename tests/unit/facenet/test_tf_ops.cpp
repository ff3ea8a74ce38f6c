// The TF ops the face models share (src/facenet/tf_ops.hpp), against values computed by hand.
#include <gtest/gtest.h>

#include "facenet/tf_ops.hpp"

using namespace ned::facenet;

namespace {
/// A 2x2 BGR image whose red channel is r (row-major), green 10 * r's index, blue 0.
cv::Mat two_by_two(const float (&r)[4]) {
    cv::Mat m(2, 2, CV_8UC3);
    for (int i = 0; i < 4; ++i) m.at<cv::Vec3b>(i / 2, i % 2) = cv::Vec3b(0, uchar(10 * i), uchar(r[i]));
    return m;
}
float value(const torch::Tensor& t, int c, int y, int x) { return t[0][c][y][x].item<float>(); }
}  // namespace

TEST(FacenetTfOps, ResizeBilinearSamplesWithoutHalfPixelCentres) {
    // red 0 100 / 200 40, upscaled 2x: output (x, y) samples (x / 2, y / 2) between floor and ceil (clamped)
    const cv::Mat img = two_by_two({0, 100, 200, 40});
    const torch::Tensor t = resize_bilinear_rgb(img, {cv::Rect(0, 0, 2, 2), {0, 0}, {2, 2}}, {4, 4});
    ASSERT_EQ(t.sizes(), (std::vector<int64_t>{1, 3, 4, 4}));
    EXPECT_EQ(value(t, 0, 0, 0), 0.f);
    EXPECT_EQ(value(t, 0, 0, 1), 50.f);   // halfway between 0 and 100
    EXPECT_EQ(value(t, 0, 1, 1), 85.f);   // top 50, bottom (200 + 40) / 2 = 120 -> 85
    EXPECT_EQ(value(t, 0, 1, 2), 70.f);   // x = 1: (100 + 40) / 2
    EXPECT_EQ(value(t, 0, 0, 3), 100.f);  // x = 1.5: the ceiling is clamped to the last column
    EXPECT_EQ(value(t, 0, 3, 3), 40.f);
    EXPECT_EQ(value(t, 1, 1, 1), 15.f);  // channel 1 is green: (0 + 10 + 20 + 30) / 4
    EXPECT_EQ(value(t, 2, 2, 2), 0.f);   // channel 2 is blue
    // downscaled 3 -> 2: sample x = 1.5 between columns 1 and 2
    cv::Mat row(1, 3, CV_8UC3);
    for (int x = 0; x < 3; ++x) row.at<cv::Vec3b>(0, x) = cv::Vec3b(0, 0, uchar(x == 2 ? 9 : 0));
    const torch::Tensor d = resize_bilinear_rgb(row, {cv::Rect(0, 0, 3, 1), {0, 0}, {3, 1}}, {2, 1});
    EXPECT_EQ(value(d, 0, 0, 0), 0.f);
    EXPECT_EQ(value(d, 0, 0, 1), 4.5f);
}

TEST(FacenetTfOps, ResizeBilinearPadsWithBlackAndScalesTaps) {
    // crop = the top row, placed in a 2x2 canvas: at the top (the bottom row black) or one row down
    const cv::Mat img = two_by_two({0, 100, 200, 40});
    const torch::Tensor top = resize_bilinear_rgb(img, {cv::Rect(0, 0, 2, 1), {0, 0}, {2, 2}}, {2, 2});
    EXPECT_EQ(value(top, 0, 0, 1), 100.f);
    EXPECT_EQ(value(top, 0, 1, 0), 0.f);
    EXPECT_EQ(value(top, 0, 1, 1), 0.f);
    const torch::Tensor low = resize_bilinear_rgb(img, {cv::Rect(0, 1, 2, 1), {0, 1}, {2, 2}}, {2, 2});
    EXPECT_EQ(value(low, 0, 0, 0), 0.f);
    EXPECT_EQ(value(low, 0, 1, 0), 200.f);
    EXPECT_EQ(value(low, 0, 1, 1), 40.f);
    // divisor 255: each tap is float(value / 255), interpolated in double, stored as float
    const torch::Tensor unit = resize_bilinear_rgb(img, {cv::Rect(0, 0, 2, 2), {0, 0}, {2, 2}}, {4, 4}, 255.0);
    EXPECT_EQ(value(unit, 0, 1, 0), float(0.5 * double(float(200 / 255.0))));
    EXPECT_EQ(value(unit, 0, 3, 3), float(40 / 255.0));
}

namespace {
// (a0, b0, a1, b1) corners; IoU with box 0: 1 -> 81 / 119 = 0.68, 2 -> 0, 3 -> 50 / 150 = 0.33, 5 = 3 exactly
const float kBoxes[][4] = {{0, 0, 10, 10}, {1, 1, 11, 11},   {20, 0, 30, 10},
                           {0, 5, 10, 15}, {50, 50, 60, 60}, {0, 5, 10, 15}};
const float kScores[] = {0.9f, 0.8f, 0.7f, 0.6f, 0.4f, 0.6f};

std::vector<int64_t> nms(NmsFlavour f, double iou, float min_score, size_t max_boxes = 100,
                         std::vector<float> scores = {kScores, kScores + 6}) {
    const torch::Tensor b = torch::from_blob(const_cast<float*>(&kBoxes[0][0]), {6, 4}, torch::kFloat32);
    const torch::Tensor s = torch::from_blob(scores.data(), {int64_t(scores.size())}, torch::kFloat32);
    return non_max_suppression(b, s.clone(), {f, iou, min_score, max_boxes});
}
}  // namespace

TEST(FacenetTfOps, NonMaxSuppressionKeepsTheBestOfEachOverlap) {
    for (NmsFlavour f : {NmsFlavour::TfjsCore, NmsFlavour::Plain}) {
        // 1 overlaps 0 by 0.68; 4 is under the threshold; 5 equals 3 and comes later (equal scores: index order)
        EXPECT_EQ(nms(f, 0.5, 0.5f), (std::vector<int64_t>{0, 2, 3}));
        EXPECT_EQ(nms(f, 0.3, 0.5f), (std::vector<int64_t>{0, 2}));     // 3 overlaps 0 by 0.33
        EXPECT_EQ(nms(f, 0.5, 0.5f, 2), (std::vector<int64_t>{0, 2}));  // at most 2
        EXPECT_EQ(nms(f, 0.5, 0.f), (std::vector<int64_t>{0, 2, 3, 4}));
        EXPECT_EQ(nms(f, 0.5, 0.95f), (std::vector<int64_t>{}));
    }
}

TEST(FacenetTfOps, NonMaxSuppressionFlavoursDiffer) {
    // TfjsCore sorts each box's corners; Plain reads them as (x1, y1, x2, y2), so a reversed box is empty to it
    float boxes[2][4] = {{0, 0, 10, 10}, {11, 10, 1, 0}};  // the second: (1, 0)-(11, 10) reversed, IoU 90 / 110
    float scores[2] = {0.9f, 0.8f};
    const torch::Tensor b = torch::from_blob(&boxes[0][0], {2, 4}, torch::kFloat32);
    const torch::Tensor s = torch::from_blob(scores, {2}, torch::kFloat32);
    EXPECT_EQ(non_max_suppression(b, s, {NmsFlavour::TfjsCore, 0.5, 0.5f}), (std::vector<int64_t>{0}));
    EXPECT_EQ(non_max_suppression(b, s, {NmsFlavour::Plain, 0.5, 0.5f}), (std::vector<int64_t>{0, 1}));
    // a zero score under a negative threshold: TfjsCore's decayed score equals the original, so it stays
    std::vector<float> zero(kScores, kScores + 6);
    zero[1] = 0.f;
    EXPECT_EQ(nms(NmsFlavour::TfjsCore, 0.5, -1.f, 100, zero), (std::vector<int64_t>{0, 2, 3, 4, 1}));
    EXPECT_EQ(nms(NmsFlavour::Plain, 0.5, -1.f, 100, zero), (std::vector<int64_t>{0, 2, 3, 4}));
}

TEST(FacenetTfOps, SamePaddingPutsTheOddPixelAtTheBottomRight) {
    // 4 px, window 3, stride 2: out = 2, total = (2 - 1) * 2 + 3 - 4 = 1 -> 0 before, 1 after
    const torch::Tensor x = torch::ones({1, 1, 4, 4});
    const torch::Tensor p = pad_same(x, 3, 3, 2, 2, -5);
    ASSERT_EQ(p.sizes(), (std::vector<int64_t>{1, 1, 5, 5}));
    EXPECT_EQ(p[0][0][0][0].item<float>(), 1.f);
    EXPECT_EQ(p[0][0][4][0].item<float>(), -5.f);
    EXPECT_EQ(p[0][0][0][4].item<float>(), -5.f);
    // 5 px, window 3, stride 1: total 2 -> one on each side; window 1: none (the same tensor)
    EXPECT_EQ(pad_same(torch::ones({1, 1, 5, 5}), 3, 3, 1, 1)[0][0][0][0].item<float>(), 0.f);
    EXPECT_TRUE(pad_same(x, 1, 1, 1, 1).is_same(x));
}

TEST(FacenetTfOps, FiltersTakeTorchsLayout) {
    // TF [kh, kw, in, out] -> [out, in, kh, kw]; depthwise [kh, kw, in, mult] -> [in * mult, 1, kh, kw]
    const torch::Tensor tf = torch::arange(2 * 3 * 4 * 5, torch::kFloat32).reshape({2, 3, 4, 5});
    const torch::Tensor c = conv_filter(tf);
    ASSERT_EQ(c.sizes(), (std::vector<int64_t>{5, 4, 2, 3}));
    EXPECT_EQ(c[4][3][1][2].item<float>(), tf[1][2][3][4].item<float>());
    const torch::Tensor d = depthwise_filter(tf);
    ASSERT_EQ(d.sizes(), (std::vector<int64_t>{20, 1, 2, 3}));
    EXPECT_EQ(d[3 * 5 + 4][0][1][2].item<float>(), tf[1][2][3][4].item<float>());  // channel in * mult + m
}
