// face-api's SSD-MobileNetV1 on the synthetic image (its parity on photos: test_facenet_data.cpp).
#include <gtest/gtest.h>

#include "ned/core/error.hpp"
#include "ned/facenet/ssd_face_detector.hpp"
#include "unit/facenet/parity.hpp"

using namespace ned::facenet;
using namespace ned::facenet::test;

TEST(FacenetSsd, FindsNoFaceInTheSyntheticImageAsTfjs) {
    // as TF.js, even at a low threshold
    const auto ref = reference()["images"]["synthetic"];
    EXPECT_EQ(SsdFaceDetector().detect(synthetic_image(), ref["min_score"].get<float>()).size(),
              ref["detections"].size());
}

TEST(FacenetSsd, BadImagesAreInputErrors) {
    const SsdFaceDetector det;
    EXPECT_THROW(det.detect(cv::Mat(5, 5, CV_8UC1)), ned::InputError);
    EXPECT_THROW(det.detect(cv::Mat()), ned::InputError);
}
