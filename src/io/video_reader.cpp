// VideoReader: demux + decode (libavformat/libavcodec), convert to BGR (libswscale), apply the display
// rotation (cv::rotate) and hand out frames with their presentation timestamps, exactly as decoded. BGR24 by
// default; BGR48 (full 16-bit scale) for a deep source read at FrameDepth::Source.
#include <opencv2/core.hpp>

#include <algorithm>
#include <cstdio>

#include "io/av_ptr.hpp"
#include "ned/core/error.hpp"
#include "ned/core/log.hpp"

namespace ned::io {

struct VideoReader::Impl {
    std::string path;
    av::InputContextPtr fmt;
    av::CodecContextPtr dec;
    av::PacketPtr pkt;
    av::FramePtr frame;
    av::SwsPtr sws;
    VideoInfo info;
    AVStream* st = nullptr;
    int vi = -1;
    bool deep = false;  // hand out CV_16UC3 (BGR48) frames

    // Converter cache key.
    int sws_w = 0, sws_h = 0, sws_fmt = -1, sws_cs = -1, sws_range = -1;

    int64_t next_index = 0;
    int64_t packets = 0;  // video packets sent to the decoder
    int64_t last_pts = AV_NOPTS_VALUE;
    int64_t tick = 1;         // one frame in time-base units (for synthesised timestamps)
    bool input_done = false;  // no more packets (EOF or read error)
    bool flushed = false;     // decoder got the flush packet
    bool finished = false;    // decoder drained
    bool warned_pts = false;
    bool counted = false;  // the end was reached and info.frame_count set to the frames decoded
    int decode_errors = 0;
    int errors_in_a_row = 0;  // avcodec_receive_frame errors without a frame or a new packet in between
    static constexpr int kMaxErrorsInARow = 64;

    bool have_pending = false;  // first frame decoded in the constructor (to reject empty videos)
    Frame pending;

