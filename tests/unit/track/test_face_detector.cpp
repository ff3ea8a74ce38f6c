// Face detector on real photos (label data: skipped without ../shared/data).
#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <iostream>

#include "ned/core/error.hpp"

#include "ned/track/face_detector.hpp"
#include "support/test_support.hpp"

using namespace ned::face;
using namespace ned::track;

TEST(FaceDetector, AutoScaleAndBoxMapping) {
    DetectorOptions o;
    EXPECT_FLOAT_EQ(resolve_detect_scale(o, 1920, 1080), 640.f / 1920.f);
    EXPECT_FLOAT_EQ(resolve_detect_scale(o, 256, 256), 1.f);  // never upscaled
    o.detect_scale = 0.5f;
    EXPECT_FLOAT_EQ(resolve_detect_scale(o, 1920, 1080), 0.5f);
    const cv::Vec4f b = hog_to_ned_box({100, 100, 200, 200});
    EXPECT_NEAR(b[2] - b[0], 100 * kHogScale, 1e-4);
    EXPECT_NEAR(b[3] - b[1], 100 * kHogScale, 1e-4);
    EXPECT_NEAR(0.5f * (b[0] + b[2]), 150.f, 1e-4);
    EXPECT_NEAR(0.5f * (b[1] + b[3]), 150.f - 100 * kHogShiftY, 1e-4);
}

TEST(FaceDetector, FindsTheFaceInAPortrait) {
    NED_REQUIRE_DATA();
    const cv::Mat img = cv::imread(ned::test::data_path("images/faces/face_recognition__obama-1080p.jpg"));
    ASSERT_FALSE(img.empty());
    FaceDetector det;
    const auto d = det.detect(img);
    ASSERT_GE(d.size(), 1u);
    const cv::Vec4f& b = d[0].box;
    // The face is in the middle third of the 1920x1080 portrait and a few hundred pixels tall.
    const float cx = 0.5f * (b[0] + b[2]), side = b[2] - b[0];
    EXPECT_GT(cx, 640.f);
    EXPECT_LT(cx, 1280.f);
    EXPECT_GT(side, 150.f);
    EXPECT_LT(side, 700.f);
}

TEST(FaceDetector, FindsBothFacesLargestFirst) {
    NED_REQUIRE_DATA();
    const cv::Mat img = cv::imread(ned::test::data_path("images/faces/face_recognition__two_people.jpg"));
    ASSERT_FALSE(img.empty());
    DetectorOptions o;  // HOG, no upsampling
    o.kind = DetectorKind::Hog;
    const auto d = FaceDetector(o).detect(img);
    ASSERT_EQ(d.size(), 2u);
    auto area = [](const Detection& x) { return (x.box[2] - x.box[0]) * (x.box[3] - x.box[1]); };
    EXPECT_GE(area(d[0]), area(d[1]));
}

// The two faces of the photo (1126x661; ~150-180 px boxes) made small: the photo scaled by 0.26 (293x172, detected
// at scale 1) leaves ~44 px faces, below dlib's 80x80 HOG window. Without upsampling HOG finds neither; one
// pyramid-up step (upsample 1) finds both, where the full-size photo has them. Measured: without upsampling no face
// for scales 0.20-0.32 (both from 0.35 on), with it both at every scale 0.20-1.0.
TEST(FaceDetector, UpsampleFindsSmallFacesTheDefaultMisses) {
    NED_REQUIRE_DATA();
    const cv::Mat img = cv::imread(ned::test::data_path("images/faces/face_recognition__two_people.jpg"));
    ASSERT_FALSE(img.empty());
    DetectorOptions o;  // upsampling is HOG's (dlib's pyramid)
    o.kind = DetectorKind::Hog;
    const auto full = FaceDetector(o).detect(img);
    ASSERT_EQ(full.size(), 2u);
    const double f = 0.26;
    cv::Mat small;
    cv::resize(img, small, cv::Size(), f, f, cv::INTER_AREA);
    ASSERT_EQ(resolve_detect_scale(o, small.cols, small.rows), 1.f);
    EXPECT_EQ(FaceDetector(o).detect(small).size(), 0u) << "the small faces are found without upsampling";
    o.upsample = 1;
    const auto d = FaceDetector(o).detect(small);
    ASSERT_EQ(d.size(), 2u) << "upsampling did not find both small faces";
    for (const auto& face : full) {  // each full-size face, scaled, is one of the small detections
        const float cx = 0.5f * (face.box[0] + face.box[2]) * f, cy = 0.5f * (face.box[1] + face.box[3]) * f;
        const float side = (face.box[2] - face.box[0]) * f;
        int matches = 0;
        for (const auto& x : d)
            matches += std::abs(0.5f * (x.box[0] + x.box[2]) - cx) < 0.25f * side &&
                       std::abs(0.5f * (x.box[1] + x.box[3]) - cy) < 0.25f * side &&
                       std::abs((x.box[2] - x.box[0]) - side) < 0.3f * side;
        EXPECT_EQ(matches, 1) << "full-size face at " << face.box;
    }
}

