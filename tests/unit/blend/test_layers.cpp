// The compositing hand-off (ned/blend/layers.hpp): composite_video on a synthetic clip with synthetic faces writes
// a matte and a face layer per source frame from which the output is recomposed (over) within encoding error;
// untouched frames have an all-zero matte and a transparent layer; file numbers follow the source frames (and
// --layer-start-number); a deep (10-bit) source is composited at its depth. The clips are made with the ffmpeg CLI
// (the tests skip without it).
#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

extern "C" {
#include <libavcodec/avcodec.h>
}

#include "ned/blend/composite.hpp"
#include "ned/blend/layers.hpp"
#include "ned/core/error.hpp"
#include "ned/core/fs_util.hpp"
#include "ned/io/video.hpp"
#include "support/test_support.hpp"

namespace fs = std::filesystem;
using namespace ned::blend;

namespace {

constexpr int kW = 160, kH = 120, kFrames = 8, kCrop = 256;

/// Every frame valid but frame 2 (no face there); the 256 crop maps onto ~102 px at (30, 10).
ned::face::FaceTrack make_track() {
    ned::face::FaceTrack t;
    t.width = kW;
    t.height = kH;
    t.fps_num = 25;
    t.fps_den = 1;
    t.crop_size = kCrop;
    t.frames.resize(kFrames);
    for (int i = 0; i < kFrames; ++i) {
        auto& f = t.frames[i];
        f.valid = f.detected = i != 2;
        f.crop_to_frame = cv::Matx23f(0.4f, 0, 30.f + i, 0, 0.4f, 10.f);
    }
    return t;
}

/// A face for every frame but 5 (that frame passes through): a colour gradient that changes with t.
FaceSource synthetic_faces() {
    return [](long t, cv::Mat& face, cv::Mat& mask) {
        if (t == 5) return false;
        face.create(kCrop, kCrop, CV_8UC3);
        for (int y = 0; y < kCrop; ++y)
            for (int x = 0; x < kCrop; ++x)
                face.at<cv::Vec3b>(y, x) =
                    cv::Vec3b(static_cast<uint8_t>(x), static_cast<uint8_t>(y), static_cast<uint8_t>(40 * t));
        mask = cv::Mat();
        return true;
    };
}

std::vector<cv::Mat> read_frames(const std::string& path, ned::io::FrameDepth depth = ned::io::FrameDepth::Eight) {
    ned::io::VideoReader r(path, 1, depth);
    std::vector<cv::Mat> out;
    ned::io::Frame f;
    while (r.read(f)) out.push_back(f.bgr.clone());
    return out;
}

/// over: layer (straight 16-bit BGRA) on top of `src` (8-bit) with the matte's alpha, rounded to 8 bits.
cv::Mat over(const cv::Mat& src, const cv::Mat& layer, const cv::Mat& matte) {
    cv::Mat out = src.clone();
    for (int y = 0; y < src.rows; ++y)
        for (int x = 0; x < src.cols; ++x) {
            const float a = matte.at<uint16_t>(y, x) / 65535.f;
            const cv::Vec4w l = layer.at<cv::Vec4w>(y, x);
            for (int c = 0; c < 3; ++c)
                out.at<cv::Vec3b>(y, x)[c] =
                    cv::saturate_cast<uint8_t>(src.at<cv::Vec3b>(y, x)[c] * (1.f - a) + l[c] / 257.f * a);
        }
    return out;
}

class Layers : public ::testing::Test {
protected:
    void SetUp() override {
        if (!ned::test::have_ffmpeg()) GTEST_SKIP() << "the ffmpeg CLI is not installed";
        dir = fs::temp_directory_path() / ("ned_layers_" + std::to_string(::getpid()) + "_" +
                                           ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir);
        fs::create_directories(dir);
    }
    void TearDown() override {
        if (!dir.empty()) fs::remove_all(dir);
    }
    /// 8 frames of testsrc2 at kW x kH, 25 fps, losslessly in `pix_fmt`.
    std::string make_input(const std::string& pix_fmt) {
        const std::string in = (dir / ("in_" + pix_fmt + ".mkv")).string();
        EXPECT_TRUE(ned::test::run_ffmpeg("-f lavfi -i testsrc2=s=160x120:r=25:d=0.32 -pix_fmt " + pix_fmt +
                                          " -c:v ffv1 '" + in + "'"));
        return in;
    }
    CompositeOptions lossless_rgb() const {
        CompositeOptions o;
        o.codec = ned::io::Codec::Ffv1;
        o.pix_fmt = "bgr0";
        o.layers.matte = (dir / "matte").string() + "/";
        o.layers.face_layer = (dir / "layer").string();
        return o;
    }
    fs::path dir;
};

std::vector<std::string> names_in(const fs::path& d) {
    std::vector<std::string> n;
    for (const auto& e : fs::directory_iterator(d)) n.push_back(e.path().filename().string());
    std::sort(n.begin(), n.end());
    return n;
}

}  // namespace

