// VideoWriter on synthetic frames: exact timestamps (odd time bases, variable frame rate, B-frames),
// containers, options, audio copy and its refusal for containers that cannot hold the codec.
#include <gtest/gtest.h>

#include "io_test_util.hpp"
#include "support/test_support.hpp"

using namespace ned::io;
using namespace ned::io::testutil;

namespace {

void expect_same_times(const std::vector<Frame>& frames, const std::vector<int64_t>& pts, Rational tb,
                       Rational out_tb) {
    ASSERT_EQ(frames.size(), pts.size());
    const double tol = 0.5 * std::max(tb.value(), out_tb.value()) + 1e-9;
    for (size_t i = 0; i < pts.size(); ++i)
        EXPECT_NEAR(frames[i].time_s, static_cast<double>(pts[i]) * tb.value(), tol) << "frame " << i;
}

std::vector<int64_t> vfr_pts() {  // irregular gaps in a 1/1000 time base, starting late
    return {120, 153, 187, 240, 241, 300, 333, 500, 533, 566, 600, 700, 701, 702, 800, 1000, 1033, 1067, 1100, 1500};
}

}  // namespace

TEST(VideoWriter, NtscTimeBaseRoundTripsExactly) {
    ned::test::TempDir tmp;
    std::vector<int64_t> pts;
    for (int i = 0; i < 20; ++i) pts.push_back(i);
    for (const char* ext : {".mp4", ".mkv", ".mov"}) {
        const std::string path = tmp / (std::string("ntsc") + ext);
        const auto written = write_synthetic(path, 64, 48, {1001, 30000}, {30000, 1001}, pts, "medium");
        const VideoInfo info = probe(path);
        EXPECT_EQ(info.frame_count, 20) << ext;
        EXPECT_EQ(info.rotation, 0);
        const auto frames = read_all(path);
        expect_same_times(frames, pts, {1001, 30000}, info.time_base);
        for (size_t i = 0; i < frames.size(); ++i) EXPECT_GT(psnr(frames[i].bgr, written[i]), 30.0) << ext << " " << i;
    }
}

TEST(VideoWriter, VariableFrameRateWithBFramesKeepsEveryTimestamp) {
    ned::test::TempDir tmp;
    const auto pts = vfr_pts();
    for (const char* preset : {"ultrafast", "medium"}) {  // medium uses B-frames (dts != pts)
        for (const char* ext : {".mp4", ".mkv"}) {
            const std::string path = tmp / (std::string("vfr_") + preset + ext);
            write_synthetic(path, 64, 48, {1, 1000}, {20, 1}, pts, preset);
            const VideoInfo info = probe(path);
            EXPECT_EQ(info.frame_count, static_cast<int64_t>(pts.size())) << path;
            const auto frames = read_all(path);
            expect_same_times(frames, pts, {1, 1000}, info.time_base);
            if (std::string(ext) == ".mp4") {  // mp4 keeps the time base itself: pts identical
                for (size_t i = 0; i < frames.size() && i < pts.size(); ++i) {
                    EXPECT_EQ(av_rescale_q(frames[i].pts, av::to_av(info.time_base), AVRational{1, 1000}), pts[i]);
                }
            }
        }
    }
}

TEST(VideoWriter, OddFrameSizeIsPaddedToEven) {
    ned::test::TempDir tmp;
    const std::string path = tmp / "odd.mp4";
    std::vector<int64_t> pts = {0, 1, 2, 3};
    const auto written = write_synthetic(path, 63, 47, {1, 25}, {25, 1}, pts);
    const auto frames = read_all(path);
    ASSERT_EQ(frames.size(), 4u);
    EXPECT_EQ(frames[0].bgr.cols, 64);
    EXPECT_EQ(frames[0].bgr.rows, 48);
    EXPECT_GT(psnr(frames[2].bgr(cv::Rect(0, 0, 63, 47)), written[2]), 30.0);
}

TEST(VideoWriter, CrfChangesQualityAndSize) {
    ned::test::TempDir tmp;
    std::vector<int64_t> pts;
    for (int i = 0; i < 10; ++i) pts.push_back(i);
    const auto w0 = write_synthetic(tmp / "q0.mp4", 64, 48, {1, 25}, {25, 1}, pts, "ultrafast", 0);
    write_synthetic(tmp / "q40.mp4", 64, 48, {1, 25}, {25, 1}, pts, "ultrafast", 40);
    const auto f0 = read_all(tmp / "q0.mp4"), f40 = read_all(tmp / "q40.mp4");
    ASSERT_EQ(f0.size(), 10u);
    ASSERT_EQ(f40.size(), 10u);
    EXPECT_GT(psnr(f0[5].bgr, w0[5]), psnr(f40[5].bgr, w0[5]));
    EXPECT_GT(std::filesystem::file_size(tmp / "q0.mp4"), std::filesystem::file_size(tmp / "q40.mp4"));
}

