// `ned probe`: JSON on stdout for a shared clip; exit code 2 and one line for bad inputs.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>

#include "support/test_support.hpp"

using ned::test::count_lines;
using ned::test::run_ned;

TEST(CliProbe, PrintsJsonForASharedClip) {
    NED_REQUIRE_DATA();
    const std::string clip = ned::test::data_path("video/wav2lip-gfpgan__kim_7s_raw.mp4");
    const auto r = run_ned({"probe", clip});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["path"], clip);
    EXPECT_EQ(j["video"]["codec"], "h264");
    EXPECT_EQ(j["video"]["width"], 1920);
    EXPECT_EQ(j["video"]["height"], 1080);
    EXPECT_EQ(j["video"]["display_width"], 1920);
    EXPECT_EQ(j["video"]["rotation"], 0);
    EXPECT_EQ(j["video"]["frame_rate"]["num"].get<int>() * 1.0 / j["video"]["frame_rate"]["den"].get<int>(), 30.0);
    EXPECT_EQ(j["video"]["time_base"]["den"], 15360);
    EXPECT_EQ(j["video"]["frame_count"], 223);
    EXPECT_EQ(j["video"]["pix_fmt"], "yuv420p");
    EXPECT_NEAR(j["duration_s"].get<double>(), 7.45, 0.05);
    ASSERT_EQ(j["audio"].size(), 1u);
    EXPECT_EQ(j["audio"][0]["codec"], "aac");
    EXPECT_EQ(j["audio"][0]["sample_rate"], 44100);
    EXPECT_EQ(j["audio"][0]["channels"], 2);
}

TEST(CliProbe, PortraitHevcAndNoCount) {
    NED_REQUIRE_DATA();
    const auto r = run_ned({"probe", "--no-count", ned::test::data_path("video/latentsync__demo2_video.mp4")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["video"]["codec"], "hevc");
    EXPECT_EQ(j["video"]["display_width"], 1080);
    EXPECT_EQ(j["video"]["display_height"], 1920);
    EXPECT_EQ(j["video"]["frame_rate"]["num"], 25);
    EXPECT_EQ(j["video"]["frame_rate"]["den"], 1);
    EXPECT_EQ(j["video"]["frame_count_exact"], false);
}

TEST(CliProbe, BadInputsExitWithCode2AndOneLine) {
    ned::test::TempDir tmp;
    const std::string missing = tmp / "missing.mp4", text = tmp / "text.mp4", cut = tmp / "cut.mp4";
    std::ofstream(text) << "just some text\n";
    std::vector<std::string> bad = {missing, text};
    const std::string clip = ned::test::data_path("video/video-retalking__face_1.mp4");
    if (!clip.empty()) {  // a truncated copy (mp4 index at the end is lost) of a shared clip
        std::ifstream in(clip, std::ios::binary);
        std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        std::ofstream(cut, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 3));
        bad.push_back(cut);
    }
    for (const auto& path : bad) {
        const auto r = run_ned({"probe", path});
        EXPECT_EQ(r.exit_code, 2) << path << ": " << r.err;
        EXPECT_TRUE(r.out.empty()) << r.out;
        EXPECT_EQ(count_lines(r.err), 1) << r.err;
        EXPECT_NE(r.err.find(path), std::string::npos) << r.err;
    }
}

TEST(CliProbe, AudioOnlyFileExitsWithCode2) {
    if (std::system("ffmpeg -hide_banner -version > /dev/null 2>&1") != 0) GTEST_SKIP() << "no ffmpeg CLI";
    ned::test::TempDir tmp;
    const std::string path = tmp / "a.m4a";
    ASSERT_EQ(std::system(("ffmpeg -hide_banner -loglevel error -nostdin -y -f lavfi -i sine -t 1 " + path).c_str()),
              0);
    const auto r = run_ned({"probe", path});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
    EXPECT_NE(r.err.find("no video stream"), std::string::npos) << r.err;
}

// `ned --version`: LibTorch, CUDA/cuDNN/NCCL (or "not compiled in"), the GPUs, the CPU's extensions, ATen's kernel
// level and whether bf16 is native; the caps of scripts/test_capped.sh show up in it.
TEST(CliVersion, ReportsLibTorchCudaGpusAndCpuExtensions) {
    auto r = run_ned({"--version"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    for (const char* want :
         {"ned 0.", "LibTorch ", "CUDA: ", "GPU", "CPU: ", "extensions: ", "ATen kernels: ", "bf16: "})
        EXPECT_NE(r.out.find(want), std::string::npos) << want << " missing in:\n" << r.out;
    r = run_ned({"--version"}, {{"ATEN_CPU_CAPABILITY", "avx2"}, {"ONEDNN_MAX_CPU_ISA", "AVX2"}});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("ATen kernels: AVX2"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("oneDNN capped at AVX2"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("bf16: emulated"), std::string::npos) << r.out;
}
