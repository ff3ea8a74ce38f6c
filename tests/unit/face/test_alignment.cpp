#include <gtest/gtest.h>

#include <opencv2/core.hpp>

#include <random>

#include "ned/core/error.hpp"
#include "ned/face/alignment.hpp"

using namespace ned::face;

namespace {
std::vector<cv::Point2d> random_points(int n, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> u(-50, 50);
    std::vector<cv::Point2d> p(n);
    for (auto& q : p) q = {u(rng) + 128, u(rng) + 128};
    return p;
}
cv::Point2d apply(const cv::Matx23d& m, cv::Point2d p) {
    return {m(0, 0) * p.x + m(0, 1) * p.y + m(0, 2), m(1, 0) * p.x + m(1, 1) * p.y + m(1, 2)};
}
}  // namespace

TEST(Umeyama, RecoversKnownSimilarity) {
    const double s = 1.37, th = 0.41, tx = -12.5, ty = 30.25;
    const cv::Matx23d m(s * std::cos(th), -s * std::sin(th), tx, s * std::sin(th), s * std::cos(th), ty);
    const auto src = random_points(68, 1);
    std::vector<cv::Point2d> dst;
    for (const auto& p : src) dst.push_back(apply(m, p));
    const cv::Matx23d e = umeyama(src, dst);
    for (int r = 0; r < 2; ++r)
        for (int c = 0; c < 3; ++c) EXPECT_NEAR(e(r, c), m(r, c), 1e-9) << r << "," << c;
}

TEST(Umeyama, RigidWithoutScale) {
    const double th = -0.3;
    const cv::Matx23d m(std::cos(th), -std::sin(th), 5, std::sin(th), std::cos(th), -7);
    const auto src = random_points(20, 2);
    std::vector<cv::Point2d> dst;
    for (const auto& p : src) dst.push_back(apply(m, p));
    const cv::Matx23d e = umeyama(src, dst, false);
    for (int r = 0; r < 2; ++r)
        for (int c = 0; c < 3; ++c) EXPECT_NEAR(e(r, c), m(r, c), 1e-9);
}

TEST(Umeyama, ReflectionIsCorrectedToAProperRotation) {
    // dst is a mirror image of src: the best *similarity* must not contain the reflection.
    const auto src = random_points(40, 3);
    std::vector<cv::Point2d> dst;
    for (const auto& p : src) dst.push_back({256 - p.x, p.y});
    const cv::Matx23d e = umeyama(src, dst);
    const double det = e(0, 0) * e(1, 1) - e(0, 1) * e(1, 0);
    EXPECT_GT(det, 0.0) << "reflection leaked into the similarity";
    // It is a similarity: rotation-scale block of the form [a -b; b a].
    EXPECT_NEAR(e(0, 0), e(1, 1), 1e-9);
    EXPECT_NEAR(e(0, 1), -e(1, 0), 1e-9);
    // Without the correction the SVD solution would be the exact mirror with zero residual; ours has a residual.
    double res = 0;
    for (size_t i = 0; i < src.size(); ++i) res += cv::norm(apply(e, src[i]) - dst[i]);
    EXPECT_GT(res / src.size(), 1.0);
}

TEST(Umeyama, RejectsBadInput) {
    EXPECT_THROW(umeyama({{0, 0}}, {{1, 1}}), ned::Error);
    EXPECT_THROW(umeyama({{0, 0}, {1, 1}}, {{1, 1}}), ned::Error);
    EXPECT_THROW(umeyama({{3, 3}, {3, 3}, {3, 3}}, {{0, 0}, {1, 0}, {0, 1}}), ned::Error);
}

