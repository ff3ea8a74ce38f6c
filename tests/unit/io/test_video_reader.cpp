// VideoReader and probe() on synthetic videos: timestamps, rotation, bad inputs.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>

#include "io_test_util.hpp"
#include "support/test_support.hpp"

using namespace ned::io;
using namespace ned::io::testutil;

namespace {
std::vector<int64_t> regular_pts(int n, int64_t start = 0, int64_t step = 1) {
    std::vector<int64_t> p;
    for (int i = 0; i < n; ++i) p.push_back(start + i * step);
    return p;
}
}  // namespace

TEST(VideoReader, ReadsBackFramesAndTimestamps) {
    ned::test::TempDir tmp;
    const std::string path = tmp / "a.mp4";
    const auto pts = regular_pts(20);
    const auto written = write_synthetic(path, 64, 48, {1001, 30000}, {30000, 1001}, pts);

    const VideoInfo info = probe(path);
    EXPECT_EQ(info.codec, "h264");
    EXPECT_EQ(info.width, 64);
    EXPECT_EQ(info.height, 48);
    EXPECT_EQ(info.display_width, 64);
    EXPECT_EQ(info.rotation, 0);
    EXPECT_EQ(info.frame_count, 20);
    EXPECT_TRUE(info.frame_count_exact);
    EXPECT_EQ(info.pix_fmt, "yuv420p");
    EXPECT_NEAR(info.frame_rate.value(), 30000.0 / 1001, 1e-3);
    EXPECT_TRUE(info.audio.empty());

    VideoReader reader(path);
    const double tol = 0.5 * reader.info().time_base.value() + 1e-9;
    ASSERT_GT(tol, 1e-9);
    Frame f;
    int n = 0;
    while (reader.read(f)) {
        ASSERT_LT(n, 20);
        EXPECT_EQ(f.index, n);
        EXPECT_EQ(f.bgr.cols, 64);
        EXPECT_EQ(f.bgr.rows, 48);
        EXPECT_EQ(f.bgr.type(), CV_8UC3);
        EXPECT_NEAR(f.time_s, n * 1001.0 / 30000.0, tol);
        EXPECT_GT(psnr(f.bgr, written[n]), 30.0) << "frame " << n;
        ++n;
    }
    EXPECT_EQ(n, 20);
}

TEST(VideoReader, FramesStayValidAfterLaterReads) {
    ned::test::TempDir tmp;
    const std::string path = tmp / "a.mkv";
    write_synthetic(path, 64, 48, {1, 25}, {25, 1}, regular_pts(6));
    VideoReader reader(path);
    Frame first, f;
    ASSERT_TRUE(reader.read(first));
    const cv::Mat keep = first.bgr;  // shallow copy, like a caller buffering frames
    const cv::Mat snapshot = keep.clone();
    while (reader.read(first)) {}
    EXPECT_EQ(cv::norm(keep, snapshot, cv::NORM_INF), 0.0);
}

