// face-api's face recognition net against face-api in TF.js on the synthetic image, its distance and face-api's
// aligned box (photos: test_facenet_data.cpp).
#include <gtest/gtest.h>

#include <cmath>

#include <opencv2/imgproc.hpp>

#include "ned/core/error.hpp"
#include "ned/facenet/face_descriptor.hpp"
#include "unit/facenet/parity.hpp"

using namespace ned::facenet;
using namespace ned::facenet::test;

TEST(FacenetDescriptor, MatchesTfjsOnTheSyntheticImage) {
    const auto ref = reference()["images"]["synthetic"];
    const double err = max_error(FaceDescriptor().describe(synthetic_image(), box_of(ref["box"])), ref["descriptor"]);
    EXPECT_LE(err, kRecognitionRel) << "max descriptor error";
    std::printf("synthetic parity: descriptor %.3g\n", err);
}

TEST(FacenetDescriptor, ParityTestsSeeAChannelSwap) {
    // The same image with R and B swapped: the outputs move far beyond the tolerances, so the parity tests
    // would see an input-convention defect.
    const auto ref = reference()["images"]["synthetic"];
    cv::Mat swapped;
    cv::cvtColor(synthetic_image(), swapped, cv::COLOR_BGR2RGB);
    EXPECT_GT(max_error(FaceDescriptor().describe(swapped, box_of(ref["box"])), ref["descriptor"]),
              10 * kRecognitionRel);
}

TEST(FacenetDescriptor, DistanceIsEuclidean) {
    std::array<float, 128> a{}, b{};
    a[0] = 3;
    b[1] = 4;
    EXPECT_FLOAT_EQ(FaceDescriptor::distance(a, b), 5.f);
    EXPECT_FLOAT_EQ(FaceDescriptor::distance(a, a), 0.f);
}

TEST(FacenetDescriptor, BoxFollowsFaceApiAlignment) {
    // Eyes centred at (40, 50) and (80, 50), mouth centred at (60, 90): eye-to-mouth distance sqrt(20^2 + 40^2).
    std::vector<cv::Point2f> lm(68, cv::Point2f(0, 0));
    for (int i = 36; i < 42; ++i) lm[i] = {40.f + (i % 2 ? 1.f : -1.f), 50.f};
    for (int i = 42; i < 48; ++i) lm[i] = {80.f + (i % 2 ? 1.f : -1.f), 50.f};
    for (int i = 48; i < 68; ++i) lm[i] = {60.f + (i % 2 ? 2.f : -2.f), 90.f};
    const cv::Rect2f b = descriptor_box(lm);
    const double size = std::floor(std::sqrt(20.0 * 20 + 40 * 40) / 0.45);  // 99
    EXPECT_EQ(b.width, size);
    EXPECT_EQ(b.height, size);
    const double cy = (50 + 50 + 90) / 3.0;
    EXPECT_EQ(b.x, std::floor(60 - 0.5 * size));
    EXPECT_EQ(b.y, std::floor(cy - 0.43 * size));
    EXPECT_THROW(descriptor_box({}), ned::InputError);
}
