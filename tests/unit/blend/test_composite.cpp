#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "ned/blend/composite.hpp"
#include "ned/face/crop.hpp"

using namespace ned::blend;

TEST(Composite, DefaultMaskIsTheInscribedEllipse) {
    const cv::Mat m = default_face_mask(256, 70.f);
    ASSERT_EQ(m.type(), CV_8UC1);
    EXPECT_EQ(m.at<uint8_t>(128, 128), 255);
    EXPECT_EQ(m.at<uint8_t>(128, 128 + 90), 255);  // radius 93
    EXPECT_EQ(m.at<uint8_t>(128, 128 + 96), 0);
    EXPECT_EQ(m.at<uint8_t>(0, 0), 0);
    EXPECT_EQ(m.at<uint8_t>(128 - 90, 128), 255);
}

TEST(Composite, BlendFaceMaskZeroAndOne) {
    cv::Mat crop(256, 256, CV_8UC3), face(256, 256, CV_8UC3);
    cv::randu(crop, 0, 256);
    cv::randu(face, 0, 256);
    const cv::Mat r0 = blend_face(crop, face, cv::Mat::zeros(256, 256, CV_8U), 4);
    EXPECT_EQ(cv::norm(r0, crop, cv::NORM_INF), 0.0);
    const cv::Mat r1 = blend_face(crop, face, cv::Mat(256, 256, CV_8U, cv::Scalar(255)), 4);
    // SoftErosion with zero padding leaves a soft border; the interior is the face exactly.
    EXPECT_LE(cv::norm(r1(cv::Rect(64, 64, 128, 128)), face(cv::Rect(64, 64, 128, 128)), cv::NORM_INF), 1.0);
}

TEST(Composite, BlendMaskFollowsNedRule) {
    const cv::Mat m = default_face_mask(256);
    const cv::Mat s = blend_mask(m);  // k = 33, thr 0.8
    ASSERT_EQ(s.type(), CV_32FC1);
    EXPECT_EQ(s.at<float>(128, 128), 1.f);
    // support = the ellipse dilated by 16 px, nothing beyond
    EXPECT_GT(s.at<float>(128, 128 + 93 + 10), 0.f);
    EXPECT_EQ(s.at<float>(128, 128 + 93 + 18), 0.f);
}

TEST(Composite, PasteKeepsPixelsOutsideTheMaskIdentical) {
    cv::Mat frame(360, 480, CV_8UC3);
    cv::randu(frame, 0, 256);
    const cv::Mat orig = frame.clone();
    const cv::Matx23f m = ned::face::crop_transform({200, 100, 300, 200}, 256, 70.f);
    cv::Mat crop(256, 256, CV_8UC3, cv::Scalar(10, 200, 30));
    const cv::Mat alpha = blend_mask(default_face_mask(256));
    paste_crop(frame, crop, alpha, m);
    // Expected support: alpha > 0 warped into the frame
    cv::Mat walpha;
    cv::warpAffine(alpha, walpha, m, frame.size(), cv::INTER_LINEAR, cv::BORDER_CONSTANT, 0);
    long changed_outside = 0, inside = 0, near_crop_colour = 0;
    for (int y = 0; y < frame.rows; ++y)
        for (int x = 0; x < frame.cols; ++x) {
            const float a = walpha.at<float>(y, x);
            if (a == 0.f) {
                changed_outside += frame.at<cv::Vec3b>(y, x) != orig.at<cv::Vec3b>(y, x);
            } else if (a >= 1.f) {
                ++inside;
                near_crop_colour += cv::norm(cv::Vec3d(frame.at<cv::Vec3b>(y, x)) - cv::Vec3d(10, 200, 30)) < 3;
            }
        }
    EXPECT_EQ(changed_outside, 0);
    EXPECT_GT(inside, 1000);
    EXPECT_EQ(near_crop_colour, inside);
    // the box centre got the new colour, the corners are untouched
    EXPECT_EQ(frame.at<cv::Vec3b>(150, 250), cv::Vec3b(10, 200, 30));
    EXPECT_EQ(frame.at<cv::Vec3b>(0, 0), orig.at<cv::Vec3b>(0, 0));
}

TEST(Composite, PasteAtTheFrameBorderIsClipped) {
    cv::Mat frame(100, 100, CV_8UC3, cv::Scalar(0, 0, 0));
    const cv::Matx23f m = ned::face::crop_transform({-50, -50, 50, 50}, 256, 70.f);
    cv::Mat crop(256, 256, CV_8UC3, cv::Scalar(255, 255, 255));
    const cv::Mat alpha = blend_mask(default_face_mask(256));
    paste_crop(frame, crop, alpha, m);
    EXPECT_EQ(frame.at<cv::Vec3b>(0, 0), cv::Vec3b(255, 255, 255));
    EXPECT_EQ(frame.at<cv::Vec3b>(99, 99), cv::Vec3b(0, 0, 0));
}

TEST(Composite, DefaultMaskUsesLandmarksWhenTheTrackHasAnalysis) {
    ned::face::FaceTrack track;
    track.crop_size = 256;
    track.frames.resize(1);
    track.frames[0].valid = true;
    const cv::Mat ellipse = default_mask_for(track, 0);
    EXPECT_EQ(cv::norm(ellipse, default_face_mask(256), cv::NORM_INF), 0.0);
    // A small synthetic face in the upper-left quarter: jaw on a half circle, eyebrows above.
    auto& lm = track.frames[0].landmarks;
    for (auto& p : lm) p = {60.f, 60.f};
    for (int i = 0; i <= 16; ++i) {
        const float a = static_cast<float>(CV_PI) * i / 16.f;
        lm[i] = {60.f - 30.f * std::cos(a), 50.f + 30.f * std::sin(a)};
    }
    for (int i = 17; i <= 26; ++i) lm[i] = {35.f + 50.f * (i - 17) / 9.f, 40.f};
    track.has_analysis = true;
    const cv::Mat m = default_mask_for(track, 0);
    ASSERT_EQ(m.type(), CV_8UC1);
    EXPECT_EQ(m.at<uint8_t>(60, 60), 255);  // inside the landmark face
    EXPECT_EQ(m.at<uint8_t>(128, 128), 0);  // the crop centre is not part of this small face
    EXPECT_GT(cv::norm(m, ellipse, cv::NORM_L1), 0.0);
}
