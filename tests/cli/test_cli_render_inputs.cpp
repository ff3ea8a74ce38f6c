// `ned render-inputs` on a tiny synthetic FLAME asset with a synthetic track and reconstruction.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include <filesystem>
#include <fstream>

#include "ned/core/fs_util.hpp"
#include "ned/core/safetensors.hpp"
#include "ned/face/crop.hpp"
#include "ned/face/face_track.hpp"
#include "ned/io/video.hpp"
#include "ned/recon/reconstruction.hpp"
#include "support/test_support.hpp"
#include "unit/conditioning/synthetic_flame.hpp"

namespace fs = std::filesystem;
using ned::test::run_ned;

namespace {

// 4 frames, frame 2 without a face; FAN-like eye landmarks, a rotation+scale alignment.
void write_inputs(const ned::test::TempDir& dir, bool edited_exp = false,
                  const std::string& rec_name = "reconstruction.safetensors") {
    ned::face::FaceTrack track;
    track.source = dir / "missing.mp4";
    track.width = 640;
    track.height = 480;
    track.fps_num = 25;
    track.crop_size = 256;
    track.has_analysis = true;
    track.frames.resize(4);
    for (int t = 0; t < 4; ++t) {
        auto& f = track.frames[t];
        f.valid = f.detected = t != 2;
        f.box = {200, 100, 400, 300};
        for (int k = 0; k < 68; ++k) f.landmarks[k] = {60.f + 2 * k, 90.f + (k % 7)};
        for (int k = 0; k < 6; ++k) {
            f.landmarks[36 + k] = {90.f + 8 * (k % 4), 110.f + (k < 3 ? -5.f : 5.f) * (k % 3 != 0)};
            f.landmarks[42 + k] = {150.f + 8 * (k % 4), 110.f + (k < 3 ? -5.f : 5.f) * (k % 3 != 0)};
        }
        f.pupils = {cv::Point2f(102, 110), cv::Point2f(162, 110)};
        f.aligned_landmarks = f.landmarks;
        f.align = cv::Matx23f(0.95f, -0.05f, 8, 0.05f, 0.95f, -4);
    }
    if (!fs::exists(dir / "track.safetensors")) ned::face::save_track(dir / "track.safetensors", track);
    ned::recon::Reconstruction rec;
    rec.source = track.source;
    rec.method = edited_exp ? "manipulated" : "fit";
    rec.valid = {1, 1, 0, 1};
    for (const char* n : {"shape", "exp", "pose", "cam", "tform"}) rec.ensure(n);
    for (int t = 0; t < 4; ++t) {
        rec.at("cam").row(t)[0] = 7.f;
        const float m[9] = {0.85f, 0, 2, 0, 0.85f, 1, 0, 0, 1};
        std::copy(m, m + 9, rec.at("tform").row(t));
        if (edited_exp) rec.at("exp").row(t)[0] = 1.f;
    }
    ned::recon::save_reconstruction(dir / rec_name, rec);
    if (!fs::exists(dir / "flame.safetensors"))
        ned::st::save(dir / "flame.safetensors", ned::test::synthetic_flame_file(16, true));
}

}  // namespace