TEST(FaceDetector, DetectorNamesAndSsdBoxMapping) {
    EXPECT_EQ(parse_detector("hog"), DetectorKind::Hog);
    EXPECT_EQ(parse_detector("ssd"), DetectorKind::Ssd);
    EXPECT_EQ(parse_detector("blazeface"), DetectorKind::BlazeFace);
    EXPECT_EQ(parse_detector("hog-rot"), DetectorKind::HogRot);
    for (DetectorKind k : {DetectorKind::Hog, DetectorKind::Ssd, DetectorKind::BlazeFace, DetectorKind::HogRot,
                           DetectorKind::HogBlazeFace})
        EXPECT_EQ(parse_detector(detector_name(k)), k);
    EXPECT_STREQ(detector_name(DetectorKind::Ssd), "ssd");
    EXPECT_THROW(parse_detector("mtcnn"), ned::InputError);
    DetectorOptions bad;
    bad.kind = DetectorKind::HogRot;
    bad.rotation_angles = {45.f, 0.f};
    EXPECT_THROW(FaceDetector{bad}, ned::InputError);
    bad.rotation_angles = {200.f};
    EXPECT_THROW(FaceDetector{bad}, ned::InputError);
    const cv::Vec4f b = ssd_to_hog_box({100, 100, 200, 300});
    EXPECT_NEAR(b[2] - b[0], 100 * kSsdScaleX, 1e-4);
    EXPECT_NEAR(b[3] - b[1], 200 * kSsdScaleY, 1e-4);
    EXPECT_NEAR(0.5f * (b[0] + b[2]), 150.f + 100 * kSsdShiftX, 1e-4);
    EXPECT_NEAR(0.5f * (b[1] + b[3]), 200.f + 200 * kSsdShiftY, 1e-4);
}

namespace {
/// Fraction of `images` rotated by +-angle degrees about their face (the largest HOG detection of the
/// unrotated image) in which `det` finds a face whose box contains that face centre.
double rolled_recall(const FaceDetector& det, const std::vector<cv::Mat>& images,
                     const std::vector<cv::Point2f>& centres, double angle) {
    long hits = 0, n = 0;
    for (size_t i = 0; i < images.size(); ++i)
        for (double sgn : {-1.0, 1.0}) {
            cv::Mat rot;
            cv::warpAffine(images[i], rot, cv::getRotationMatrix2D(centres[i], sgn * angle, 1.0), images[i].size(),
                           cv::INTER_LINEAR, cv::BORDER_REPLICATE);
            bool hit = false;
            for (const auto& d : det.detect(rot))
                hit |= centres[i].x >= d.box[0] && centres[i].x <= d.box[2] && centres[i].y >= d.box[1] &&
                       centres[i].y <= d.box[3];
            hits += hit;
            ++n;
        }
    return n ? static_cast<double>(hits) / n : 0.0;
}
}  // namespace

