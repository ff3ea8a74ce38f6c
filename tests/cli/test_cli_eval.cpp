// `ned eval` through the real binary (label cli + data: the shared clips).
//  - a clip against itself: every distance exactly 0, CSIM 1 (cosine of identical descriptors), FID 0 up to the
//    eigen-solver rounding, mouth-open Pearson 1, background identical (PSNR null = infinite);
//  - against a crop -> composite round trip (the crops put back, re-encoded): small values, bounds from the
//    measurement in docs/performance.md with margin;
//  - the JSON top-level keys of issue 13; exit 2 on different lengths, one line, no output written.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "support/test_support.hpp"

namespace fs = std::filesystem;
using ned::test::run_ned;

namespace {
const char* kClip = "video/no_audio_expression/liveportrait__d0.mp4";  // 512x512, 78 frames, neutral -> smile
constexpr const char* kFrames = "40";

nlohmann::json read_json(const std::string& path) {
    std::ifstream in(path);
    return nlohmann::json::parse(in);
}
}  // namespace

TEST(CliEval, AgainstItselfEverythingIsZeroAndCsimOne) {
    NED_REQUIRE_DATA();
    ned::test::TempDir tmp;
    const std::string clip = ned::test::data_path(kClip);
    const std::string json = tmp / "self.json", plot = tmp / "self.png";
    auto r = run_ned({"-q", "eval", clip, clip, "--target-emotion", "happy", "--json", json, "--plot", plot,
                      "--max-frames", kFrames});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("FAPD"), std::string::npos) << r.out;
    ASSERT_TRUE(fs::exists(plot));
    EXPECT_GT(fs::file_size(plot), 5000u);
    const auto j = read_json(json);
    for (const char* key : {"frames", "apd", "fapd", "mapd", "fid", "csim", "mouth_open_pearson",
                            "mouth_landmark_distance", "background_psnr", "landmark_jitter", "emotion"})
        EXPECT_TRUE(j.contains(key)) << key;
    for (const char* key : {"classifiers", "mean_probs_original", "mean_probs_edited", "target",
                            "target_share_original", "target_share_edited"})
        EXPECT_TRUE(j["emotion"].contains(key)) << key;
    EXPECT_EQ(j["emotion"]["mean_probs_edited"].size(), 7u);
    EXPECT_EQ(j["frames_total"].get<long>(), 40);
    EXPECT_GE(j["frames"].get<long>(), 35);
    EXPECT_EQ(j["apd"].get<double>(), 0.0);
    EXPECT_EQ(j["fapd"].get<double>(), 0.0);
    EXPECT_EQ(j["mapd"].get<double>(), 0.0);
    EXPECT_EQ(j["mouth_landmark_distance"].get<double>(), 0.0);
    EXPECT_TRUE(j["background_psnr"].is_null());  // identical: infinite PSNR
    EXPECT_EQ(j["background_mse"].get<double>(), 0.0);
    // cosine of a vector with itself in double from float inputs: 1 within a few ulps
    EXPECT_NEAR(j["csim"].get<double>(), 1.0, 1e-12);
    // Frechet distance of one Gaussian with itself: trace terms of size ~tr(C) cancel; eigen-solver rounding
    // ~1e-15 relative on a trace of ~0.1 (descriptor variance) -> far below 1e-8
    EXPECT_NEAR(j["fid"].get<double>(), 0.0, 1e-8);
    EXPECT_NEAR(j["mouth_open_pearson"].get<double>(), 1.0, 1e-12);
    EXPECT_EQ(j["landmark_jitter"]["original"].get<double>(), j["landmark_jitter"]["edited"].get<double>());
    EXPECT_EQ(j["emotion"]["target"].get<std::string>(), "happy");
    EXPECT_EQ(j["emotion"]["target_share_original"].get<double>(), j["emotion"]["target_share_edited"].get<double>());
    EXPECT_EQ(j["emotion"]["mean_probs_original"], j["emotion"]["mean_probs_edited"]);
    EXPECT_EQ(j["per_frame"]["fapd"].size(), 40u);

    // outputs are never overwritten without -y
    r = run_ned({"-q", "eval", clip, clip, "--json", json, "--max-frames", "3"});
    EXPECT_EQ(r.exit_code, 2) << r.err;
}

TEST(CliEval, CropCompositeRoundTripGivesSmallValues) {
    NED_REQUIRE_DATA();
    ned::test::TempDir tmp;
    const std::string clip = ned::test::data_path(kClip);
    const std::string work = tmp / "work", out = tmp / "round.mp4", json = tmp / "round.json";
    auto r = run_ned({"-q", "crop", clip, work, "--save-images", "--max-frames", kFrames});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = run_ned({"-q", "composite", clip, work, out, "--faces", work + "/crops", "--preset", "ultrafast", "--crf", "12"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = run_ned({"-q", "eval", clip, out, "--json", json, "--max-frames", kFrames, "--no-per-frame"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto j = read_json(json);
    EXPECT_FALSE(j.contains("per_frame"));
    std::cout << "round trip: " << j.dump() << "\n";
    EXPECT_GE(j["frames"].get<long>(), 35);
    // Measured on this clip (40 frames, crf 12 ultrafast re-encode of the whole frame): APD 4.64, FAPD 4.23,
    // MAPD 4.29, CSIM 0.9992, FID 0.0018, mouth-open Pearson 0.998, mouth landmarks 0.48 px, background PSNR
    // 39.4 dB (docs/performance.md). Bounds: about 2x the distances, the similarities well below 1.
    EXPECT_GT(j["fapd"].get<double>(), 0.0);
    EXPECT_LT(j["apd"].get<double>(), 9.0);
    EXPECT_LT(j["fapd"].get<double>(), 8.5);
    EXPECT_LT(j["mapd"].get<double>(), 9.0);
    EXPECT_GT(j["csim"].get<double>(), 0.995);
    EXPECT_LT(j["fid"].get<double>(), 0.01);
    EXPECT_LT(j["mouth_landmark_distance"].get<double>(), 1.2);
    EXPECT_GT(j["mouth_open_pearson"].get<double>(), 0.95);
    EXPECT_GT(j["background_psnr"].get<double>(), 35.0);
}

TEST(CliEval, DifferentLengthsExit2WithoutOutput) {
    NED_REQUIRE_DATA();
    ned::test::TempDir tmp;
    const std::string a = ned::test::data_path(kClip);
    const std::string b = ned::test::data_path("video/no_audio_expression/styletalk__sadfather_clip1.mp4");
    const std::string json = tmp / "r.json";
    auto r = run_ned({"eval", a, b, "--json", json});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("frames"), std::string::npos) << r.err;
    EXPECT_EQ(ned::test::count_lines(r.err), 1) << r.err;
    EXPECT_FALSE(fs::exists(json));
    r = run_ned({"eval", a, a, "--target-emotion", "joy"});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    r = run_ned({"eval", a, tmp / "missing.mp4"});
    EXPECT_EQ(r.exit_code, 2) << r.err;
}
