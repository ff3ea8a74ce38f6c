// MediaPipe FaceMesh: the crop is pure geometry, the 68-point mapping the published one (parity of the graph:
// test_tfjs_graph.cpp).
#include <gtest/gtest.h>

#include <cmath>

#include "ned/core/error.hpp"
#include "ned/facenet/facemesh.hpp"
#include "unit/facenet/parity.hpp"

using namespace ned::facenet;
using namespace ned::facenet::test;

TEST(FacenetFaceMesh, To68UsesThePublishedCorrespondence) {
    std::vector<cv::Point3f> mesh(468);
    for (int i = 0; i < 468; ++i) mesh[i] = cv::Point3f(float(i), float(2 * i), 0.f);
    const auto p = facemesh_to_68(mesh);
    ASSERT_EQ(p.size(), 68u);
    // single points: jaw start 127, chin 152, eye corners 33 / 263, mouth corners 61 / 291
    const std::pair<int, int> single[] = {{0, 127}, {8, 152}, {16, 356}, {36, 33}, {45, 263}, {48, 61}, {54, 291}};
    for (const auto& [i, m] : single) {
        EXPECT_FLOAT_EQ(p[i].x, float(m)) << i;
        EXPECT_FLOAT_EQ(p[i].y, float(2 * m)) << i;
    }
    // pairs are averaged: jaw 3 = (132 + 58) / 2, nose bridge 27 = (168 + 6) / 2
    EXPECT_FLOAT_EQ(p[3].x, 95.f);
    EXPECT_FLOAT_EQ(p[27].x, 87.f);
    EXPECT_FLOAT_EQ(p[27].y, 174.f);
    mesh.resize(478);  // with the iris points
    EXPECT_EQ(facemesh_to_68(mesh).size(), 68u);
    mesh.resize(68);
    EXPECT_THROW(facemesh_to_68(mesh), ned::InputError);
}

TEST(FacenetFaceMesh, CropFollowsTheImage) {
    // Shifting the image by whole pixels (black border) and the box with it shifts every mesh point by the same
    // amount: the crop and its inverse mapping are pure geometry (the resampled pixels are identical).
    const FaceMesh mesh;
    const cv::Mat img = synthetic_image();
    cv::Mat shifted(img.rows + 17, img.cols + 29, CV_8UC3, cv::Scalar::all(0));
    img.copyTo(shifted(cv::Rect(29, 17, img.cols, img.rows)));
    const cv::Rect2f box(img.cols * 0.3f, img.rows * 0.3f, img.cols * 0.3f, img.rows * 0.35f);
    for (int passes : {1, 2}) {
        const auto a = mesh.predict(img, box, passes);
        const auto b = mesh.predict(shifted, cv::Rect2f(box.x + 29, box.y + 17, box.width, box.height), passes);
        ASSERT_EQ(a.size(), 468u);
        ASSERT_EQ(b.size(), 468u);
        double err = 0;
        for (int i = 0; i < 468; ++i)
            err = std::max(err, double(cv::norm(cv::Point2f(b[i].x - 29 - a[i].x, b[i].y - 17 - a[i].y))));
        // the crop's first pass is identical pixel for pixel; later passes follow the mesh (float rounding)
        EXPECT_LT(err, 1e-2) << passes << " passes";
    }
    EXPECT_THROW(mesh.predict(cv::Mat(), box), ned::InputError);
    EXPECT_THROW(mesh.predict(img, box, 0), ned::InputError);
    EXPECT_THROW(mesh.predict(img, box, 2, std::nanf("")), ned::InputError);
    // a roll of 360 degrees turns the first crop onto itself (float rounding of the rotation only)
    const auto a = mesh.predict(img, box, 1), b = mesh.predict(img, box, 1, 360.f);
    double err = 0;
    for (int i = 0; i < 468; ++i) err = std::max(err, double(cv::norm(cv::Point2f(a[i].x - b[i].x, a[i].y - b[i].y))));
    EXPECT_LT(err, 0.05);
    EXPECT_THROW(mesh.predict(img, {-500, -500, 10, 10}), ned::InputError);
}
