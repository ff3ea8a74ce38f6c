// face-api's 68-point landmark net against face-api in TF.js on the synthetic image (photos: test_facenet_data.cpp).
#include <gtest/gtest.h>

#include <cmath>

#include "ned/core/error.hpp"
#include "ned/facenet/landmarks68.hpp"
#include "unit/facenet/parity.hpp"

using namespace ned::facenet;
using namespace ned::facenet::test;

TEST(FacenetLandmarks68, MatchesTfjsOnTheSyntheticImage) {
    const auto ref = reference()["images"]["synthetic"];
    const cv::Rect2f box = box_of(ref["box"]);
    // net output o in [0, 1] of the 112 square, mapped by the crop side (128 px here)
    const auto lm = Landmarks68().predict(synthetic_image(), box);
    ASSERT_EQ(lm.size(), 68u);
    double err = 0;
    for (int i = 0; i < 68; ++i) {
        err = std::max(err, std::abs(lm[i].x - ref["landmarks"][i][0].get<double>()));
        err = std::max(err, std::abs(lm[i].y - ref["landmarks"][i][1].get<double>()));
    }
    EXPECT_LE(err, kFeatureRel * std::max(box.width, box.height)) << "max landmark error (px)";
    std::printf("synthetic parity: landmarks %.3g px\n", err);
}

TEST(FacenetLandmarks68, BadInputsAreInputErrors) {
    const Landmarks68 lm;
    const cv::Mat img = synthetic_image();
    EXPECT_THROW(lm.predict(cv::Mat(), {0, 0, 10, 10}), ned::InputError);
    EXPECT_THROW(lm.predict(img, {400, 300, 50, 50}), ned::InputError);  // outside the image
    EXPECT_NO_THROW(lm.predict(img, {-20, -10, 100, 80}));               // clipped at the borders
    EXPECT_THROW(lm.predict(img, {std::nanf(""), 0, 50, 50}), ned::InputError);
    EXPECT_THROW(lm.predict(cv::Mat(5, 5, CV_8UC1), {0, 0, 4, 4}), ned::InputError);
}