// Rotation is applied as info.rotation says, for every quarter turn. (Which way the matrix written through
// the mp4 muxer turns is FFmpeg's business; RotationMatchesFfmpeg checks the direction against ffmpeg.)
TEST(VideoReader, AppliesRotationMetadata) {
    ned::test::TempDir tmp;
    const std::string plain = tmp / "plain.mp4";
    write_synthetic(plain, 64, 48, {1, 25}, {25, 1}, regular_pts(5));
    const auto ref = read_all(plain);
    ASSERT_EQ(ref.size(), 5u);
    std::set<int> seen;
    for (int ccw : {90, 180, -90}) {
        const std::string rotated = tmp / ("rot" + std::to_string(ccw) + ".mp4");
        remux_with_rotation(plain, rotated, ccw);
        const VideoInfo info = probe(rotated);
        const int deg = info.rotation;
        seen.insert(deg);
        EXPECT_EQ(deg == 90 || deg == 270, ccw != 180) << deg;
        EXPECT_EQ(info.width, 64);
        EXPECT_EQ(info.height, 48);
        EXPECT_EQ(info.display_width, deg == 180 ? 64 : 48);
        EXPECT_EQ(info.display_height, deg == 180 ? 48 : 64);
        const auto frames = read_all(rotated);
        ASSERT_EQ(frames.size(), ref.size());
        const int code = deg == 90    ? cv::ROTATE_90_CLOCKWISE
                         : deg == 180 ? cv::ROTATE_180
                                      : cv::ROTATE_90_COUNTERCLOCKWISE;
        for (size_t i = 0; i < frames.size(); ++i) {
            cv::Mat expect;
            cv::rotate(ref[i].bgr, expect, code);
            ASSERT_EQ(frames[i].bgr.size(), expect.size());
            EXPECT_EQ(cv::norm(frames[i].bgr, expect, cv::NORM_INF), 0.0) << deg << " deg, frame " << i;
            EXPECT_EQ(frames[i].pts, ref[i].pts);
        }
    }
    EXPECT_EQ(seen, (std::set<int>{90, 180, 270}));

    // Writing the display-oriented frames gives an upright file without rotation metadata.
    const std::string rotated = tmp / "rot90.mp4", upright = tmp / "upright.mp4";
    {
        VideoReader reader(rotated);
        VideoWriter writer(upright, reader.info());
        Frame f;
        while (reader.read(f)) writer.write(f);
    }
    const VideoInfo in_info = probe(rotated), out_info = probe(upright);
    EXPECT_EQ(out_info.rotation, 0);
    EXPECT_EQ(out_info.width, in_info.display_width);
    EXPECT_EQ(out_info.height, in_info.display_height);
    const auto a = read_all(rotated), b = read_all(upright);
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
        EXPECT_EQ(a[i].pts, b[i].pts);
        EXPECT_GT(psnr(a[i].bgr, b[i].bgr), 30.0);
    }
}

