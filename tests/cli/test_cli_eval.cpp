// `ned eval` through the real binary (label cli + data: the shared clips).
//  - a clip against itself: every distance exactly 0, CSIM 1 (cosine of identical descriptors), FID 0 up to the
//    eigen-solver rounding, mouth-open Pearson 1, background identical (PSNR null = infinite);
//  - against a crop -> composite round trip (the crops put back, re-encoded): small values, bounds from the
//    measurement in docs/performance.md with margin;
//  - the JSON top-level keys of issue 13; exit 2 on different lengths, one line, no output written;
//  - a huge --threads is clamped and the process then stays within the clamp (its peak thread count).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

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
    r = run_ned(
        {"-q", "composite", clip, work, out, "--faces", work + "/crops", "--preset", "ultrafast", "--crf", "12"});
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

// `--threads 100000` is clamped (a warning names the clamp) and the process then runs no more threads than that:
// the clamp's workers (the calling thread included; their networks single-threaded), LibTorch's pool (made by
// the CLI at start-up with at most cores - 1 threads: it is never larger than the cores, since it never
// shrinks), and a fixed allowance for the
// decoders (the trackers' own auto-threaded one, eval's two with 2 threads each) and OpenCV's pool (one per
// core). Regression: each worker's LibTorch calls started an OpenMP team of the clamp's size (214 threads for
// a clamp of 16). eval logs the peak at debug level (here into --log-file), sampled inside the process while
// every worker is alive, so the check does not depend on timing. The clamp changes the speed, not the numbers.
TEST(CliEval, HugeThreadCountStaysWithinTheClamp) {
    NED_REQUIRE_DATA();
    ned::test::TempDir tmp;
    const std::string clip = ned::test::data_path(kClip);
    const std::string log = tmp / "eval.log", json = tmp / "many.json", json1 = tmp / "one.json";
    // 16 frames: one batch gives every one of (at least) 16 workers a frame
    auto r = run_ned({"-q", "--log-file", log, "--threads", "100000", "eval", clip, clip, "--json", json,
                      "--no-per-frame", "--max-frames", "16"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(r.err, m, std::regex("--threads 100000 is more than .*; using ([0-9]+)"))) << r.err;
    const int clamp = std::stoi(m[1]);
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    EXPECT_EQ(clamp, std::max(16, 4 * cores));
    std::ifstream in(log);
    std::stringstream text;
    text << in.rdbuf();
    const std::string all = text.str();
    ASSERT_TRUE(std::regex_search(all, m,
                                  std::regex("\\[eval\\] threads: ([0-9]+) workers; ([0-9]+) threads in the process at "
                                             "the start, peak ([0-9]+)")))
        << all;
    const int workers = std::stoi(m[1]), at_start = std::stoi(m[2]), peak = std::stoi(m[3]);
    std::cout << "clamp " << clamp << ", cores " << cores << ": " << at_start << " threads at the start, peak " << peak
              << "\n";
    EXPECT_EQ(workers, clamp);
    ASSERT_GT(at_start, 0) << "no /proc/self/status?";
    // at the start: the calling thread and LibTorch's pool (cores - 1), a few spare
    EXPECT_LE(at_start, cores + 4);
    const int decoders = 4 + std::min(cores + 1, 16);  // eval's two decoders, the tracker's one (FFmpeg auto)
    const int opencv = cores;
    const int spare = 4;
    EXPECT_LE(peak, clamp + (cores - 1) + decoders + opencv + spare)
        << "the process ran more threads than the " << clamp << " workers, LibTorch's pool, the decoders and "
        << "OpenCV's pool";

    r = run_ned({"-q", "--threads", "1", "eval", clip, clip, "--json", json1, "--no-per-frame", "--max-frames", "16"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto a = read_json(json), b = read_json(json1);
    for (const char* key : {"frames", "frames_total", "csim", "fid", "mouth_open_pearson"})
        EXPECT_EQ(a[key], b[key]) << key;
}
