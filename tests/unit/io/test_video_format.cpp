// The output format of VideoWriter (issue 24): by default the source's pixel format (bit depth, chroma layout)
// and colour tags are kept, checked with ffprobe on inputs made by the ffmpeg CLI (10-bit BT.709 4:2:0, full-range
// 4:4:4); ProRes 422 HQ / 4444 and FFV1 round trips; a 10-bit FFV1 pass-through keeps every sample within 2 codes;
// refused combinations are one-line InputErrors. Skips when the ffmpeg CLI is missing.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "io_test_util.hpp"
#include "support/test_support.hpp"

using namespace ned::io;
using namespace ned::io::testutil;

namespace {

/// stdout of a shell command ("" when it fails).
std::string command_output(const std::string& cmd) {
    std::string out;
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return out;
    char buf[4096];
    size_t n = 0;
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
    return pclose(p) == 0 ? out : std::string();
}

/// The first video stream's key=value entries (pix_fmt, color_*, profile) as ffprobe reports them.
std::map<std::string, std::string> stream_entries(const std::string& path) {
    std::istringstream in(command_output(
        "ffprobe -v error -select_streams v:0 -show_entries "
        "stream=pix_fmt,color_range,color_space,color_transfer,color_primaries,profile,codec_name -of default=nw=1 '" +
        path + "'"));
    std::map<std::string, std::string> m;
    for (std::string line; std::getline(in, line);) {
        const auto eq = line.find('=');
        if (eq != std::string::npos) m[line.substr(0, eq)] = line.substr(eq + 1);
    }
    return m;
}

/// Every video frame's pts (ffprobe -show_frames), in seconds as ffprobe prints them.
std::vector<std::string> frame_times(const std::string& path) {
    std::istringstream in(
        command_output("ffprobe -v error -select_streams v:0 -show_entries frame=pts_time -of csv=p=0 '" + path + "'"));
    std::vector<std::string> t;
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) t.push_back(line.substr(0, line.find(',')));  // (csv may end a line with a comma)
    return t;
}

/// Read `in` at the source's depth and write every frame to `out` with `options` (copy_audio off).
void pass_through(const std::string& in, const std::string& out, VideoWriterOptions options) {
    VideoReader reader(in, 2, FrameDepth::Source);
    options.copy_audio = false;
    check_writer_options(out, reader.info(), options);
    VideoWriter writer(out, reader.info(), options);
    Frame f;
    while (reader.read(f)) writer.write(f);
    writer.finish();
}

void expect_same_format(const std::string& in, const std::string& out, const std::string& what) {
    auto a = stream_entries(in), b = stream_entries(out);
    ASSERT_FALSE(a.empty()) << in;
    for (const char* key : {"pix_fmt", "color_range", "color_space", "color_transfer", "color_primaries"})
        EXPECT_EQ(b[key], a[key]) << what << ": " << key;
    EXPECT_EQ(frame_times(out), frame_times(in)) << what << ": frame count and timestamps";
}

class VideoFormat : public ::testing::Test {
protected:
    void SetUp() override {
        if (!have_ffmpeg() || command_output("ffprobe -version").empty())
            GTEST_SKIP() << "ffmpeg/ffprobe not installed";
    }
    /// 10-bit 4:2:0 H.264 tagged BT.709 (25 frames, 320x240).
    std::string make_10bit_709() {
        const std::string p = tmp / "in10.mp4";
        EXPECT_TRUE(
            ffmpeg("-f lavfi -i testsrc2=s=320x240:r=25:d=1 -pix_fmt yuv420p10le -color_primaries bt709 "
                   "-color_trc bt709 -colorspace bt709 -c:v libx264 -preset ultrafast '" +
                   p + "'"));
        return p;
    }
    /// 8-bit full-range 4:4:4 H.264 tagged BT.709 (12 frames).
    std::string make_444_full() {
        const std::string p = tmp / "in444.mp4";
        EXPECT_TRUE(
            ffmpeg("-f lavfi -i testsrc2=s=320x240:r=24:d=0.5 -pix_fmt yuv444p -color_range pc "
                   "-color_primaries bt709 -color_trc bt709 -colorspace bt709 -c:v libx264 -preset ultrafast '" +
                   p + "'"));
        return p;
    }
    ned::test::TempDir tmp;
};

}  // namespace

TEST_F(VideoFormat, ProbeDescribesDepthChromaAndTags) {
    const VideoInfo ten = probe(make_10bit_709());
    EXPECT_EQ(ten.bit_depth, 10);
    EXPECT_EQ(ten.chroma, "420");
    EXPECT_FALSE(ten.has_alpha);
    EXPECT_EQ(ten.color.primaries, 1);
    EXPECT_EQ(ten.color.matrix, 1);
    const VideoInfo full = probe(make_444_full());
    EXPECT_EQ(full.bit_depth, 8);
    EXPECT_EQ(full.chroma, "444");
    EXPECT_EQ(full.color.range, 2);
}