// The direction of rotation agrees with ffmpeg's own autorotation (on a file tagged like phone videos).
TEST(VideoReader, RotationMatchesFfmpeg) {
    if (!have_ffmpeg()) GTEST_SKIP() << "ffmpeg CLI not available";
    ned::test::TempDir tmp;
    const std::string plain = tmp / "plain.mp4", rotated = tmp / "rotated.mp4", raw = tmp / "frame.bgr";
    write_synthetic(plain, 64, 48, {1, 25}, {25, 1}, regular_pts(3));
    ASSERT_TRUE(ffmpeg("-i " + plain + " -c copy -metadata:s:v rotate=90 " + rotated));
    ASSERT_TRUE(ffmpeg("-i " + rotated + " -frames:v 1 -f rawvideo -pix_fmt bgr24 " + raw));
    std::ifstream f(raw, std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    const auto frames = read_all(rotated);
    ASSERT_FALSE(frames.empty());
    const cv::Mat& ours = frames[0].bgr;
    ASSERT_EQ(bytes.size(), ours.total() * 3)
        << "ffmpeg frame size differs from ours " << ours.cols << "x" << ours.rows;
    const cv::Mat theirs(ours.rows, ours.cols, CV_8UC3, bytes.data());
    // Both decoders see the same bitstream; only YUV->BGR rounding may differ.
    EXPECT_LT(cv::norm(ours, theirs, cv::NORM_L1) / ours.total() / 3, 3.0);
    cv::Mat wrong;
    cv::rotate(ours, wrong, cv::ROTATE_180);
    EXPECT_GT(cv::norm(wrong, theirs, cv::NORM_L1) / ours.total() / 3, 10.0);
}

TEST(VideoReader, MissingFileIsInputError) {
    ned::test::TempDir tmp;
    const std::string path = tmp / "nope.mp4";
    try {
        VideoReader r(path);
        FAIL() << "no exception";
    } catch (const ned::InputError& e) {
        EXPECT_NE(std::string(e.what()).find(path), std::string::npos);
        EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
    }
    EXPECT_THROW(probe(path), ned::InputError);
}

TEST(VideoReader, TextFileIsInputError) {
    ned::test::TempDir tmp;
    for (const char* name : {"notes.txt", "notes.mp4"}) {
        const std::string path = tmp / name;
        std::ofstream(path) << "this is not a video\nat all\n";
        try {
            VideoReader r(path);
            FAIL() << "no exception for " << name;
        } catch (const ned::InputError& e) {
            EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
        }
        EXPECT_THROW(probe(path), ned::InputError);
    }
}

TEST(VideoReader, TruncatedMp4IsInputError) {
    ned::test::TempDir tmp;
    const std::string full = tmp / "full.mp4", cut = tmp / "cut.mp4";
    write_synthetic(full, 64, 48, {1, 25}, {25, 1}, regular_pts(20));
    truncate_copy(full, cut, 0.5);  // mp4 index (moov) is at the end: gone
    try {
        VideoReader r(cut);
        FAIL() << "no exception";
    } catch (const ned::InputError& e) {
        EXPECT_NE(std::string(e.what()).find(cut), std::string::npos) << e.what();
    }
    EXPECT_THROW(probe(cut), ned::InputError);
}

TEST(VideoReader, TruncatedMkvEndsWithWarning) {
    ned::test::TempDir tmp;
    const std::string full = tmp / "full.mkv", cut = tmp / "cut.mkv";
    write_synthetic(full, 64, 48, {1, 25}, {25, 1}, regular_pts(40));
    truncate_copy(full, cut, 0.6);  // header at the start: readable up to the cut
    LogCapture log;
    std::vector<Frame> frames;
    ASSERT_NO_THROW(frames = read_all(cut));
    EXPECT_GT(frames.size(), 5u);
    EXPECT_LT(frames.size(), 40u);
    for (size_t i = 1; i < frames.size(); ++i) EXPECT_GT(frames[i].pts, frames[i - 1].pts);
    const std::string text = log.text();
    EXPECT_NE(text.find("cut.mkv"), std::string::npos) << text;
    EXPECT_NE(text.find("frame"), std::string::npos) << text;
}

namespace {
std::vector<Frame> read_with(const std::string& path, int threads, VideoInfo* info_after = nullptr) {
    VideoReader r(path, threads);
    std::vector<Frame> out;
    Frame f;
    while (r.read(f)) out.push_back(f);
    if (info_after) *info_after = r.info();
    return out;
}

std::string slurp_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}
}  // namespace

