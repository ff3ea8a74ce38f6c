// The contact sheet picks valid and invalid frames and draws a timeline whose colours follow the status.
#include <gtest/gtest.h>

#include "ned/track/contact_sheet.hpp"

using namespace ned::face;
using namespace ned::track;

TEST(ContactSheet, ShowsInvalidRunsAndATimeline) {
    FaceTrack t;
    t.width = 320;
    t.height = 240;
    t.frames.resize(100);
    for (int i = 0; i < 100; ++i) {
        auto& f = t.frames[i];
        f.valid = i < 40 || i >= 70;
        f.detected = f.valid && i != 10;
        if (i >= 55 && i < 70) f.status = FrameStatus::OutsideFrame;
        f.shot_start = i == 0 || i == 70;
    }
    ContactSheet sheet(t, 8, 64);
    const auto& fr = sheet.frames();
    ASSERT_TRUE(std::is_sorted(fr.begin(), fr.end()));
    int invalid = 0;
    for (long i : fr) invalid += t.frames[i].valid ? 0 : 1;
    EXPECT_EQ(invalid, 1);  // one invalid run (40..69), shown once, mid-run
    EXPECT_GE(fr.size(), 9u);
    for (long i : fr) {
        cv::Mat frame(240, 320, CV_8UC3, cv::Scalar(200, 200, 200)), crop(256, 256, CV_8UC3, cv::Scalar(100, 100, 100));
        sheet.add(i, frame, t.frames[i].valid ? crop : cv::Mat());
    }
    const cv::Mat img = sheet.image();
    ASSERT_FALSE(img.empty());
    EXPECT_EQ(img.cols % 64, 0);
    // timeline: last row; frame 20 -> green (detected), frame 45 -> red (no face), frame 60 -> magenta
    const int W = img.cols;
    auto px = [&](long frame) { return img.at<cv::Vec3b>(img.rows - 1, static_cast<int>(frame * W / 100 + 1)); };
    EXPECT_GT(px(20)[1], 150);  // green
    EXPECT_LT(px(20)[2], 100);
    EXPECT_GT(px(45)[2], 150);  // red
    EXPECT_LT(px(45)[1], 100);
    EXPECT_GT(px(60)[0], 150);  // magenta: blue and red
    EXPECT_GT(px(60)[2], 150);
}

TEST(ContactSheet, MarksFramesFoundByAnotherDetectorThanHog) {
    // issue 22: a run of frames found by BlazeFace gets a tile of its own and a cyan model band on the timeline
    FaceTrack t;
    t.width = 320;
    t.height = 240;
    t.frames.resize(100);
    for (int i = 0; i < 100; ++i) {
        auto& f = t.frames[i];
        f.valid = f.detected = true;
        f.status = FrameStatus::Detected;
        f.detector = i >= 61 && i < 66 ? DetectionSource::BlazeFace : DetectionSource::Hog;
        f.shot_start = i == 0;
    }
    ContactSheet sheet(t, 8, 64);
    bool tile = false;
    for (long i : sheet.frames()) tile = tile || (i >= 61 && i < 66);
    EXPECT_TRUE(tile) << "no tile of the BlazeFace run";
    for (long i : sheet.frames()) sheet.add(i, cv::Mat(), cv::Mat(256, 256, CV_8UC3, cv::Scalar(100, 100, 100)));
    const cv::Mat img = sheet.image();
    // model band: the top rows of the 24 px timeline; cyan (blue + green, no red) at frame 63, nothing at frame 20
    const int y = img.rows - 24 + 2, W = img.cols;
    const cv::Vec3b at63 = img.at<cv::Vec3b>(y, static_cast<int>(63 * W / 100)),
                    at20 = img.at<cv::Vec3b>(y, 20 * W / 100);
    EXPECT_GT(at63[0], 150);
    EXPECT_GT(at63[1], 150);
    EXPECT_LT(at63[2], 100);
    EXPECT_LT(at20[0], 120);  // HOG frames: grey band
    EXPECT_LT(at20[1], 120);
}