TEST(NedTemplate, Has68PointsWithNedValues) {
    const Landmarks& t = ned_template();
    ASSERT_EQ(t.size(), 68u);
    EXPECT_EQ(t[0], cv::Point2f(57, 113));
    EXPECT_EQ(t[8], cv::Point2f(128, 220));   // chin
    EXPECT_EQ(t[30], cv::Point2f(126, 149));  // nose tip
    EXPECT_EQ(t[36], cv::Point2f(83, 111));   // outer corner image-left eye
    EXPECT_EQ(t[45], cv::Point2f(166, 108));  // outer corner image-right eye
    EXPECT_EQ(t[67], cv::Point2f(121, 176));
    // All inside the 256 crop, face roughly centred horizontally.
    double cx = 0;
    for (const auto& p : t) {
        EXPECT_GT(p.x, 0);
        EXPECT_LT(p.x, 256);
        EXPECT_GT(p.y, 0);
        EXPECT_LT(p.y, 256);
        cx += p.x / 68;
    }
    EXPECT_NEAR(cx, 128, 8);
}

TEST(AlignTransform, MapsTemplateOntoItselfAndUndoesASimilarity) {
    const Landmarks& t = ned_template();
    const cv::Matx23f id = align_transform(t);
    EXPECT_NEAR(id(0, 0), 1, 1e-5);
    EXPECT_NEAR(id(0, 1), 0, 1e-5);
    EXPECT_NEAR(id(0, 2), 0, 1e-3);
    EXPECT_NEAR(id(1, 0), 0, 1e-5);
    EXPECT_NEAR(id(1, 1), 1, 1e-5);
    EXPECT_NEAR(id(1, 2), 0, 1e-3);
    // A template moved by a similarity is aligned back onto the template.
    const float s = 0.8f, th = 0.2f;
    const cv::Matx23f m(s * std::cos(th), -s * std::sin(th), 20, s * std::sin(th), s * std::cos(th), -10);
    const Landmarks moved = transform_landmarks(t, m);
    const Landmarks back = transform_landmarks(moved, align_transform(moved));
    for (int i = 0; i < 68; ++i) EXPECT_LT(cv::norm(back[i] - t[i]), 1e-3);
    // crop_size scales the template.
    const cv::Matx23f half = align_transform(transform_landmarks(t, cv::Matx23f(0.5f, 0, 0, 0, 0.5f, 0)), 128);
    EXPECT_NEAR(half(0, 0), 1, 1e-5);
    EXPECT_NEAR(half(0, 2), 0, 1e-3);
}

TEST(AlignmentJitter, ZeroForAStaticTrackAndMeasuresNoise) {
    FaceTrack tr;
    tr.has_analysis = true;
    tr.crop_size = 256;
    for (int i = 0; i < 10; ++i) {
        FaceFrame f;
        f.valid = true;
        f.crop_to_frame = cv::Matx23f(2, 0, 100, 0, 2, 50);
        f.align = cv::Matx23f::eye();
        tr.frames.push_back(f);
    }
    AlignmentJitter j = alignment_jitter(tr);
    EXPECT_EQ(j.pairs, 9);
    EXPECT_EQ(j.triples, 8);
    EXPECT_NEAR(j.motion, 0, 1e-9);
    EXPECT_NEAR(j.jitter, 0, 1e-9);
    // Alternating +-1 px translation in aligned space: motion 2, jitter 2 (crop px).
    for (int i = 0; i < 10; ++i) tr.frames[i].align = cv::Matx23f(1, 0, (i % 2) ? 1.f : -1.f, 0, 1, 0);
    j = alignment_jitter(tr);
    EXPECT_NEAR(j.motion, 2, 1e-4);
    EXPECT_NEAR(j.jitter, 2, 1e-4);
    // Linear drift is motion, not jitter.
    for (int i = 0; i < 10; ++i) tr.frames[i].align = cv::Matx23f(1, 0, float(i), 0, 1, 0);
    j = alignment_jitter(tr);
    EXPECT_NEAR(j.motion, 1, 1e-4);
    EXPECT_NEAR(j.jitter, 0, 1e-4);
}