TEST_F(VideoFormat, SourceDepthFramesAreBgr48) {
    const std::string in = make_10bit_709();
    VideoReader deep(in, 1, FrameDepth::Source), eight(in, 1);
    Frame a, b;
    ASSERT_TRUE(deep.read(a));
    ASSERT_TRUE(eight.read(b));
    EXPECT_EQ(a.bgr.type(), CV_16UC3);
    EXPECT_EQ(b.bgr.type(), CV_8UC3);
    cv::Mat a8;
    a.bgr.convertTo(a8, CV_8U, 1.0 / 257.0);
    EXPECT_GT(psnr(a8, b.bgr), 40.0);  // the same picture at two depths
}

TEST_F(VideoFormat, TenBitBt709PassThroughKeepsFormatTagsAndTimes) {
    const std::string in = make_10bit_709();
    for (Codec codec : {Codec::H264, Codec::H265}) {
        const std::string out = tmp / (std::string("out_") + codec_name(codec) + ".mp4");
        VideoWriterOptions o;
        o.codec = codec;
        o.preset = "ultrafast";
        pass_through(in, out, o);
        expect_same_format(in, out, codec_name(codec));
    }
}

TEST_F(VideoFormat, FullRange444PassThroughKeepsFormatTagsAndTimes) {
    const std::string in = make_444_full();
    const std::string out = tmp / "out444.mp4";
    VideoWriterOptions o;
    o.preset = "ultrafast";
    pass_through(in, out, o);
    expect_same_format(in, out, "yuv444p full range");
    // The picture survives the full-range matrix both ways (no limited/full mix-up: that costs > 20 dB).
    const auto x = read_all(in), y = read_all(out);
    ASSERT_EQ(x.size(), y.size());
    EXPECT_GT(psnr(x[0].bgr, y[0].bgr), 38.0);
}

TEST_F(VideoFormat, UntaggedEightBitOutputIsBt601LimitedAsBefore) {
    const std::string out = tmp / "plain.mp4";
    write_synthetic(out, 64, 48, {1, 25}, {25, 1}, {0, 1, 2, 3});
    auto s = stream_entries(out);
    EXPECT_EQ(s["pix_fmt"], "yuv420p");
    EXPECT_EQ(s["color_space"], "smpte170m");
    EXPECT_EQ(s["color_range"], "tv");
}

TEST_F(VideoFormat, ProResRoundTrips422HqAnd4444) {
    struct Case {
        std::string in, pix_fmt, profile;
    } cases[] = {{make_10bit_709(), "yuv422p10le", "HQ"},
                 {make_444_full(), "yuv444p12le", "4444"}};  // (FFmpeg decodes 4444 as 12-bit)
    for (const auto& c : cases) {
        const std::string out = tmp / ("prores_" + c.profile + ".mov");
        VideoWriterOptions o;
        o.codec = Codec::ProRes;
        pass_through(c.in, out, o);
        auto s = stream_entries(out), src = stream_entries(c.in);
        EXPECT_EQ(s["codec_name"], "prores");
        EXPECT_EQ(s["pix_fmt"], c.pix_fmt);
        EXPECT_EQ(s["profile"], c.profile);
        for (const char* key : {"color_space", "color_transfer", "color_primaries"}) EXPECT_EQ(s[key], src[key]) << key;
        EXPECT_EQ(frame_times(out), frame_times(c.in));
        const auto x = read_all(c.in), y = read_all(out);
        ASSERT_EQ(x.size(), y.size());
        EXPECT_GT(psnr(x[0].bgr, y[0].bgr), 38.0) << c.profile;
    }
}

TEST_F(VideoFormat, Ffv1MkvRoundTripKeepsFormatAndTags) {
    const std::string in = make_10bit_709();
    const std::string out = tmp / "out.mkv";
    VideoWriterOptions o;
    o.codec = Codec::Ffv1;
    pass_through(in, out, o);
    EXPECT_EQ(stream_entries(out)["codec_name"], "ffv1");
    expect_same_format(in, out, "ffv1");
}

// 10-bit 4:4:4 FFV1 in, FFV1 out at the same pix_fmt through BGR48: every Y, Cb, Cr sample within 2 codes.
TEST_F(VideoFormat, TenBitFfv1PassThroughKeepsSamplesWithinTwoCodes) {
    const std::string in = tmp / "in444p10.mkv", out = tmp / "out444p10.mkv";
    ASSERT_TRUE(
        ffmpeg("-f lavfi -i testsrc2=s=128x96:r=25:d=0.2 -vf scale=out_color_matrix=bt709:out_range=tv "
               "-pix_fmt yuv444p10le -colorspace bt709 "
               "-color_primaries bt709 -color_trc bt709 -c:v ffv1 '" +
               in + "'"));
    VideoWriterOptions o;
    o.codec = Codec::Ffv1;
    pass_through(in, out, o);
    EXPECT_EQ(stream_entries(out)["pix_fmt"], "yuv444p10le");
    const std::string ra = tmp / "a.raw", rb = tmp / "b.raw";
    ASSERT_TRUE(ffmpeg("-i '" + in + "' -f rawvideo -pix_fmt yuv444p10le '" + ra + "'"));
    ASSERT_TRUE(ffmpeg("-i '" + out + "' -f rawvideo -pix_fmt yuv444p10le '" + rb + "'"));
    auto load = [](const std::string& p) {
        std::ifstream f(p, std::ios::binary);
        std::vector<char> bytes((std::istreambuf_iterator<char>(f)), {});
        std::vector<uint16_t> v(bytes.size() / 2);
        std::memcpy(v.data(), bytes.data(), v.size() * 2);
        return v;
    };
    const auto a = load(ra), b = load(rb);
    ASSERT_EQ(a.size(), b.size());
    ASSERT_FALSE(a.empty());
    int worst = 0;
    for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(int(a[i]) - int(b[i])));
    EXPECT_LE(worst, 2);
}

