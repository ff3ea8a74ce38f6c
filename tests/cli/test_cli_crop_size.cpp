// Faces at 512x512 (issue 24): a synthetic 512 work folder goes through `ned render-inputs`, `ned render` and
// `ned train-renderer` (fine-tuned from a 256 renderer) and every face comes out 512x512; a 256 renderer on the
// 512 work folder is refused with one line (exit 3) unless --allow-crop-size-mismatch.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include <filesystem>
#include <fstream>

#include "ned/core/fs_util.hpp"
#include "ned/core/safetensors.hpp"
#include "ned/recon/reconstruction.hpp"
#include "support/test_support.hpp"
#include "unit/conditioning/synthetic_flame.hpp"
#include "unit/renderer/synthetic_workdir.hpp"

namespace fs = std::filesystem;
using ned::test::run_ned;

namespace {

constexpr int kS = 512, kFrames = 8;

/// The synthetic 512 work folder (video, analysed track, masks) with a reconstruction and a synthetic FLAME for
/// render-inputs; its random conditioning is removed (render-inputs makes it). Returns its 512 renderer.
std::string write_work(const std::string& work) {
    fs::create_directories(work);
    std::vector<int64_t> all;
    for (int t = 0; t < kFrames; ++t) all.push_back(t);
    const std::string ckpt = ned::test::write_synthetic_workdir(work, kFrames, all, false, {}, /*with_video=*/true, kS);
    fs::remove_all(work + "/conditioning");
    ned::recon::Reconstruction rec;
    rec.source = work + "/clip.mp4";
    rec.method = "fit";
    rec.valid.assign(kFrames, 1);
    for (const char* n : {"shape", "exp", "pose", "cam", "tform"}) rec.ensure(n);
    for (int t = 0; t < kFrames; ++t) {
        rec.at("cam").row(t)[0] = 7.f;
        const float m[9] = {0.85f * 256 / kS, 0, 2, 0, 0.85f * 256 / kS, 1, 0, 0, 1};
        std::copy(m, m + 9, rec.at("tform").row(t));
    }
    ned::recon::save_reconstruction(work + "/reconstruction.safetensors", rec);
    ned::st::save(work + "/flame.safetensors", ned::test::synthetic_flame_file(16, true));
    return ckpt;
}

void expect_size(const std::string& dir, int frames, int size) {
    for (int t = 0; t < frames; ++t) {
        const cv::Mat img = cv::imread(dir + "/" + ned::frame_name(t, ".png"), cv::IMREAD_UNCHANGED);
        ASSERT_FALSE(img.empty()) << dir << " " << t;
        EXPECT_EQ(img.size(), cv::Size(size, size)) << dir << " " << t;
    }
}

}  // namespace

TEST(CliCropSize, A512WorkFolderRendersAndTrainsAt512AndRefusesA256Renderer) {
    ned::test::TempDir dir;
    const std::string work = dir / "work";
    const std::string r512 = write_work(work);

    auto r = run_ned({"render-inputs", work, "--flame", work + "/flame.safetensors", "-q"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    for (const char* k : {"nmfc", "shape", "eyes"}) expect_size(work + "/conditioning/" + k, kFrames, kS);
    std::ifstream is(work + "/conditioning/conditioning.json");
    EXPECT_EQ(nlohmann::json::parse(is).at("crop_size").get<int>(), kS);

    r = run_ned({"render", work, "--renderer", r512, "-q"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    expect_size(work + "/faces", kFrames, kS);
    expect_size(work + "/faces_aligned", kFrames, kS);

    // a renderer trained at 256 (with its discriminators, to fine-tune from)
    const std::string r256 = ned::test::write_synthetic_renderer(dir / "r256.safetensors", true, 256);
    r = run_ned({"-y", "render", work, "--renderer", r256});
    EXPECT_EQ(r.exit_code, 3) << r.err;
    EXPECT_EQ(ned::test::count_lines(r.err), 1) << r.err;
    EXPECT_NE(r.err.find("r256.safetensors was trained at 256x256 faces; the track's crops are 512x512"),
              std::string::npos)
        << r.err;
    r = run_ned({"-y", "render", work, "--renderer", r256, "--allow-crop-size-mismatch", "-q"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    expect_size(work + "/faces", kFrames, kS);

    // --init-from the 256 renderer trains at 512, and the result is recorded as a 512 renderer that renders
    const std::string run = dir / "run";
    r = run_ned({"train-renderer",
                 work,
                 "--out",
                 run,
                 "--init-from",
                 r256,
                 "--no-vgg",
                 "--epochs",
                 "1",
                 "--clip-frames",
                 "3",
                 "--val-frames",
                 "3",
                 "--subsequence",
                 "4",
                 "--batch-size",
                 "1",
                 "--seed",
                 "5",
                 "--threads",
                 "2",
                 "-q"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const ned::st::File trained = ned::st::load(run + "/renderer.safetensors");
    EXPECT_EQ(trained.meta("crop_size"), "512");
    r = run_ned({"-y", "render", work, "--renderer", run + "/renderer.safetensors", "-q"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    expect_size(work + "/faces", kFrames, kS);
}