namespace {
/// The 8 upright shared photos of the rolled-face tests and their face centres (largest HOG detection).
void upright_photos(std::vector<cv::Mat>& images, std::vector<cv::Point2f>& centres) {
    const FaceDetector hog;
    for (const char* name :
         {"face-api.js__neutral.jpg", "face-api.js__happy.jpg", "face-api.js__sad.jpg", "face-api.js__angry.jpg",
          "sadtalker__happy.png", "sadtalker__sad.png", "face_recognition__obama-1080p.jpg", "liveportrait__s2.jpg"}) {
        const cv::Mat img = cv::imread(ned::test::data_path(std::string("images/faces/") + name));
        ASSERT_FALSE(img.empty()) << name;
        const auto d = hog.detect(img);
        ASSERT_FALSE(d.empty()) << name;  // upright, frontal: HOG finds every one
        images.push_back(img);
        centres.emplace_back(0.5f * (d[0].box[0] + d[0].box[2]), 0.5f * (d[0].box[1] + d[0].box[3]));
    }
}
/// Issue 13's bound, on the 8 photos: `det` finds at least 3/4 of the faces rolled 45, 60 and 90 degrees, and at
/// least 0.3 more of them than HOG alone at 60 and 90 degrees.
void expect_rolled_recall_clearly_above_hog(const FaceDetector& hog, const FaceDetector& det, const char* name,
                                            const std::vector<cv::Mat>& images,
                                            const std::vector<cv::Point2f>& centres) {
    for (double angle : {45.0, 60.0, 90.0}) {
        const double h = rolled_recall(hog, images, centres, angle), r = rolled_recall(det, images, centres, angle);
        std::cout << "rolled " << angle << " degrees: recall HOG " << h << ", " << name << " " << r << "\n";
        EXPECT_GE(r, 0.75) << name << " " << angle;
        if (angle > 45) {
            EXPECT_GE(r - h, 0.3) << name << " " << angle;
        }
    }
}
}  // namespace

TEST(FaceDetector, BothDetectorsFindRolledFaces) {
    // bench_detectors on 55 clip frames and photos (docs/performance.md "Face detectors"): recall HOG / SSD
    // 1.00 / 0.98 upright, 0.95 / 0.86 rolled 30 degrees. Bounds: well below those numbers on the 8 photos here.
    NED_REQUIRE_DATA();
    std::vector<cv::Mat> images;
    std::vector<cv::Point2f> centres;
    upright_photos(images, centres);
    const FaceDetector hog;
    DetectorOptions so;
    so.kind = DetectorKind::Ssd;
    const FaceDetector ssd(so);
    const double ssd0 = rolled_recall(ssd, images, centres, 0.0);
    const double hog30 = rolled_recall(hog, images, centres, 30.0), ssd30 = rolled_recall(ssd, images, centres, 30.0);
    std::cout << "recall upright SSD " << ssd0 << "; rolled 30 degrees: HOG " << hog30 << ", SSD " << ssd30 << "\n";
    EXPECT_GE(ssd0, 0.85);
    EXPECT_GE(hog30, 0.75);
    EXPECT_GE(ssd30, 0.6);
}