// An mp4 with its index (moov) at the front, as web video is ("faststart"), cut short: the index still lists
// every frame, the data of the last ones is gone. The frames whose packets lie wholly inside the kept bytes
// are exactly what FFmpeg decodes (H.264 makes no frame of the packet cut in two; checked against the ffmpeg
// CLI), so the reader returns those frames, bit-identical to the whole file's, with any number of decoder
// threads; probe() (counting or not) and info() after the last frame count the same. Regression: with frame
// threads the decoding error of the cut packet ended the video, losing the frames still queued in the decoder
// (1 frame where ffmpeg decodes 3, 7 where it decodes 9).
TEST(VideoReader, TruncatedFaststartMp4KeepsEveryWholeFrame) {
    ned::test::TempDir tmp;
    const std::string plain = tmp / "plain.mp4", full = tmp / "full.mp4";
    constexpr int n = 24;
    // "medium": B-frames, so decode order differs from display order and the decoder holds frames back
    write_synthetic(plain, 96, 64, {1, 25}, {25, 1}, regular_pts(n), "medium");
    remux_faststart(plain, full);
    const std::string bytes = slurp_file(full);
    ASSERT_LT(bytes.find("moov"), bytes.find("mdat")) << "the index is not at the front";
    const auto places = video_packet_places(full);
    ASSERT_EQ(places.size(), static_cast<size_t>(n));
    std::map<int64_t, cv::Mat> whole;  // pts -> the frame decoded from the whole file
    for (const Frame& f : read_with(full, 1)) whole[f.pts] = f.bgr;
    ASSERT_EQ(whole.size(), static_cast<size_t>(n));

    for (size_t k = 0; k < places.size(); ++k) {
        // cut in the middle of the k-th packet (file order = decode order): packets 0..k-1 are whole
        const int64_t cut = places[k].pos + places[k].size / 2;
        ASSERT_LT(cut, static_cast<int64_t>(bytes.size()));
        const std::string path = tmp / ("cut" + std::to_string(k) + ".mp4");
        truncate_copy_bytes(full, path, cut);
        std::set<int64_t> expected;
        for (const auto& p : places)
            if (p.pos + p.size <= cut) expected.insert(p.pts);
        ASSERT_EQ(expected.size(), k);
        if (k == 0) {  // not one whole frame: refused (exit 2), as docs/cli.md says
            EXPECT_THROW(VideoReader r(path), ned::InputError);
            EXPECT_THROW(probe(path), ned::InputError);
            continue;
        }
        for (int threads : {1, 2, 3, 4, 8, 0}) {
            VideoInfo after;
            const auto frames = read_with(path, threads, &after);
            std::set<int64_t> got;
            for (const Frame& f : frames) {
                got.insert(f.pts);
                ASSERT_TRUE(whole.count(f.pts)) << "cut " << k << ": unknown pts " << f.pts;
                EXPECT_EQ(cv::norm(f.bgr, whole[f.pts], cv::NORM_INF), 0.0) << "cut " << k << ", pts " << f.pts;
            }
            EXPECT_EQ(frames.size(), k) << "cut inside packet " << k << ", " << threads << " decoder threads";
            EXPECT_EQ(got, expected) << "cut inside packet " << k << ", " << threads << " decoder threads";
            EXPECT_EQ(after.frame_count, static_cast<int64_t>(k));
            EXPECT_TRUE(after.frame_count_exact);
        }
        EXPECT_EQ(probe(path).frame_count, static_cast<int64_t>(k)) << "cut " << k;
        EXPECT_EQ(probe(path, false).frame_count, static_cast<int64_t>(k)) << "cut " << k;
        EXPECT_EQ(VideoReader(path).info().frame_count, static_cast<int64_t>(k)) << "cut " << k;
    }
}

// A packet in the middle whose data is garbage (its NAL length field destroyed: H.264 makes no frame of it):
// every other frame is still returned, with any number of decoder threads, as the ffmpeg CLI does (29 of 30
// on such a file); before, with frame threads, the error ended the video there.
TEST(VideoReader, DamagedPacketInTheMiddleLosesOnlyItsFrame) {
    ned::test::TempDir tmp;
    const std::string full = tmp / "full.mp4", bad = tmp / "bad.mp4";
    constexpr int n = 24;
    write_synthetic(full, 96, 64, {1, 25}, {25, 1}, regular_pts(n), "medium");
    const auto places = video_packet_places(full);
    ASSERT_EQ(places.size(), static_cast<size_t>(n));
    // the first non-key packet after the middle of the file
    size_t k = n / 2;
    while (k < places.size() && places[k].key) ++k;
    ASSERT_LT(k, places.size());
    std::string bytes = slurp_file(full);
    for (int i = 0; i < 4; ++i) bytes[places[k].pos + i] = '\xff';
    {
        std::ofstream o(bad, std::ios::binary);
        o.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    }
    std::set<int64_t> expected;
    for (const auto& p : places)
        if (p.pts != places[k].pts) expected.insert(p.pts);
    for (int threads : {1, 2, 3, 8, 0}) {
        LogCapture log;
        VideoInfo after;
        const auto frames = read_with(bad, threads, &after);
        std::set<int64_t> got;
        for (const Frame& f : frames) got.insert(f.pts);
        EXPECT_EQ(got, expected) << threads << " decoder threads";
        EXPECT_EQ(after.frame_count, n - 1);
        EXPECT_NE(log.text().find("bad.mp4"), std::string::npos) << log.text();
    }
}

