// The default detector on faces turned in yaw (issue 22), on the yaw test set (scripts/make_yaw_set.py, made by
// scripts/setup.sh; skipped when absent): a rendered head scan at known yaw, real turned photos, faceless videos.
// Bounds come from bench_detectors (docs/performance.md "Faces turned in yaw") with margin.
#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <cmath>
#include <iostream>
#include <map>

#include "ned/face/crop.hpp"
#include "ned/analysis/analyze.hpp"
#include "ned/track/face_detector.hpp"
#include "ned/io/video.hpp"
#include "support/test_support.hpp"
#include "support/yaw_set.hpp"

using namespace ned::face;
using namespace ned::track;
using namespace ned::analysis;

namespace {

FaceDetector make(DetectorKind k) {
    DetectorOptions o;
    o.kind = k;
    return FaceDetector(o);
}

/// Centre of the ground-truth points' box.
cv::Point2f centre_of(const std::vector<cv::Point2f>& pts) {
    const cv::Rect2f bb = cv::boundingRect(pts);
    return {bb.x + 0.5f * bb.width, bb.y + 0.5f * bb.height};
}

/// The detection whose box holds `c`, or nullptr.
const Detection* covering(const std::vector<Detection>& d, cv::Point2f c) {
    for (const auto& x : d)
        if (c.x >= x.box[0] && c.x <= x.box[2] && c.y >= x.box[1] && c.y <= x.box[3]) return &x;
    return nullptr;
}

}  // namespace

TEST(FaceDetectorYaw, CombinedFindsFacesTurnedUpTo60DegreesWhereHogRotMisses) {
    NED_REQUIRE_YAW_SET();
    const auto set = ned::test::read_yaw_set(ned::test::yaw_set_dir());
    const FaceDetector combined = make(DetectorKind::Combined), rot = make(DetectorKind::HogRot);
    std::map<int, std::pair<int, int>> hits_c, hits_r;  // |yaw| bin -> (hits, images)
    for (const auto& e : set) {
        if (e.kind != "synthetic" || e.points.size() != 68 || std::abs(e.yaw) > 60.5) continue;
        const cv::Mat img = cv::imread(e.path);
        ASSERT_FALSE(img.empty()) << e.path;
        const int bin = static_cast<int>(std::lround(std::abs(e.yaw) / 15.0)) * 15;
        const cv::Point2f c = centre_of(e.points);
        hits_c[bin].first += covering(combined.detect(img), c) != nullptr;
        hits_c[bin].second += 1;
        hits_r[bin].first += covering(rot.detect(img), c) != nullptr;
        hits_r[bin].second += 1;
    }
    ASSERT_EQ(hits_c.size(), 5u) << "the yaw set lacks some of the bins 0, 15, 30, 45, 60";
    for (const auto& [bin, h] : hits_c) {
        const double rc = double(h.first) / h.second, rr = double(hits_r[bin].first) / hits_r[bin].second;
        std::cout << "|yaw| " << bin << ": recall combined " << rc << ", hog-rot " << rr << " (" << h.second
                  << " images)\n";
        EXPECT_GE(rc, 0.9) << "|yaw| " << bin;
        if (bin == 60) {
            EXPECT_GE(rc, rr + 0.3) << "the turned faces are found by hog-rot already: not a test";
        }
    }
}

TEST(FaceDetectorYaw, ATurnedFaceBesideAFrontalOneIsFoundToo) {
    // The car scene of the issue: one person faces the camera, the other is seen in a three-quarter view. HOG
    // finds the frontal face, so hog-rot's rotation search and hog-blazeface's BlazeFace never run.
    NED_REQUIRE_YAW_SET();
    const auto set = ned::test::read_yaw_set(ned::test::yaw_set_dir());
    const ned::test::YawEntry *frontal = nullptr, *turned = nullptr;
    for (const auto& e : set) {
        if (e.kind != "synthetic" || e.points.empty()) continue;
        if (!frontal && e.yaw == 0 && e.pitch == 0 && e.roll == 0) frontal = &e;
        if (!turned && e.yaw == -60 && e.pitch == 0 && e.roll == 0) turned = &e;
    }
    ASSERT_TRUE(frontal && turned);
    const cv::Mat a = cv::imread(frontal->path), b = cv::imread(turned->path);
    ASSERT_EQ(a.rows, b.rows);
    cv::Mat scene;
    cv::hconcat(a, b, scene);
    const cv::Point2f ca = centre_of(frontal->points), cb = centre_of(turned->points) + cv::Point2f(a.cols, 0);
    const FaceDetector combined = make(DetectorKind::Combined), rot = make(DetectorKind::HogRot);
    const auto dr = rot.detect(scene);
    ASSERT_NE(covering(dr, ca), nullptr) << "hog-rot misses the frontal face";
    ASSERT_EQ(covering(dr, cb), nullptr) << "hog-rot finds the turned face: the case is not tested";
    const auto dc = combined.detect(scene);
    ASSERT_NE(covering(dc, ca), nullptr);
    const Detection* t = covering(dc, cb);
    ASSERT_NE(t, nullptr) << "the turned face is not found";
    EXPECT_EQ(t->source, DetectionSource::BlazeFace);
    EXPECT_EQ(covering(dc, ca)->source, DetectionSource::Hog);  // HOG's box wherever HOG finds the face
}