TEST(LayerImages, RecomposeInMemoryAndEmptyRegion) {
    cv::Mat frame(120, 160, CV_8UC3), crop(256, 256, CV_8UC3);
    cv::randu(frame, 0, 256);
    cv::randu(crop, 0, 256);
    const cv::Mat src = frame.clone();
    const cv::Mat alpha = blend_mask(default_face_mask(256));
    const PastedRegion r = warp_crop(frame.size(), crop, alpha, cv::Matx23f(0.4f, 0, 30, 0, 0.4f, 10));
    paste_region(frame, r);
    cv::Mat legacy = src.clone();
    paste_crop(legacy, crop, alpha, cv::Matx23f(0.4f, 0, 30, 0, 0.4f, 10));
    EXPECT_EQ(cv::norm(frame, legacy, cv::NORM_INF), 0.0);  // the two halves are paste_crop
    const cv::Mat matte = matte_image(frame.size(), r), layer = layer_image(frame.size(), r, LayerFormat::Png16);
    cv::Mat diff;
    cv::absdiff(over(src, layer, matte), frame, diff);
    EXPECT_LE(cv::norm(diff, cv::NORM_INF), 1.0);
    EXPECT_GT(cv::countNonZero(matte), 1000);
    // An untouched frame: all zero.
    EXPECT_EQ(cv::countNonZero(matte_image(frame.size(), PastedRegion{})), 0);
    EXPECT_EQ(cv::norm(layer_image(frame.size(), PastedRegion{}, LayerFormat::Exr), cv::NORM_INF), 0.0);
}

TEST(LayerImages, SixteenBitPasteKeepsUntouchedPixels) {
    cv::Mat frame(120, 160, CV_16UC3), crop(256, 256, CV_16UC3, cv::Scalar(1000, 30000, 65000));
    cv::randu(frame, 0, 65536);
    const cv::Mat src = frame.clone();
    const cv::Mat alpha = blend_mask(default_face_mask(256));
    const cv::Matx23f m(0.4f, 0, 30, 0, 0.4f, 10);
    paste_crop(frame, crop, alpha, m);
    const cv::Mat matte = matte_image(frame.size(), warp_crop(frame.size(), crop, alpha, m));
    for (int y = 0; y < frame.rows; ++y)
        for (int x = 0; x < frame.cols; ++x) {
            if (matte.at<uint16_t>(y, x) == 0) {
                ASSERT_EQ(frame.at<cv::Vec3w>(y, x), src.at<cv::Vec3w>(y, x));
            } else if (matte.at<uint16_t>(y, x) == 65535) {
                ASSERT_EQ(frame.at<cv::Vec3w>(y, x), cv::Vec3w(1000, 30000, 65000));
            }
        }
}

TEST_F(Layers, LosslessOutputIsTheOverOfInputLayerAndMatte) {
    const std::string in = make_input("bgr0"), out = (dir / "out.mkv").string();
    const CompositeOptions o = lossless_rgb();
    const long replaced = composite_video(in, make_track(), out, o, synthetic_faces());
    EXPECT_EQ(replaced, kFrames - 2);  // frame 2: no face in the track; frame 5: no face given
    std::vector<std::string> expected;
    for (int i = 0; i < kFrames; ++i) expected.push_back(ned::frame_name(i, ".png"));
    ASSERT_EQ(names_in(dir / "matte"), expected);
    ASSERT_EQ(names_in(dir / "layer"), expected);
    const auto src = read_frames(in), dst = read_frames(out);
    ASSERT_EQ(src.size(), static_cast<size_t>(kFrames));
    ASSERT_EQ(dst.size(), static_cast<size_t>(kFrames));
    for (int t = 0; t < kFrames; ++t) {
        const cv::Mat matte = cv::imread((dir / "matte" / expected[t]).string(), cv::IMREAD_UNCHANGED);
        const cv::Mat layer = cv::imread((dir / "layer" / expected[t]).string(), cv::IMREAD_UNCHANGED);
        ASSERT_EQ(matte.type(), CV_16UC1);
        ASSERT_EQ(layer.type(), CV_16UC4);
        cv::Mat layer_alpha;
        cv::extractChannel(layer, layer_alpha, 3);
        EXPECT_EQ(cv::norm(layer_alpha, matte, cv::NORM_INF), 0.0) << "frame " << t;
        if (t == 2 || t == 5) {
            EXPECT_EQ(cv::countNonZero(matte), 0) << "untouched frame " << t << " has an all-zero matte";
            EXPECT_EQ(cv::norm(layer, cv::NORM_INF), 0.0) << "untouched frame " << t << " is transparent";
            EXPECT_EQ(cv::norm(src[t], dst[t], cv::NORM_INF), 0.0);
            continue;
        }
        EXPECT_GT(cv::countNonZero(matte), 1000);
        cv::Mat diff;
        cv::absdiff(over(src[t], layer, matte), dst[t], diff);
        EXPECT_LE(cv::norm(diff, cv::NORM_INF), 1.0) << "frame " << t;
    }
}