TEST_F(VideoFormat, RefusedCombinationsAreOneLineInputErrors) {
    const VideoInfo src = probe(make_10bit_709());
    auto message = [&](const std::string& out, Codec codec, const std::string& pix_fmt) -> std::string {
        VideoWriterOptions o;
        o.codec = codec;
        o.pix_fmt = pix_fmt;
        try {
            check_writer_options(out, src, o);
        } catch (const ned::InputError& e) {
            return e.what();
        }
        return "";
    };
    EXPECT_EQ(message("/x/out.mp4", Codec::ProRes, ""), "out.mp4: ProRes needs a .mov output");
    EXPECT_EQ(message("/x/out.mp4", Codec::Ffv1, ""), "out.mp4: FFV1 needs a .mkv or .mov output");
    EXPECT_NE(message("/x/out.mp4", Codec::H264, "yuv444p12le").find("cannot encode yuv444p12le"), std::string::npos);
    EXPECT_NE(message("/x/out.mov", Codec::ProRes, "yuv420p").find("cannot encode yuv420p"), std::string::npos);
    EXPECT_NE(message("/x/out.mkv", Codec::Ffv1, "nonsense").find("unknown pixel format"), std::string::npos);
    EXPECT_EQ(message("/x/out.mkv", Codec::Ffv1, "gray16le"), "");
    EXPECT_EQ(message("/x/out.mov", Codec::Ffv1, ""), "");
    for (const auto& m : {message("/x/out.mp4", Codec::ProRes, ""), message("/x/out.mp4", Codec::H264, "yuv444p12le")})
        EXPECT_EQ(ned::test::count_lines(m + "\n"), 1) << m;
}

TEST(VideoFormatNames, DefaultPixFmtFollowsTheSource) {
    VideoInfo s;
    VideoWriterOptions o;
    EXPECT_EQ(output_pix_fmt(s, o), "yuv420p");  // synthetic frames: as before
    s.bit_depth = 10, s.chroma = "422";
    EXPECT_EQ(output_pix_fmt(s, o), "yuv422p10le");
    s.bit_depth = 12;
    EXPECT_EQ(output_pix_fmt(s, o), "yuv422p10le");  // libx264 holds 10 bits at most
    o.codec = Codec::H265;
    EXPECT_EQ(output_pix_fmt(s, o), "yuv422p12le");
    o.codec = Codec::Ffv1;
    s.chroma = "gray", s.bit_depth = 16;
    EXPECT_EQ(output_pix_fmt(s, o), "gray16le");
    o.codec = Codec::ProRes;
    s.chroma = "444", s.has_alpha = true;
    EXPECT_EQ(output_pix_fmt(s, o), "yuva444p10le");
    o.pix_fmt = "yuv422p10le";
    EXPECT_EQ(output_pix_fmt(s, o), "yuv422p10le");
}

// Through the CLI: a refused combination is exit 2 with one line naming the output, before any work (the track
// folder here does not even exist: the format is checked first).
TEST_F(VideoFormat, CliRefusesCombinationsWithExitTwo) {
    if (!std::filesystem::exists(ned::test::ned_binary())) GTEST_SKIP() << "ned binary not built";
    const std::string in = make_10bit_709();
    struct Case {
        std::vector<std::string> args;
        std::string says;
    } cases[] = {{{"--codec", "prores", tmp / "out.mp4"}, "out.mp4: ProRes needs a .mov output"},
                 {{"--codec", "ffv1", tmp / "out.mp4"}, "out.mp4: FFV1 needs a .mkv or .mov output"},
                 {{"--pix-fmt", "yuv444p12le", tmp / "out.mp4"}, "cannot encode yuv444p12le"},
                 {{"--codec", "prores", "--pix-fmt", "yuv420p", tmp / "out.mov"}, "cannot encode yuv420p"}};
    for (const auto& c : cases) {
        std::vector<std::string> args = {"composite", in, tmp / "nothing_here", c.args.back()};
        args.insert(args.end(), c.args.begin(), c.args.end() - 1);
        const auto r = ned::test::run_ned(args);
        EXPECT_EQ(r.exit_code, 2) << c.says;
        EXPECT_NE(r.err.find(c.says), std::string::npos) << r.err;
        EXPECT_EQ(ned::test::count_lines(r.err), 1) << r.err;
    }
}