TEST(VideoWriter, RejectsBadOptionsAndFrames) {
    ned::test::TempDir tmp;
    const VideoInfo src = synthetic_info(64, 48, {1, 25}, {25, 1});
    VideoWriterOptions bad_crf;
    bad_crf.crf = 60;
    EXPECT_THROW(VideoWriter(tmp / "a.mp4", src, bad_crf), ned::InputError);
    VideoWriterOptions bad_preset;
    bad_preset.preset = "warp9";
    EXPECT_THROW(VideoWriter(tmp / "b.mp4", src, bad_preset), ned::InputError);
    EXPECT_THROW(VideoWriter(tmp / "c.unknownext", src), ned::InputError);

    VideoWriter w(tmp / "d.mp4", src);
    Frame f;
    f.bgr = pattern(64, 48, 0);
    f.pts = 5;
    w.write(f);
    f.pts = 5;  // not increasing
    EXPECT_THROW(w.write(f), ned::Error);
    f.pts = 6;
    f.bgr = pattern(32, 48, 0);  // wrong size
    EXPECT_THROW(w.write(f), ned::Error);
}

TEST(VideoWriter, EncoderThreadsDoNotChangeTimestamps) {
    ned::test::TempDir tmp;
    std::vector<int64_t> pts = vfr_pts();
    for (int threads : {1, 2}) {
        const std::string path = tmp / ("t" + std::to_string(threads) + ".mp4");
        VideoWriterOptions o;
        o.threads = threads;
        o.preset = "veryfast";
        VideoWriter w(path, synthetic_info(64, 48, {1, 1000}, {20, 1}), o);
        for (size_t i = 0; i < pts.size(); ++i) {
            Frame f;
            f.bgr = pattern(64, 48, static_cast<int>(i));
            f.pts = pts[i];
            w.write(f);
        }
        w.finish();
        const VideoInfo info = probe(path);
        expect_same_times(read_all(path), pts, {1, 1000}, info.time_base);
    }
}

// Audio is copied packet for packet from a source made with the ffmpeg CLI (AAC and MP3 in mp4, PCM in mkv).
TEST(VideoWriter, CopiesAudioPacketsExactly) {
    if (!have_ffmpeg()) GTEST_SKIP() << "ffmpeg CLI not available to make a source with audio";
    ned::test::TempDir tmp;
    const std::string src = tmp / "src.mkv";
    ASSERT_TRUE(
        ffmpeg("-f lavfi -i testsrc=size=64x48:rate=25 -f lavfi -i sine=frequency=300:sample_rate=44100 "
               "-f lavfi -i sine=frequency=500:sample_rate=22050 -t 2 -map 0:v -map 1:a -map 2:a "
               "-c:v libx264 -preset ultrafast -c:a:0 aac -c:a:1 libmp3lame " +
               src));
    const VideoInfo info = probe(src);
    ASSERT_EQ(info.audio.size(), 2u);
    for (const char* ext : {".mp4", ".mkv"}) {
        const std::string out = tmp / (std::string("out") + ext);
        {
            VideoReader reader(src);
            VideoWriterOptions o;
            o.preset = "ultrafast";
            VideoWriter writer(out, reader.info(), o);
            Frame f;
            while (reader.read(f)) writer.write(f);
            writer.finish();
        }
        const VideoInfo oinfo = probe(out);
        ASSERT_EQ(oinfo.audio.size(), 2u) << ext;
        for (size_t a = 0; a < 2; ++a) {
            EXPECT_EQ(oinfo.audio[a].codec, info.audio[a].codec);
            const auto in_p = read_stream_packets(src, info.audio[a].index);
            const auto out_p = read_stream_packets(out, oinfo.audio[a].index);
            ASSERT_EQ(out_p.data.size(), in_p.data.size()) << ext << " stream " << a;
            const double tol = 0.5 * std::max(in_p.time_base.value(), out_p.time_base.value()) + 1e-9;
            for (size_t k = 0; k < in_p.data.size(); ++k) {
                ASSERT_EQ(out_p.data[k], in_p.data[k]) << ext << " stream " << a << " packet " << k;
                ASSERT_NEAR(out_p.pts_s(k), in_p.pts_s(k), tol) << ext << " stream " << a << " packet " << k;
            }
        }
    }
    // copy_audio = false drops the audio.
    VideoWriterOptions no_audio;
    no_audio.copy_audio = false;
    no_audio.preset = "ultrafast";
    {
        VideoReader reader(src);
        VideoWriter writer(tmp / "mute.mp4", reader.info(), no_audio);
        Frame f;
        while (reader.read(f)) writer.write(f);
    }  // finish() from the destructor
    EXPECT_TRUE(probe(tmp / "mute.mp4").audio.empty());
}

TEST(VideoWriter, AudioCodecTheContainerCannotHoldSuggestsMkv) {
    if (!have_ffmpeg()) GTEST_SKIP() << "ffmpeg CLI not available to make a source with PCM audio";
    ned::test::TempDir tmp;
    const std::string src = tmp / "pcm.mkv";
    ASSERT_TRUE(
        ffmpeg("-f lavfi -i testsrc=size=64x48:rate=25 -f lavfi -i sine -t 1 -c:v libx264 -preset ultrafast "
               "-c:a pcm_s24le " +
               src));
    const VideoInfo info = probe(src);
    try {
        VideoWriter w(tmp / "out.mp4", info);
        FAIL() << "no exception";
    } catch (const ned::InputError& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find(".mkv"), std::string::npos) << msg;
        EXPECT_NE(msg.find("pcm_s24le"), std::string::npos) << msg;
    }
    EXPECT_NO_THROW(VideoWriter(tmp / "out.mkv", info));
}