TEST_F(Layers, LossyOutputRecomposesWithinEncodingError) {
    const std::string in = make_input("bgr0"), out = (dir / "out.mp4").string();
    CompositeOptions o = lossless_rgb();
    o.codec = ned::io::Codec::H264;
    o.pix_fmt = "";
    composite_video(in, make_track(), out, o, synthetic_faces());
    const auto src = read_frames(in), dst = read_frames(out);
    ASSERT_EQ(dst.size(), static_cast<size_t>(kFrames));
    for (int t = 0; t < kFrames; ++t) {
        const std::string name = ned::frame_name(t, ".png");
        const cv::Mat matte = cv::imread((dir / "matte" / name).string(), cv::IMREAD_UNCHANGED);
        const cv::Mat layer = cv::imread((dir / "layer" / name).string(), cv::IMREAD_UNCHANGED);
        EXPECT_GT(cv::PSNR(over(src[t], layer, matte), dst[t]), 35.0) << "frame " << t;
    }
}

TEST_F(Layers, StartNumberAndMatteVideo) {
    const std::string in = make_input("bgr0"), out = (dir / "out.mkv").string();
    CompositeOptions o = lossless_rgb();
    o.layers.start_number = 100;
    o.layers.matte = (dir / "matte.mkv").string();
    composite_video(in, make_track(), out, o, synthetic_faces());
    std::vector<std::string> expected;
    for (int i = 0; i < kFrames; ++i) expected.push_back(ned::frame_name(100 + i, ".png"));
    ASSERT_EQ(names_in(dir / "layer"), expected);
    const ned::io::VideoInfo info = ned::io::probe(o.layers.matte);
    EXPECT_EQ(info.codec, "ffv1");
    EXPECT_EQ(info.pix_fmt, "gray16le");
    EXPECT_EQ(info.frame_count, kFrames);
    const auto mattes = read_frames(o.layers.matte, ned::io::FrameDepth::Source);
    ASSERT_EQ(mattes.size(), static_cast<size_t>(kFrames));
    for (int t = 0; t < kFrames; ++t) {
        const cv::Mat layer = cv::imread((dir / "layer" / expected[t]).string(), cv::IMREAD_UNCHANGED);
        cv::Mat a, m;
        cv::extractChannel(layer, a, 3);
        cv::extractChannel(mattes[t], m, 0);
        EXPECT_LE(cv::norm(a, m, cv::NORM_INF), 1.0) << "frame " << t;
    }
    // Existing outputs are refused without overwrite, before any work.
    EXPECT_THROW(check_layer_outputs(o.layers, false), ned::InputError);
    EXPECT_NO_THROW(check_layer_outputs(o.layers, true));
}