TEST(VideoReader, VideoWithoutFramesIsInputError) {
    ned::test::TempDir tmp;
    const std::string path = tmp / "empty.mp4";
    {
        VideoWriter w(path, synthetic_info(64, 48, {1, 25}, {25, 1}));
        w.finish();
    }
    try {
        VideoReader r(path);
        FAIL() << "no exception";
    } catch (const ned::InputError& e) {
        EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
    EXPECT_THROW(probe(path, true), ned::InputError);
}

TEST(VideoReader, AudioOnlyFileIsInputError) {
    if (!have_ffmpeg()) GTEST_SKIP() << "ffmpeg CLI not available to make an audio-only file";
    ned::test::TempDir tmp;
    const std::string path = tmp / "sound.m4a";
    ASSERT_TRUE(ffmpeg("-f lavfi -i sine=frequency=440:duration=1 -c:a aac " + path));
    try {
        VideoReader r(path);
        FAIL() << "no exception";
    } catch (const ned::InputError& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find(path), std::string::npos) << msg;
        EXPECT_NE(msg.find("no video stream"), std::string::npos) << msg;
    }
    EXPECT_THROW(probe(path), ned::InputError);
}

TEST(VideoReader, ProbeWithoutCountingEstimates) {
    ned::test::TempDir tmp;
    const std::string path = tmp / "a.mkv";
    write_synthetic(path, 64, 48, {1, 25}, {25, 1}, regular_pts(25));
    const VideoInfo info = probe(path, false);
    EXPECT_FALSE(info.frame_count_exact);
    EXPECT_NEAR(static_cast<double>(info.frame_count), 25.0, 2.0);
    EXPECT_EQ(info.container, "matroska,webm");
}

TEST(VideoReader, DecoderThreadCountsGiveTheSameFrames) {
    ned::test::TempDir tmp;
    const std::string path = tmp / "a.mp4";
    write_synthetic(path, 64, 48, {1, 30}, {30, 1}, regular_pts(12), "medium");
    std::vector<std::vector<Frame>> runs;
    for (int threads : {1, 2, 0}) {
        VideoReader r(path, threads);
        std::vector<Frame> frames;
        Frame f;
        while (r.read(f)) frames.push_back(f);
        runs.push_back(frames);
    }
    for (size_t k = 1; k < runs.size(); ++k) {
        ASSERT_EQ(runs[k].size(), runs[0].size());
        for (size_t i = 0; i < runs[0].size(); ++i) {
            EXPECT_EQ(runs[k][i].pts, runs[0][i].pts);
            EXPECT_EQ(cv::norm(runs[k][i].bgr, runs[0][i].bgr, cv::NORM_INF), 0.0);
        }
    }
}

// A raw H.264 elementary stream carries no timestamps: the reader still returns every frame with strictly
// increasing pts, evenly spaced at the stream's frame rate.
TEST(VideoReader, RawStreamWithoutTimestampsGetsIncreasingPts) {
    if (!have_ffmpeg()) GTEST_SKIP() << "ffmpeg CLI not available to extract a raw stream";
    ned::test::TempDir tmp;
    const std::string mp4 = tmp / "a.mp4", raw = tmp / "a.h264";
    write_synthetic(mp4, 64, 48, {1, 25}, {25, 1}, regular_pts(12), "medium");
    ASSERT_TRUE(ffmpeg("-i " + mp4 + " -c copy -f h264 " + raw));
    const auto frames = read_all(raw);
    ASSERT_EQ(frames.size(), 12u);
    for (size_t i = 1; i < frames.size(); ++i) {
        EXPECT_GT(frames[i].pts, frames[i - 1].pts);
        EXPECT_NEAR(frames[i].time_s - frames[i - 1].time_s, 1.0 / 25, 1e-3) << "frame " << i;
    }
}