TEST(FaceDetectorYaw, TheCropOfATurnedFaceStaysCentredOnIt) {
    // The NED crop (square box, margin) made from the combined detector's box of a turned face holds all of the
    // face's annotated points, and their centre sits where it sits on frontal faces (a little below the crop's
    // centre: NED's box reaches up to the forehead). HOG's own box drifts towards the nose as the face turns
    // (the centre moved by 21 / 25 / 30 px of the 256 crop at 30 / 45 / 60 degrees on this set); BlazeFace's
    // does not (within 6 px on average, 11 at most).
    NED_REQUIRE_YAW_SET();
    const auto set = ned::test::read_yaw_set(ned::test::yaw_set_dir());
    const FaceDetector combined = make(DetectorKind::Combined);
    std::vector<std::pair<double, cv::Point2f>> offsets;  // (yaw, centre of the points in the crop - crop centre)
    for (const auto& e : set) {
        if (e.points.size() != 68 || !e.has_pose || std::abs(e.yaw) > 60.5) continue;
        const cv::Mat img = cv::imread(e.path);
        const cv::Point2f c = centre_of(e.points);
        const auto dets = combined.detect(img);
        const Detection* d = covering(dets, c);
        if (!d) continue;  // recall is the first test
        const FaceFrame f = face_frame_from_detection(d->box, 256);
        cv::Matx23f to_crop;
        cv::invertAffineTransform(f.crop_to_frame, to_crop);
        std::vector<cv::Point2f> in_crop;
        cv::transform(e.points, in_crop, to_crop);
        const cv::Rect2f bb = cv::boundingRect(in_crop);
        EXPECT_TRUE(bb.x >= 0.f && bb.y >= 0.f && bb.x + bb.width <= 256.f && bb.y + bb.height <= 256.f)
            << e.path << ": a point lies outside the crop";
        offsets.emplace_back(e.yaw, cv::Point2f(bb.x + 0.5f * bb.width - 128.f, bb.y + 0.5f * bb.height - 128.f));
    }
    cv::Point2f ref(0, 0);
    int n_ref = 0, n_turned = 0;
    for (const auto& [yaw, o] : offsets)
        if (std::abs(yaw) < 15.5) ref += o, ++n_ref;
    ASSERT_GE(n_ref, 20);
    ref *= 1.f / n_ref;
    for (const auto& [yaw, o] : offsets) {
        if (std::abs(yaw) < 29.5) continue;
        ++n_turned;
        EXPECT_NEAR(o.x, ref.x, 20.f) << "yaw " << yaw;  // 8% of the crop
        EXPECT_NEAR(o.y, ref.y, 20.f) << "yaw " << yaw;
    }
    EXPECT_GE(n_turned, 80);
}

TEST(FaceDetectorYaw, CombinedFindsNoFaceInFacelessVideos) {
    NED_REQUIRE_YAW_SET();
    const auto set = ned::test::read_yaw_set(ned::test::yaw_set_dir());
    const FaceDetector combined = make(DetectorKind::Combined);
    int frames = 0, false_detections = 0;
    for (const auto& e : set) {
        if (e.kind != "noface" || e.path.find("no_face") == std::string::npos) continue;
        ned::io::VideoReader r(e.path);
        ned::io::Frame f;
        for (long t = 0; r.read(f); ++t)
            if (t % 5 == 0) {
                false_detections += static_cast<int>(combined.detect(f.bgr).size());
                ++frames;
            }
    }
    ASSERT_GE(frames, 10) << "no faceless video in the yaw set";
    EXPECT_EQ(false_detections, 0) << "over " << frames << " faceless frames";
}