TEST_F(Layers, ExrLayerIsPremultipliedHalfWithAlpha) {
    const std::string in = make_input("bgr0"), out = (dir / "out.mkv").string();
    CompositeOptions o = lossless_rgb();
    o.layers.layer_format = LayerFormat::Exr;
    composite_video(in, make_track(), out, o, synthetic_faces());
    const std::string name = ned::frame_name(3, ".exr");
    std::ifstream f(dir / "layer" / name, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(f)), {});
    ASSERT_GT(bytes.size(), 8u);
    EXPECT_EQ(static_cast<unsigned char>(bytes[0]), 0x76);  // EXR magic 20000630
    // channels attribute: A, B, G, R, each pixel type 1 (HALF).
    const std::string key = std::string("channels") + '\0' + "chlist" + '\0';
    const size_t at = bytes.find(key);
    ASSERT_NE(at, std::string::npos);
    size_t p = at + key.size() + 4;
    std::string names;
    while (bytes[p] != '\0') {
        const size_t len = std::strlen(bytes.data() + p);
        names += bytes.substr(p, len);
        int32_t type = 0;
        std::memcpy(&type, bytes.data() + p + len + 1, 4);
        EXPECT_EQ(type, 1) << "channel " << bytes.substr(p, len) << " is not half float";
        p += len + 1 + 16;
    }
    EXPECT_EQ(names, "ABGR");
    // Decoded with FFmpeg's exr decoder: alpha = the matte, colour premultiplied.
    const AVCodec* dec = avcodec_find_decoder(AV_CODEC_ID_EXR);
    ASSERT_NE(dec, nullptr);
    AVCodecContext* ctx = avcodec_alloc_context3(dec);
    ASSERT_EQ(avcodec_open2(ctx, dec, nullptr), 0);
    AVPacket* pkt = av_packet_alloc();
    std::vector<uint8_t> buf(bytes.begin(), bytes.end());
    pkt->data = buf.data();
    pkt->size = static_cast<int>(buf.size());
    AVFrame* fr = av_frame_alloc();
    ASSERT_EQ(avcodec_send_packet(ctx, pkt), 0);
    ASSERT_EQ(avcodec_receive_frame(ctx, fr), 0);
    ASSERT_EQ(fr->format, AV_PIX_FMT_GBRAPF32LE);
    const auto dst = read_frames(out);
    const auto src = read_frames(in);
    double worst_alpha = 0, worst_colour = 0;
    int covered = 0;
    for (int y = 0; y < kH; ++y) {
        const float* g = reinterpret_cast<const float*>(fr->data[0] + y * fr->linesize[0]);
        const float* b = reinterpret_cast<const float*>(fr->data[1] + y * fr->linesize[1]);
        const float* r = reinterpret_cast<const float*>(fr->data[2] + y * fr->linesize[2]);
        const float* a = reinterpret_cast<const float*>(fr->data[3] + y * fr->linesize[3]);
        for (int x = 0; x < kW; ++x) {
            // over with premultiplied colour: out = C + src * (1 - a)
            const cv::Vec3b s = src[3].at<cv::Vec3b>(y, x), d = dst[3].at<cv::Vec3b>(y, x);
            const float c[3] = {b[x], g[x], r[x]};
            for (int k = 0; k < 3; ++k)
                worst_colour = std::max(worst_colour, std::abs(255.0 * c[k] + s[k] * (1.0 - a[x]) - d[k]));
            worst_alpha = std::max(worst_alpha, a[x] < 0 || a[x] > 1 ? 1.0 : 0.0);
            covered += a[x] > 0;
        }
    }
    EXPECT_GT(covered, 1000);
    EXPECT_EQ(worst_alpha, 0.0);
    EXPECT_LE(worst_colour, 1.5);  // half float (11 significant bits) and the output's rounding
    av_frame_free(&fr);
    av_packet_free(&pkt);
    avcodec_free_context(&ctx);
}

TEST_F(Layers, DeepSourceIsCompositedAtItsDepth) {
    const std::string in = make_input("yuv444p10le"), out = (dir / "out.mkv").string();
    CompositeOptions o;
    o.codec = ned::io::Codec::Ffv1;  // the source's layout and depth: yuv444p10le
    composite_video(in, make_track(), out, o, synthetic_faces());
    EXPECT_EQ(ned::io::probe(out).pix_fmt, "yuv444p10le");
    const auto src = read_frames(in, ned::io::FrameDepth::Source), dst = read_frames(out, ned::io::FrameDepth::Source);
    ASSERT_EQ(dst.size(), static_cast<size_t>(kFrames));
    ASSERT_EQ(dst[2].type(), CV_16UC3);
    // The untouched frame 2 keeps its 10-bit values (within the codes of one BGR48 round trip), which 8 bits
    // could not hold: the source has values off the 8-bit grid, so does the output.
    cv::Mat diff;
    cv::absdiff(src[2], dst[2], diff);
    EXPECT_LE(cv::norm(diff, cv::NORM_INF), 3.0 * 64.0);  // 10-bit codes are 64 apart at this scale
    int off_grid = 0;
    for (auto it = dst[2].begin<cv::Vec3w>(); it != dst[2].end<cv::Vec3w>(); ++it) off_grid += (*it)[1] % 257 != 0;
    EXPECT_GT(off_grid, kW * kH / 4);
    std::printf("deep: mean |out - in| of an untouched frame %.2f (BGR48 scale)\n", cv::mean(diff)[0]);
    EXPECT_LT(cv::mean(diff)[0], 32.0);  // well under the mean 8-bit quantization error (~64 at this scale)
}