    bool decode_next(Frame& out);
    bool feed();
    void convert(Frame& out);
    void warn_if_short() const;
};

// Read one packet of the video stream and send it to the decoder; on end of input, flush. Returns false
// once nothing more can be fed.
bool VideoReader::Impl::feed() {
    if (flushed) return false;
    if (!input_done) {
        for (;;) {
            const int err = av_read_frame(fmt.get(), pkt.get());
            if (err == AVERROR_EOF) {
                input_done = true;
                break;
            }
            if (err < 0) {
                NED_LOG_WARN("[io] {}: read error after frame {} ({}); the video ends here (truncated file?)", path,
                             next_index, av::error_string(err));
                input_done = true;
                break;
            }
            if (pkt->stream_index != vi) {
                av_packet_unref(pkt.get());
                continue;
            }
            const int64_t index = packets++;
            if (pkt->flags & AV_PKT_FLAG_CORRUPT) {
                NED_LOG_WARN("[io] {}: video packet {} (decode order) is corrupt or cut short (truncated file?)", path,
                             index);
            }
            const int serr = avcodec_send_packet(dec.get(), pkt.get());
            av_packet_unref(pkt.get());
            errors_in_a_row = 0;
            if (serr < 0 && serr != AVERROR(EAGAIN)) {
                ++decode_errors;
                NED_LOG_WARN("[io] {}: cannot decode video packet {} (decode order) after frame {} ({}); skipped", path,
                             index, next_index, av::error_string(serr));
            }
            return true;
        }
    }
    avcodec_send_packet(dec.get(), nullptr);
    flushed = true;
    return true;
}

bool VideoReader::Impl::decode_next(Frame& out) {
    while (!finished) {
        const int err = avcodec_receive_frame(dec.get(), frame.get());
        if (err == AVERROR(EAGAIN)) {
            if (!feed()) finished = true;
            continue;
        }
        if (err == AVERROR_EOF) {
            finished = true;
            break;
        }
        if (err < 0) {
            // A damaged packet (e.g. the one cut short at the end of a truncated file). FFmpeg reports the
            // errors of the decoding itself here (with frame threads, for a packet sent earlier) and goes on
            // with the next frames, which may already be decoded: keep receiving, as the ffmpeg CLI does.
            // Ending the video here lost every frame still queued in the decoder (1 frame where ffmpeg has 3).
            ++decode_errors;
            if (++errors_in_a_row > kMaxErrorsInARow) {
                NED_LOG_WARN("[io] {}: decoding failed {} times in a row after frame {} ({}); the video ends here",
                             path, errors_in_a_row, next_index, av::error_string(err));
                finished = true;
                break;
            }
            NED_LOG_WARN("[io] {}: cannot decode a frame after frame {} ({}; damaged data); skipped", path, next_index,
                         av::error_string(err));
            continue;
        }
        errors_in_a_row = 0;
        if (frame->decode_error_flags || (frame->flags & AV_FRAME_FLAG_CORRUPT)) {
            NED_LOG_WARN("[io] {}: frame {} is damaged (truncated or corrupt data); kept as decoded", path, next_index);
        }
        int64_t pts = frame->best_effort_timestamp;
        if (pts == AV_NOPTS_VALUE) {
            pts = last_pts == AV_NOPTS_VALUE ? info.start_pts : last_pts + tick;
        } else if (last_pts != AV_NOPTS_VALUE && pts <= last_pts) {
            if (!warned_pts) {
                NED_LOG_WARN("[io] {}: frame {} has pts {} <= previous {}; timestamps made increasing", path,
                             next_index, pts, last_pts);
                warned_pts = true;
            }
            pts = last_pts + 1;
        }
        last_pts = pts;
        out.index = next_index++;
        out.pts = pts;
        out.time_s = static_cast<double>(pts) * av_q2d(st->time_base);
        convert(out);
        av_frame_unref(frame.get());
        return true;
    }
    if (!counted) {
        // The end of the stream: from now on info() holds the number of frames actually decoded.
        counted = true;
        info.frame_count = next_index;
        info.frame_count_exact = true;
        warn_if_short();
    }
    return false;
}

// At the end of the stream: warn when the frames end well before the duration the container announced,
// which is what a truncated file looks like.
void VideoReader::Impl::warn_if_short() const {
    // (The container's frame count is not used: AVI pads variable-rate video with empty frames.)
    const int64_t last = next_index > 0 ? next_index - 1 : 0;
    double expected_s = -1.0;
    if (st->duration != AV_NOPTS_VALUE && st->duration > 0) {
        expected_s =
            (st->start_time != AV_NOPTS_VALUE ? st->start_time + st->duration : st->duration) * av_q2d(st->time_base);
    } else if (const AVDictionaryEntry* d = av_dict_get(st->metadata, "DURATION", nullptr, 0)) {
        int h = 0, m = 0;
        double sec = 0;
        if (std::sscanf(d->value, "%d:%d:%lf", &h, &m, &sec) == 3) expected_s = h * 3600.0 + m * 60.0 + sec;
    } else if (info.audio.empty() && fmt->duration != AV_NOPTS_VALUE && fmt->duration > 0) {
        expected_s = static_cast<double>(fmt->duration) / AV_TIME_BASE;
    }
    if (expected_s <= 0 || last_pts == AV_NOPTS_VALUE) return;
    const double end_s = static_cast<double>(last_pts + tick) * av_q2d(st->time_base);
    const double frame_s = static_cast<double>(tick) * av_q2d(st->time_base);
    if (end_s + std::max(2.0 * frame_s, 0.25) < expected_s) {
        NED_LOG_WARN(
            "[io] {}: the video ends after frame {} at {:.3f} s but the container says {:.3f} s "
            "(truncated file?)",
            path, last, end_s, expected_s);
    }
}

void VideoReader::Impl::convert(Frame& out) {
    const int w = frame->width, h = frame->height, f = frame->format;
    const int cs = frame->colorspace;
    const bool full = frame->color_range == AVCOL_RANGE_JPEG || f == AV_PIX_FMT_YUVJ420P || f == AV_PIX_FMT_YUVJ422P ||
                      f == AV_PIX_FMT_YUVJ444P;
    if (!sws || w != sws_w || h != sws_h || f != sws_fmt || cs != sws_cs || int(full) != sws_range) {
        sws.reset(sws_getContext(w, h, static_cast<AVPixelFormat>(f), w, h,
                                 deep ? AV_PIX_FMT_BGR48LE : AV_PIX_FMT_BGR24, SWS_BICUBIC, nullptr, nullptr, nullptr));
        if (!sws) {
            const char* name = av_get_pix_fmt_name(static_cast<AVPixelFormat>(f));
            throw IoError(cat("[io] ", path, ": cannot convert frame ", next_index - 1, " from pixel format ",
                              name ? name : "?", " to BGR"));
        }
        // Honour the stream's YUV matrix and range (default BT.601 when unspecified).
        sws_setColorspaceDetails(sws.get(), sws_getCoefficients(cs), full ? 1 : 0, sws_getCoefficients(SWS_CS_DEFAULT),
                                 1, 0, 1 << 16, 1 << 16);
        sws_w = w, sws_h = h, sws_fmt = f, sws_cs = cs, sws_range = full;
    }
    // Always a fresh buffer (callers may keep earlier frames), with spare rows below the image: swscale's
    // SIMD paths may write a little past the end of the last row.
    const int pad_rows = 64 / ((deep ? 6 : 3) * w) + 2;
    cv::Mat padded(h + pad_rows, w, deep ? CV_16UC3 : CV_8UC3);
    cv::Mat bgr = padded.rowRange(0, h);
    uint8_t* dst[4] = {bgr.data, nullptr, nullptr, nullptr};
    int dst_stride[4] = {static_cast<int>(bgr.step[0]), 0, 0, 0};
    sws_scale(sws.get(), frame->data, frame->linesize, 0, h, dst, dst_stride);
    if (info.rotation == 0) {
        out.bgr = bgr;
        return;
    }
    cv::Mat rotated;  // fresh, for the same reason
    cv::rotate(bgr, rotated,
               info.rotation == 90    ? cv::ROTATE_90_CLOCKWISE
               : info.rotation == 180 ? cv::ROTATE_180
                                      : cv::ROTATE_90_COUNTERCLOCKWISE);
    out.bgr = rotated;
}

VideoReader::VideoReader(const std::string& path, int threads, FrameDepth depth) : impl_(std::make_unique<Impl>()) {
    Impl& m = *impl_;
    m.path = path;
    m.fmt = av::open_input(path);
    m.vi = av::find_video_stream(m.fmt.get(), path);
    m.st = m.fmt->streams[m.vi];
    m.info = av::describe(m.fmt.get(), m.vi, path);
    m.deep = depth == FrameDepth::Source && m.info.bit_depth > 8;
    for (unsigned i = 0; i < m.fmt->nb_streams; ++i)
        if (static_cast<int>(i) != m.vi) m.fmt->streams[i]->discard = AVDISCARD_ALL;

    const AVCodec* codec = avcodec_find_decoder(m.st->codecpar->codec_id);
    if (!codec) throw InputError(cat("no decoder for the ", m.info.codec, " video of '", path, "'"));
    m.dec.reset(avcodec_alloc_context3(codec));
    if (!m.dec) throw std::bad_alloc();
    int err = avcodec_parameters_to_context(m.dec.get(), m.st->codecpar);
    if (err < 0) throw IoError(cat("[io] ", path, ": cannot set up the decoder: ", av::error_string(err)));
    m.dec->pkt_timebase = m.st->time_base;
    m.dec->thread_count = threads > 0 ? threads : 0;
    m.dec->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
    err = avcodec_open2(m.dec.get(), codec, nullptr);
    if (err < 0)
        throw InputError(cat("cannot open the ", m.info.codec, " decoder for '", path, "': ", av::error_string(err)));
    m.pkt = av::make_packet();
    m.frame = av::make_frame();
    if (m.info.frame_rate.num > 0)
        m.tick = std::max<int64_t>(1, av_rescale_q(1, av_inv_q(av::to_av(m.info.frame_rate)), m.st->time_base));

    // Decode the first frame now so that an empty or undecodable video fails here, with a clear message.
    m.have_pending = m.decode_next(m.pending);
    if (!m.have_pending) {
        throw InputError(cat("video '", path, "' contains no decodable video frames (empty, truncated or corrupt)"));
    }
    m.info.start_pts = m.pending.pts;
}

VideoReader::~VideoReader() = default;

const VideoInfo& VideoReader::info() const { return impl_->info; }

bool VideoReader::read(Frame& frame) {
    Impl& m = *impl_;
    if (m.have_pending) {
        frame = std::move(m.pending);
        m.pending = Frame{};
        m.have_pending = false;
        return true;
    }
    return m.decode_next(frame);
}

}  // namespace ned::io
