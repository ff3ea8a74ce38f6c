// `ned analyze` end to end: the real binary on a short shared clip, a missing landmark model, a video
// without faces, refusing to overwrite.
#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>

#include <filesystem>

#include "ned/face/face_track.hpp"
#include "ned/io/video.hpp"
#include "support/test_support.hpp"

namespace fs = std::filesystem;
using ned::test::run_ned;

namespace {
bool have_model() { return fs::exists("/usr/share/dlib/shape_predictor_68_face_landmarks.dat"); }
size_t count_png(const std::string& dir) {
    size_t n = 0;
    if (!fs::exists(dir)) return 0;
    for (const auto& e : fs::directory_iterator(dir)) n += e.path().extension() == ".png";
    return n;
}
}  // namespace

TEST(CliAnalyze, ShortClipWritesAnAnalysedTrack) {
    NED_REQUIRE_DATA();
    if (!have_model()) GTEST_SKIP() << "dlib landmark model not installed";
    ned::test::TempDir tmp;
    const std::string clip = ned::test::data_path("video/sadtalker__WDA_KatieHill_000.mp4");
    const std::string work = tmp / "work";
    const auto r =
        run_ned({"analyze", clip, work, "--max-frames", "12", "--save-images", "--preview", tmp / "preview.mp4", "-q"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const ned::face::FaceTrack t = ned::face::load_track(work + "/track.safetensors");
    EXPECT_TRUE(t.has_analysis);
    ASSERT_EQ(t.frames.size(), 12u);
    EXPECT_EQ(t.num_valid(), 12u);
    for (const auto& f : t.frames) {
        // Landmarks inside the crop, face in the middle part of it.
        for (const auto& p : f.landmarks) {
            EXPECT_GT(p.x, 0);
            EXPECT_LT(p.x, t.crop_size);
            EXPECT_GT(p.y, 0);
            EXPECT_LT(p.y, t.crop_size);
        }
        EXPECT_LT(f.landmarks[36].x, f.landmarks[45].x);  // image-left eye on the left
        EXPECT_LT(f.landmarks[27].y, f.landmarks[8].y);   // nose bridge above chin
        // align is a similarity with a sensible scale.
        const float a = f.align(0, 0), b = f.align(0, 1), c = f.align(1, 0), d = f.align(1, 1);
        EXPECT_NEAR(a, d, 1e-4);
        EXPECT_NEAR(b, -c, 1e-4);
        const float s = std::sqrt(a * d - b * c);
        EXPECT_GT(s, 0.6f);
        EXPECT_LT(s, 1.6f);
        // Aligned landmarks near NED's template: outer eye corners (83,111) and (166,108).
        EXPECT_NEAR(f.aligned_landmarks[36].x, 83, 12);
        EXPECT_NEAR(f.aligned_landmarks[45].x, 166, 12);
        EXPECT_NEAR(f.aligned_landmarks[36].y, 111, 12);
        // Pupils between the eye corners.
        EXPECT_GT(f.pupils[0].x, f.landmarks[36].x);
        EXPECT_LT(f.pupils[0].x, f.landmarks[39].x);
        EXPECT_GT(f.pupils[1].x, f.landmarks[42].x);
        EXPECT_LT(f.pupils[1].x, f.landmarks[45].x);
    }
    for (const char* d : {"crops", "aligned", "eyes", "masks"}) EXPECT_EQ(count_png(work + "/" + d), 12u) << d;
    const auto info = ned::io::probe(tmp / "preview.mp4");
    EXPECT_EQ(info.frame_count, 12);
    EXPECT_EQ(info.display_width, 512);
    EXPECT_FALSE(info.audio.empty());  // audio copied

    // Second run without -y refuses to overwrite (exit 2); with -y it succeeds.
    const auto again = run_ned({"analyze", clip, work, "--max-frames", "12", "-q"});
    EXPECT_EQ(again.exit_code, 2) << again.err;
    EXPECT_NE(again.err.find("track.safetensors"), std::string::npos) << again.err;
    const auto forced = run_ned({"analyze", clip, work, "--max-frames", "6", "--no-multisample", "-q", "-y"});
    EXPECT_EQ(forced.exit_code, 0) << forced.err;
    EXPECT_EQ(ned::face::load_track(work + "/track.safetensors").frames.size(), 6u);
}

TEST(CliAnalyze, MissingLandmarkModelIsExit3) {
    NED_REQUIRE_DATA();
    ned::test::TempDir tmp;
    const auto r = run_ned({"analyze", ned::test::data_path("video/sadtalker__WDA_KatieHill_000.mp4"), tmp / "w",
                            "--landmark-model", tmp / "nope.dat", "--max-frames", "3"});
    EXPECT_EQ(r.exit_code, 3) << r.err;
    EXPECT_NE(r.err.find("apt-get install libdlib-data"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("--landmark-model"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(tmp / "w/track.safetensors"));
}

TEST(CliAnalyze, VideoWithoutFacesIsExit2) {
    if (!have_model()) GTEST_SKIP() << "dlib landmark model not installed";
    ned::test::TempDir tmp;
    const std::string video = tmp / "noface.mp4";
    {
        ned::io::VideoInfo src;
        src.path = "";
        src.width = src.display_width = 160;
        src.height = src.display_height = 120;
        src.frame_rate = {25, 1};
        src.time_base = {1, 25};
        ned::io::VideoWriterOptions wo;
        wo.copy_audio = false;
        ned::io::VideoWriter w(video, src, wo);
        for (int i = 0; i < 10; ++i) {
            ned::io::Frame f;
            f.bgr = cv::Mat(120, 160, CV_8UC3, cv::Scalar(40, 90, 160));
            cv::rectangle(f.bgr, cv::Rect(10 + 5 * i, 30, 40, 40), cv::Scalar(220, 220, 220), -1);
            f.index = f.pts = i;
            w.write(f);
        }
        w.finish();
    }
    const auto r = run_ned({"analyze", video, tmp / "w"});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("no face found"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(tmp / "w/track.safetensors"));
}

#include "ned/core/safetensors.hpp"
#include "ned/core/torch_util.hpp"
#include "ned/analysis/segmentation.hpp"

TEST(CliAnalyze, SegmentationModelWritesMasks) {
    NED_REQUIRE_DATA();
    if (!have_model()) GTEST_SKIP() << "dlib landmark model not installed";
    ned::test::TempDir tmp;
    torch::manual_seed(3);
    ned::analysis::UNet net(3);
    ned::st::File f;
    f.metadata = {{"format", "ned.fsgan_unet"}, {"version", "1"}};
    ned::save_module(*net, f);
    ned::st::save(tmp / "unet.safetensors", f);
    const std::string work = tmp / "w";
    const auto r = run_ned({"analyze", ned::test::data_path("video/sadtalker__WDA_KatieHill_000.mp4"), work,
                            "--max-frames", "3", "--segmentation-model", tmp / "unet.safetensors", "-q"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(count_png(work + "/masks"), 3u);  // random weights: content arbitrary, one PNG per frame
    EXPECT_EQ(count_png(work + "/crops"), 0u);  // images only with --save-images
    // A file that is not a converted U-Net is exit 3.
    const auto bad = run_ned({"analyze", ned::test::data_path("video/sadtalker__WDA_KatieHill_000.mp4"), tmp / "w2",
                              "--max-frames", "3", "--segmentation-model", work + "/track.safetensors", "-q"});
    EXPECT_EQ(bad.exit_code, 3) << bad.err;
}
