#pragma once
// Helpers of the io tests: synthetic frames, PSNR, libav remuxes (adding rotation metadata; moving the mp4 index
// to the front), packet positions, truncated copies, capture of log warnings, and writing synthetic videos
// through VideoWriter.
#include <gtest/gtest.h>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <spdlog/sinks/ringbuffer_sink.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "io/av_ptr.hpp"
#include "ned/core/error.hpp"
#include "ned/core/log.hpp"
#include "ned/io/video.hpp"
#include "support/test_support.hpp"

namespace ned::io::testutil {

/// A smooth moving pattern (gradients + a moving disc) that H.264 codes well.
inline cv::Mat pattern(int w, int h, int i) {
    cv::Mat m(h, w, CV_8UC3);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
            m.at<cv::Vec3b>(y, x) =
                cv::Vec3b(static_cast<uint8_t>((x * 255) / std::max(1, w - 1)),
                          static_cast<uint8_t>((y * 255) / std::max(1, h - 1)), static_cast<uint8_t>((i * 12) % 256));
    cv::circle(m, {(i * 3) % w, h / 2}, std::max(3, h / 6), cv::Scalar(255, 255, 255), -1, cv::LINE_AA);
    return m;
}

inline double psnr(const cv::Mat& a, const cv::Mat& b) { return cv::PSNR(a, b); }

/// VideoInfo for synthetic frames (no source file, no audio).
inline VideoInfo synthetic_info(int w, int h, Rational tb, Rational fps) {
    VideoInfo s;
    s.width = s.display_width = w;
    s.height = s.display_height = h;
    s.time_base = tb;
    s.frame_rate = fps;
    return s;
}

/// Write frames pattern(w,h,i) at pts[i]; returns the written frames.
inline std::vector<cv::Mat> write_synthetic(const std::string& path, int w, int h, Rational tb, Rational fps,
                                            const std::vector<int64_t>& pts, const std::string& preset = "ultrafast",
                                            int crf = 18) {
    VideoWriterOptions o;
    o.preset = preset;
    o.crf = crf;
    VideoWriter writer(path, synthetic_info(w, h, tb, fps), o);
    std::vector<cv::Mat> frames;
    for (size_t i = 0; i < pts.size(); ++i) {
        Frame f;
        f.bgr = pattern(w, h, static_cast<int>(i));
        f.index = static_cast<int64_t>(i);
        f.pts = pts[i];
        writer.write(f);
        frames.push_back(f.bgr);
    }
    writer.finish();
    return frames;
}

/// Copy every packet of `in` to `out` (streams made alike, header written), then write the trailer.
inline void copy_packets(AVFormatContext* in, AVFormatContext* out) {
    auto pkt = av::make_packet();
    while (av_read_frame(in, pkt.get()) >= 0) {
        const int s = pkt->stream_index;
        av_packet_rescale_ts(pkt.get(), in->streams[s]->time_base, out->streams[s]->time_base);
        pkt->pos = -1;
        ASSERT_GE(av_interleaved_write_frame(out, pkt.get()), 0);
    }
    ASSERT_GE(av_write_trailer(out), 0);
}

/// Stream-copy `in` to `out`, giving the video stream a display matrix made by
/// av_display_rotation_set(matrix, ccw_degrees).
inline void remux_with_rotation(const std::string& in, const std::string& out, int ccw_degrees) {
    auto ifmt = av::open_input(in);
    AVFormatContext* raw = nullptr;
    ASSERT_GE(avformat_alloc_output_context2(&raw, nullptr, nullptr, out.c_str()), 0);
    av::OutputContextPtr ofmt(raw);
    for (unsigned i = 0; i < ifmt->nb_streams; ++i) {
        AVStream* ist = ifmt->streams[i];
        AVStream* ost = avformat_new_stream(ofmt.get(), nullptr);
        ASSERT_NE(ost, nullptr);
        ASSERT_GE(avcodec_parameters_copy(ost->codecpar, ist->codecpar), 0);
        ost->codecpar->codec_tag = 0;
        ost->time_base = ist->time_base;
        if (ist->codecpar->codec_type == AVMEDIA_TYPE_VIDEO) {
            uint8_t* sd = av_stream_new_side_data(ost, AV_PKT_DATA_DISPLAYMATRIX, 9 * sizeof(int32_t));
            ASSERT_NE(sd, nullptr);
            av_display_rotation_set(reinterpret_cast<int32_t*>(sd), ccw_degrees);
        }
    }
    ASSERT_GE(avio_open(&ofmt->pb, out.c_str(), AVIO_FLAG_WRITE), 0);
    ASSERT_GE(avformat_write_header(ofmt.get(), nullptr), 0);
    copy_packets(ifmt.get(), ofmt.get());
}

/// Stream-copy the mp4 `in` to `out` with its index (moov) at the front (movflags +faststart), as web video is.
inline void remux_faststart(const std::string& in, const std::string& out) {
    auto ifmt = av::open_input(in);
    AVFormatContext* raw = nullptr;
    ASSERT_GE(avformat_alloc_output_context2(&raw, nullptr, "mp4", out.c_str()), 0);
    av::OutputContextPtr ofmt(raw);
    for (unsigned i = 0; i < ifmt->nb_streams; ++i) {
        AVStream* ost = avformat_new_stream(ofmt.get(), nullptr);
        ASSERT_NE(ost, nullptr);
        ASSERT_GE(avcodec_parameters_copy(ost->codecpar, ifmt->streams[i]->codecpar), 0);
        ost->codecpar->codec_tag = 0;
        ost->time_base = ifmt->streams[i]->time_base;
    }
    ASSERT_GE(avio_open(&ofmt->pb, out.c_str(), AVIO_FLAG_WRITE), 0);
    AVDictionary* opts = nullptr;
    av_dict_set(&opts, "movflags", "+faststart", 0);
    const int header = avformat_write_header(ofmt.get(), &opts);
    av_dict_free(&opts);
    ASSERT_GE(header, 0);
    copy_packets(ifmt.get(), ofmt.get());
}

/// Position, size, pts and key flag of every video packet of `path`, in file (= decode) order.
struct PacketPlace {
    int64_t pos = -1, size = 0, pts = 0;
    bool key = false;
};
inline std::vector<PacketPlace> video_packet_places(const std::string& path) {
    auto fmt = av::open_input(path);
    const int vi = av::find_video_stream(fmt.get(), path);
    std::vector<PacketPlace> out;
    auto pkt = av::make_packet();
    while (av_read_frame(fmt.get(), pkt.get()) >= 0) {
        if (pkt->stream_index == vi)
            out.push_back({pkt->pos, pkt->size, pkt->pts, (pkt->flags & AV_PKT_FLAG_KEY) != 0});
        av_packet_unref(pkt.get());
    }
    return out;
}

/// Copy the first `bytes` bytes of a file.
inline void truncate_copy_bytes(const std::string& in, const std::string& out, int64_t bytes) {
    std::ifstream f(in, std::ios::binary);
    std::string data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    std::ofstream o(out, std::ios::binary);
    o.write(data.data(), static_cast<std::streamsize>(std::min<int64_t>(bytes, data.size())));
}

/// Captures what the ned logger emits while alive.
class LogCapture {
public:
    LogCapture() : sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(256)) {
        ned::log::get().sinks().push_back(sink_);
    }
    ~LogCapture() {
        auto& sinks = ned::log::get().sinks();
        sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
    }
    std::string text() const {
        std::string all;
        for (const auto& l : sink_->last_formatted()) all += l;
        return all;
    }

private:
    std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
};

/// Copy the first `fraction` of a file.
inline void truncate_copy(const std::string& in, const std::string& out, double fraction) {
    std::ifstream f(in, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    std::ofstream o(out, std::ios::binary);
    o.write(bytes.data(), static_cast<std::streamsize>(bytes.size() * fraction));
}

/// True when the ffmpeg command-line tool is available (some fixtures are made with it).
inline bool have_ffmpeg() { return ned::test::have_ffmpeg(); }

/// Run ffmpeg quietly; true on success.
inline bool ffmpeg(const std::string& args) { return ned::test::run_ffmpeg(args); }

/// Read all frames.
inline std::vector<Frame> read_all(const std::string& path) {
    VideoReader r(path, 2);
    std::vector<Frame> out;
    Frame f;
    while (r.read(f)) out.push_back(f);
    return out;
}

}  // namespace ned::io::testutil
