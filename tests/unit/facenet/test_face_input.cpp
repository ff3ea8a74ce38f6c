// The face crop of face-api's nets (src/facenet/face_input.hpp), against values computed by hand.
#include <gtest/gtest.h>

#include <cmath>

#include "facenet/face_input.hpp"
#include "ned/core/error.hpp"

using namespace ned::facenet;

TEST(FacenetFaceInput, FaceCropIsClippedThenFloored) {
    const cv::Mat img(240, 320, CV_8UC3, cv::Scalar::all(0));
    // left edge clipped at 0: width -20.5 + 100 = 79.5 -> 79; y 10.7 -> 10, height 50
    EXPECT_EQ(face_crop(img, {-20.5f, 10.7f, 100.f, 50.f}, "t"), cv::Rect(0, 10, 79, 50));
    // clipped at the right and bottom edges
    EXPECT_EQ(face_crop(img, {300.f, 200.f, 50.f, 50.f}, "t"), cv::Rect(300, 200, 20, 40));
    EXPECT_THROW(face_crop(img, {320.f, 0.f, 10.f, 10.f}, "t"), ned::InputError);  // outside
    EXPECT_THROW(face_crop(img, {0.f, 0.f, INFINITY, 10.f}, "t"), ned::InputError);
    EXPECT_THROW(face_crop(cv::Mat(), {0.f, 0.f, 10.f, 10.f}, "t"), ned::InputError);
    EXPECT_THROW(face_crop(cv::Mat(10, 10, CV_8UC1), {0.f, 0.f, 5.f, 5.f}, "t"), ned::InputError);
}

TEST(FacenetFaceInput, CentredInputPadsHalfBeforeAndTheRoundedHalfAfter) {
    // red = 10 * (column + 1) in one row of 3: padded to 3 x 3 with one black row above and one below
    cv::Mat img(1, 3, CV_8UC3);
    for (int x = 0; x < 3; ++x) img.at<cv::Vec3b>(0, x) = cv::Vec3b(0, 0, uchar(10 * (x + 1)));
    const torch::Tensor t = centered_face_input(img, cv::Rect(0, 0, 3, 1), 3);
    ASSERT_EQ(t.sizes(), (std::vector<int64_t>{1, 3, 3, 3}));
    for (int x = 0; x < 3; ++x) {
        EXPECT_EQ(t[0][0][0][x].item<float>(), 0.f);
        EXPECT_EQ(t[0][0][1][x].item<float>(), 10.f * (x + 1));
        EXPECT_EQ(t[0][0][2][x].item<float>(), 0.f);
    }
    // one column of 2: a difference of 1 is appended (round(0.5) = 1): the black column is on the right
    cv::Mat col(2, 1, CV_8UC3, cv::Scalar(0, 0, 50));
    const torch::Tensor c = centered_face_input(col, cv::Rect(0, 0, 1, 2), 2);
    EXPECT_EQ(c[0][0][0][0].item<float>(), 50.f);
    EXPECT_EQ(c[0][0][1][0].item<float>(), 50.f);
    EXPECT_EQ(c[0][0][0][1].item<float>(), 0.f);
}