TEST(CliRenderInputs, WritesAlignedImagesOfEveryValidFrame) {
    ned::test::TempDir dir;
    write_inputs(dir);
    const auto r = run_ned({"render-inputs", dir.path(), "--flame", dir / "flame.safetensors", "--save-images", "-q"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    for (const char* kind : {"nmfc", "shape", "eyes", "crop/nmfc", "crop/shape", "crop/eyes"}) {
        for (int t : {0, 1, 3}) {
            const cv::Mat img = cv::imread(
                dir / ("conditioning/" + std::string(kind) + "/" + ned::frame_name(t, ".png")), cv::IMREAD_UNCHANGED);
            ASSERT_FALSE(img.empty()) << kind << " " << t;
            EXPECT_EQ(img.size(), cv::Size(256, 256));
            EXPECT_EQ(img.type(), CV_8UC3);
            EXPECT_GT(cv::countNonZero(img.reshape(1)), 0) << kind << " " << t;
        }
        EXPECT_FALSE(fs::exists(dir / ("conditioning/" + std::string(kind) + "/" + ned::frame_name(2, ".png"))));
    }
    std::ifstream is(dir / "conditioning/conditioning.json");
    const auto j = nlohmann::json::parse(is);
    EXPECT_EQ(j["format"], "ned.conditioning");
    EXPECT_EQ(j["frames"], nlohmann::json({0, 1, 3}));
    EXPECT_EQ(j["shape"], "coarse");  // no --deca
    EXPECT_EQ(j["eyes"], "track");

    // Existing output without -y: exit code 2; with -y it is replaced.
    const auto again = run_ned({"render-inputs", dir.path(), "--flame", dir / "flame.safetensors", "-q"});
    EXPECT_EQ(again.exit_code, 2) << again.err;
    const auto forced = run_ned({"render-inputs", dir.path(), "--flame", dir / "flame.safetensors", "-q", "-y"});
    EXPECT_EQ(forced.exit_code, 0) << forced.err;
    EXPECT_FALSE(fs::exists(dir / "conditioning/crop/nmfc/000000.png"));  // stale crop images removed
}

TEST(CliRenderInputs, EditedReconstructionMovesTheEyes) {
    ned::test::TempDir dir;
    write_inputs(dir);
    write_inputs(dir, /*edited_exp=*/true, "edited.safetensors");
    auto r = run_ned({"render-inputs", dir.path(), "--flame", dir / "flame.safetensors", "--eyes", "mesh", "-q"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const cv::Mat src_eyes = cv::imread(dir / "conditioning/eyes/000000.png");
    const cv::Mat src_nmfc = cv::imread(dir / "conditioning/nmfc/000000.png");
    r = run_ned({"render-inputs", dir.path(), "--flame", dir / "flame.safetensors", "--reconstruction",
                 dir / "edited.safetensors", "-q", "-y"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const cv::Mat new_eyes = cv::imread(dir / "conditioning/eyes/000000.png");
    const cv::Mat new_nmfc = cv::imread(dir / "conditioning/nmfc/000000.png");
    ASSERT_FALSE(new_eyes.empty());
    EXPECT_GT(cv::norm(src_eyes, new_eyes, cv::NORM_L1), 0.0);
    EXPECT_GT(cv::norm(src_nmfc, new_nmfc, cv::NORM_L1), 0.0);
    std::ifstream is(dir / "conditioning/conditioning.json");
    EXPECT_EQ(nlohmann::json::parse(is)["eyes"], "mesh");
}

TEST(CliRenderInputs, MissingInputsAndAssetsGiveExitCodes) {
    ned::test::TempDir dir;
    // No track: bad input -> 2.
    auto r = run_ned({"render-inputs", dir.path(), "--flame", dir / "flame.safetensors", "-q"});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    write_inputs(dir);
    // Missing FLAME asset -> 3.
    r = run_ned({"render-inputs", dir.path(), "--flame", dir / "nope.safetensors", "-q"});
    EXPECT_EQ(r.exit_code, 3) << r.err;
    // Missing DECA weights -> 3.
    r = run_ned({"render-inputs", dir.path(), "--flame", dir / "flame.safetensors", "--deca", dir / "nope.st", "-q"});
    EXPECT_EQ(r.exit_code, 3) << r.err;
}

TEST(CliRenderInputs, PreviewVideoFromTheSourceClip) {
    NED_REQUIRE_DATA();
    const std::string video = ned::test::data_path("video/styletalk__andrew_clip_1+wav.mp4");
    ASSERT_TRUE(fs::exists(video));
    ned::test::TempDir dir;
    write_inputs(dir);
    auto track = ned::face::load_track(dir / "track.safetensors");
    track.source = video;
    for (auto& f : track.frames) f.crop_to_frame = ned::face::crop_transform(f.box, 256);
    ned::face::save_track(dir / "track.safetensors", track);
    const auto r = run_ned(
        {"render-inputs", dir.path(), "--flame", dir / "flame.safetensors", "--preview", dir / "preview.mp4", "-q"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto info = ned::io::probe(dir / "preview.mp4");
    EXPECT_EQ(info.display_width, 4 * 256);
    EXPECT_EQ(info.display_height, 256);
    EXPECT_EQ(info.frame_count, 4);  // the track's 4 frames, not the whole clip
}