TEST(FaceDetector, RotationSearchFindsRolledFacesClearlyAboveHog) {
    // Issue 13's test: recall on turned faces clearly above HOG's. bench_detectors (docs/performance.md "Face
    // detectors", 55 clip frames and photos): HOG / hog-rot recall 0.58 / 0.99 rolled 45 degrees, 0.05 / 0.98 at
    // 60, 0.01 / 0.88 at 90 (here, 8 photos: 0.69 / 1, 0 / 1, 0 / 1). Bounds on the 8 photos here,
    // with margin: hog-rot finds at least 3/4 of the faces rolled 45, 60 and 90 degrees, and at least 0.3 more
    // of them than HOG alone at 60 and 90 degrees.
    NED_REQUIRE_DATA();
    std::vector<cv::Mat> images;
    std::vector<cv::Point2f> centres;
    upright_photos(images, centres);
    DetectorOptions ro;
    ro.kind = DetectorKind::HogRot;
    const FaceDetector hog, rot(ro);
    expect_rolled_recall_clearly_above_hog(hog, rot, "hog-rot", images, centres);
    // The face found on a rotated copy: its box is centred on the face and its roll has the rotation's sign.
    const cv::Mat& img = images[6];  // the 1080p portrait
    for (double sgn : {-1.0, 1.0}) {
        cv::Mat rolled;
        cv::warpAffine(img, rolled, cv::getRotationMatrix2D(centres[6], sgn * 70.0, 1.0), img.size(), cv::INTER_LINEAR,
                       cv::BORDER_REPLICATE);
        ASSERT_TRUE(hog.detect(rolled).empty()) << "HOG alone finds the face rolled 70 degrees: the case is not tested";
        const auto d = rot.detect(rolled);
        ASSERT_FALSE(d.empty()) << sgn;
        const cv::Vec4f& b = d[0].box;
        const float side = b[2] - b[0];
        EXPECT_NEAR(0.5f * (b[0] + b[2]), centres[6].x, 0.2f * side) << sgn;
        EXPECT_NEAR(0.5f * (b[1] + b[3]), centres[6].y, 0.2f * side) << sgn;
        EXPECT_NEAR(d[0].roll, sgn * 55.0, 1e-3) << sgn;  // found on the copy rotated by -roll
    }
}

TEST(FaceDetector, HogBlazeFaceAndCombinedFindRolledAndBorderCutFacesClearlyAboveHog) {
    // combined (the default) as hog-blazeface on these: recall 0.98 / 0.88 rolled 60 / 90 degrees, 0.93 cut
    // (bench_detectors).
    // hog-blazeface (BlazeFace where HOG finds nothing). bench_detectors (docs/performance.md
    // "Face detectors", 55 clip frames and photos): recall HOG / hog-blazeface 0.58 / 0.99 rolled 45 degrees,
    // 0.05 / 0.98 at 60, 0.01 / 0.96 at 90, 0.46 / 0.96 with the face cut 35% by the border. Bounds on the 8
    // photos here, with margin: at least 3/4 of the faces rolled 45, 60 and 90 degrees and 0.3 more than HOG at
    // 60 and 90 degrees; with 35% of the face beyond the left border at least 3/4 and never below HOG (these
    // large faces stay findable by HOG more often than the bench's set: 7/8 vs 8/8 here).
    NED_REQUIRE_DATA();
    std::vector<cv::Mat> images;
    std::vector<cv::Point2f> centres;
    upright_photos(images, centres);
    for (DetectorKind kind : {DetectorKind::HogBlazeFace, DetectorKind::Combined}) {
        DetectorOptions bo;
        bo.kind = kind;
        const FaceDetector hog, hb(bo);
        expect_rolled_recall_clearly_above_hog(hog, hb, detector_name(kind), images, centres);
        long hits_h = 0, hits_b = 0;
        for (size_t i = 0; i < images.size(); ++i) {
            const auto d = hog.detect(images[i]);
            const float side = d[0].box[2] - d[0].box[0];
            const int x0 = std::clamp(cvRound(centres[i].x - 0.5f * side + 0.35f * side), 0, images[i].cols - 2);
            const cv::Mat cut = images[i](cv::Rect(x0, 0, images[i].cols - x0, images[i].rows)).clone();
            const cv::Point2f c(centres[i].x - x0, centres[i].y);
            auto found = [&](const FaceDetector& det) {
                for (const auto& x : det.detect(cut))
                    if (c.x >= x.box[0] && c.x <= x.box[2] && c.y >= x.box[1] && c.y <= x.box[3]) return true;
                return false;
            };
            hits_h += found(hog);
            hits_b += found(hb);
        }
        const double rh = double(hits_h) / images.size(), rb = double(hits_b) / images.size();
        std::cout << "face cut 35% by the border: recall HOG " << rh << ", " << detector_name(kind) << " " << rb
                  << "\n";
        EXPECT_GE(rb, 0.75);
        EXPECT_GE(rb, rh);
    }
}
