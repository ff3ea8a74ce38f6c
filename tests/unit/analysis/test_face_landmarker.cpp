// FaceLandmarker (face_landmarker.hpp), unit tests without data: the landmark mode names, the yaw cue from 68
// points, the silhouette jaw on a synthetic mesh. Data tests: test_face_landmarker_data.cpp.
#include <gtest/gtest.h>

#include <cmath>

#include "ned/core/error.hpp"
#include "ned/analysis/face_landmarker.hpp"
#include "ned/facenet/facenet.hpp"

using namespace ned::face;
using namespace ned::analysis;

namespace {

/// A frontal-ish 68-point face (made up, symmetric about x = 100): eye corners at 70/130, nose tip at 100.
Landmarks symmetric_face() {
    Landmarks p{};
    for (int i = 0; i < 68; ++i) p[i] = {100.f, 100.f + i};
    p[36] = {70.f, 100.f};
    p[45] = {130.f, 100.f};
    p[30] = {100.f, 130.f};
    return p;
}

}  // namespace

TEST(FaceLandmarker, ParsesModes) {
    EXPECT_EQ(parse_landmark_mode("auto"), LandmarkMode::Auto);
    EXPECT_EQ(parse_landmark_mode("dlib"), LandmarkMode::Dlib);
    EXPECT_EQ(parse_landmark_mode("facemesh"), LandmarkMode::FaceMesh);
    EXPECT_THROW(parse_landmark_mode("mesh"), ned::InputError);
    for (auto m : {LandmarkMode::Auto, LandmarkMode::Dlib, LandmarkMode::FaceMesh})
        EXPECT_EQ(parse_landmark_mode(landmark_mode_name(m)), m);
}

TEST(FaceLandmarker, YawFromLandmarksSignAndSize) {
    Landmarks p = symmetric_face();
    EXPECT_NEAR(yaw_from_landmarks(p), 0.f, 1e-4f);
    // nose tip 0.5 eye-corner distances (30 px) towards image right = 45 degrees (atan(1)), left = -45
    p[30].x = 130.f;
    EXPECT_NEAR(yaw_from_landmarks(p), 45.f, 1e-3f);
    p[30].x = 70.f;
    EXPECT_NEAR(yaw_from_landmarks(p), -45.f, 1e-3f);
    // in-plane rotation does not change it
    Landmarks q = symmetric_face();
    q[30].x = 115.f;
    const float y0 = yaw_from_landmarks(q);
    const double a = 0.5, c = std::cos(a), s = std::sin(a);
    for (auto& pt : q) pt = {float(c * pt.x - s * pt.y), float(s * pt.x + c * pt.y)};
    EXPECT_NEAR(yaw_from_landmarks(q), y0, 1e-3f);
}

TEST(FaceLandmarker, SilhouetteJawRejectsBadMeshesAndKeepsFrontalOnes) {
    EXPECT_THROW(facemesh_to_68_silhouette(std::vector<cv::Point3f>(100), 30.f), ned::InputError);
    EXPECT_THROW(yaw_from_facemesh(std::vector<cv::Point3f>(10)), ned::InputError);
    // a synthetic mesh (points on a sphere): below min_yaw_deg the mapping is facemesh_to_68's
    std::vector<cv::Point3f> mesh(468);
    for (int i = 0; i < 468; ++i) {
        const double t = 2.399963 * i, z = 1.0 - (i + 0.5) / 468.0;  // Fibonacci sphere, front half (z > 0)
        const double r = std::sqrt(1 - z * z);
        mesh[i] = cv::Point3f(float(100 + 50 * r * std::cos(t)), float(100 + 50 * r * std::sin(t)), float(-50 * z));
    }
    const auto a = ned::facenet::facemesh_to_68(mesh);
    const auto b = facemesh_to_68_silhouette(mesh, 5.f);
    for (int i = 0; i < 68; ++i) EXPECT_EQ(a[i], b[i]) << i;
    // turned: only far-side jaw points move, and only outwards (never inside the fixed oval vertex)
    const auto c = facemesh_to_68_silhouette(mesh, 40.f);
    for (int i = 0; i < 68; ++i) {
        if (i >= 9 && i <= 16) {
            EXPECT_GE(cv::norm(c[i] - cv::Point2f(100, 100)), cv::norm(a[i] - cv::Point2f(100, 100)) - 1e-3) << i;
            EXPECT_LE(cv::norm(c[i] - cv::Point2f(100, 100)), 50.0 + 1e-3) << i;
        } else {
            EXPECT_EQ(a[i], c[i]) << i;
        }
    }
}

TEST(FaceLandmarker, DisagreementIsTheInnerPointErrorOverTheEyeDistance) {
    const Landmarks a = symmetric_face();  // eye corners 60 px apart
    EXPECT_EQ(landmark_disagreement(a, a), 0.f);
    Landmarks b = a;
    for (int i = 0; i < 17; ++i) b[i].x += 100.f;  // the jaw does not count
    EXPECT_EQ(landmark_disagreement(b, a), 0.f);
    for (int i = 17; i < 68; ++i) b[i].y += 6.f;  // 0.1 eye distances
    EXPECT_NEAR(landmark_disagreement(b, a), 0.1f, 1e-5f);
    Landmarks z{};
    EXPECT_EQ(landmark_disagreement(a, z), 0.f);  // degenerate reference
}
