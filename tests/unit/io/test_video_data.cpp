// Every shared clip (../shared/data/video): probe, decode all frames, and a writer round trip
// (decode -> libx264 -> decode) that keeps frame count, timestamps and audio packets. Label: data.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>

#include "io_test_util.hpp"
#include "support/test_support.hpp"

using namespace ned::io;
using namespace ned::io::testutil;

namespace {

std::string clip_name(const ::testing::TestParamInfo<std::string>& info) {
    std::string n = std::filesystem::path(info.param).filename().string();
    for (char& c : n)
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
    return n;
}

// Output container for the round trip: keep Matroska sources in .mkv, everything else in .mp4.
std::string output_ext(const std::string& path) {
    const auto ext = std::filesystem::path(path).extension().string();
    return ext == ".mkv" || ext == ".webm" ? ".mkv" : ".mp4";
}

class SharedClip : public ::testing::TestWithParam<std::string> {};

}  // namespace

TEST(SharedClips, Present) {
    NED_REQUIRE_DATA();
    EXPECT_GE(ned::test::shared_videos().size(), 10u);
}

// probe + decode `in` (count and timestamps), encode to `out`, read `out` back and compare.
static void check_round_trip(const std::string& in, const std::string& out, const std::string& preset) {
    const auto t0 = std::chrono::steady_clock::now();

    const VideoInfo info = probe(in, true);
    EXPECT_GT(info.width, 0);
    EXPECT_GT(info.height, 0);
    EXPECT_GT(info.frame_rate.num, 0);
    EXPECT_GT(info.time_base.den, 0);
    EXPECT_TRUE(info.frame_count_exact);
    EXPECT_GT(info.duration_s, 0.0);

    // Decode everything and re-encode in one pass.
    std::vector<int64_t> in_pts;
    {
        VideoReader reader(in, 2);
        EXPECT_EQ(reader.info().display_width, info.display_width);
        VideoWriterOptions o;
        o.preset = preset;
        o.crf = 18;
        VideoWriter writer(out, reader.info(), o);
        Frame f;
        while (reader.read(f)) {
            ASSERT_EQ(f.bgr.cols, info.display_width);
            ASSERT_EQ(f.bgr.rows, info.display_height);
            if (!in_pts.empty()) {
                ASSERT_GT(f.pts, in_pts.back()) << "frame " << f.index;
            }
            in_pts.push_back(f.pts);
            writer.write(f);
        }
        writer.finish();
    }
    EXPECT_EQ(static_cast<int64_t>(in_pts.size()), info.frame_count) << "decoded frames vs probe's count";

    // Read the output back: same frames at the same times, no rotation, and the audio copied exactly.
    const VideoInfo oinfo = probe(out, true);
    EXPECT_EQ(oinfo.rotation, 0);
    EXPECT_EQ(oinfo.codec, "h264");
    EXPECT_EQ(oinfo.display_width, info.display_width + (info.display_width & 1));
    EXPECT_EQ(oinfo.frame_count, info.frame_count);
    const double tol = 0.5 * std::max(info.time_base.value(), oinfo.time_base.value()) + 1e-9;
    {
        VideoReader reader(out, 2);
        Frame f;
        size_t i = 0;
        while (reader.read(f)) {
            ASSERT_LT(i, in_pts.size());
            const double want = static_cast<double>(in_pts[i]) * info.time_base.value();
            ASSERT_NEAR(f.time_s, want, tol) << "frame " << i;
            ++i;
        }
        EXPECT_EQ(i, in_pts.size());
    }
    ASSERT_EQ(oinfo.audio.size(), info.audio.size());
    for (size_t a = 0; a < info.audio.size(); ++a) {
        EXPECT_EQ(oinfo.audio[a].codec, info.audio[a].codec);
        EXPECT_EQ(oinfo.audio[a].sample_rate, info.audio[a].sample_rate);
        EXPECT_EQ(oinfo.audio[a].channels, info.audio[a].channels);
        const StreamPackets src = read_stream_packets(in, info.audio[a].index);
        const StreamPackets dst = read_stream_packets(out, oinfo.audio[a].index);
        ASSERT_EQ(dst.data.size(), src.data.size()) << "audio stream " << a;
        ASSERT_GT(src.data.size(), 0u);
        const double atol = 0.5 * std::max(src.time_base.value(), dst.time_base.value()) + 1e-9;
        for (size_t k = 0; k < src.data.size(); ++k) {
            ASSERT_EQ(dst.data[k], src.data[k]) << "audio packet " << k;
            ASSERT_NEAR(dst.pts_s(k), src.pts_s(k), atol) << "audio packet " << k;
        }
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("[ info ] %s: %zu frames %dx%d, round trip to %s in %.1f s\n", in.c_str(), in_pts.size(),
                info.display_width, info.display_height, out.c_str(), secs);
}

TEST_P(SharedClip, ProbeDecodeAndRoundTrip) {
    NED_REQUIRE_DATA();
    ned::test::TempDir tmp;
    check_round_trip(GetParam(), tmp / ("out" + output_ext(GetParam())), "ultrafast");
}

// mp4 source (AAC with negative priming pts, video starting at pts 507) into Matroska, with B-frames.
TEST(SharedClips, Mp4ToMkvWithBFramesKeepsTimestamps) {
    NED_REQUIRE_DATA();
    ned::test::TempDir tmp;
    check_round_trip(ned::test::data_path("video/video-retalking__face_1.mp4"), tmp / "out.mkv", "veryfast");
}

// Opus (negative pre-skip pts) from webm into mp4.
TEST(SharedClips, WebmToMp4KeepsTimestamps) {
    NED_REQUIRE_DATA();
    ned::test::TempDir tmp;
    check_round_trip(ned::test::data_path("video/containers/video-retalking__face_1.webm"), tmp / "out.mp4",
                     "veryfast");
}

INSTANTIATE_TEST_SUITE_P(Data, SharedClip, ::testing::ValuesIn(ned::test::shared_videos()), clip_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(SharedClip);
