#pragma once
// PRIVATE to src/io: RAII owners of libav* objects (std::unique_ptr with one deleter per type) and small
// helpers shared by the reader, the writer and probe(). No other file in src/io frees a libav object by
// hand: every allocation goes straight into one of these owners.
extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
#include <libavutil/display.h>
#include <libavutil/error.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
}

#include <memory>
#include <string>

#include "ned/io/video.hpp"

namespace ned::io::av {

struct InputContextDeleter {
    void operator()(AVFormatContext* p) const { avformat_close_input(&p); }
};
/// A demuxer opened with avformat_open_input.
using InputContextPtr = std::unique_ptr<AVFormatContext, InputContextDeleter>;

struct OutputContextDeleter {
    void operator()(AVFormatContext* p) const {
        if (!p) return;
        if (p->pb && !(p->oformat->flags & AVFMT_NOFILE)) avio_closep(&p->pb);
        avformat_free_context(p);
    }
};
/// A muxer from avformat_alloc_output_context2 (its AVIOContext is closed too).
using OutputContextPtr = std::unique_ptr<AVFormatContext, OutputContextDeleter>;

struct CodecContextDeleter {
    void operator()(AVCodecContext* p) const { avcodec_free_context(&p); }
};
using CodecContextPtr = std::unique_ptr<AVCodecContext, CodecContextDeleter>;

struct FrameDeleter {
    void operator()(AVFrame* p) const { av_frame_free(&p); }
};
using FramePtr = std::unique_ptr<AVFrame, FrameDeleter>;

struct PacketDeleter {
    void operator()(AVPacket* p) const { av_packet_free(&p); }
};
using PacketPtr = std::unique_ptr<AVPacket, PacketDeleter>;

struct SwsDeleter {
    void operator()(SwsContext* p) const { sws_freeContext(p); }
};
using SwsPtr = std::unique_ptr<SwsContext, SwsDeleter>;

struct DictDeleter {
    void operator()(AVDictionary* p) const { av_dict_free(&p); }
};
using DictPtr = std::unique_ptr<AVDictionary, DictDeleter>;

/// Allocating constructors that throw std::bad_alloc instead of returning null.
FramePtr make_frame();
PacketPtr make_packet();

/// Route libav's own log output into the ned logger (debug level); idempotent.
void install_log_callback();

/// libav error code as text ("Invalid data found when processing input").
std::string error_string(int errnum);

/// Open `path` for demuxing and read stream info; throws InputError naming the file when it is missing,
/// not a regular file, or not a media file libav can read.
InputContextPtr open_input(const std::string& path);

/// Index of the video stream (the "best" one, attached pictures excluded); throws InputError naming the
/// file if there is none (e.g. an audio-only file).
int find_video_stream(const AVFormatContext* fmt, const std::string& path);

/// Clockwise display rotation (0/90/180/270) from the stream's display-matrix side data.
int stream_rotation(const AVStream* st);

/// VideoInfo's pix_fmt, bit_depth, chroma, has_alpha and color from a stream's parameters.
void describe_pixels(const AVCodecParameters* par, VideoInfo& info);

/// Fill everything in VideoInfo except frame_count (set to an estimate) from an opened input.
VideoInfo describe(const AVFormatContext* fmt, int video_index, const std::string& path);

inline Rational to_rational(AVRational r) { return Rational{r.num, r.den}; }
inline AVRational to_av(Rational r) { return AVRational{r.num, r.den}; }

}  // namespace ned::io::av
