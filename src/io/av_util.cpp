// Helpers shared by the reader, the writer and probe(): libav log routing, opening inputs with clear
// InputError messages, stream description (rotation, rates, audio streams).
#include <cmath>
#include <cstdarg>
#include <filesystem>
#include <mutex>
#include <new>
#include <vector>

#include "io/av_ptr.hpp"
#include "ned/core/error.hpp"
#include "ned/core/log.hpp"

namespace ned::io::av {
namespace {

// libav writes its own diagnostics to stderr; route them into our logger at debug level so that the
// user sees one clear error line from ned (and the libav detail with -v).
void log_callback(void* avcl, int level, const char* fmt, va_list vl) {
    if (level > AV_LOG_VERBOSE) return;
    auto& logger = ned::log::get();
    if (!logger.should_log(spdlog::level::debug)) return;
    thread_local int print_prefix = 1;
    char line[1024];
    av_log_format_line2(avcl, level, fmt, vl, line, sizeof(line), &print_prefix);
    std::string text(line);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    if (text.empty()) return;
    if (level <= AV_LOG_WARNING) {
        NED_LOG_DEBUG("[io] libav: {}", text);
    } else {
        NED_LOG_TRACE("[io] libav: {}", text);
    }
}

}  // namespace

void install_log_callback() {
    static std::once_flag once;
    std::call_once(once, [] { av_log_set_callback(log_callback); });
}

FramePtr make_frame() {
    FramePtr f(av_frame_alloc());
    if (!f) throw std::bad_alloc();
    return f;
}

PacketPtr make_packet() {
    PacketPtr p(av_packet_alloc());
    if (!p) throw std::bad_alloc();
    return p;
}

std::string error_string(int errnum) {
    char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
    av_strerror(errnum, buf, sizeof(buf));
    return buf;
}

InputContextPtr open_input(const std::string& path) {
    install_log_callback();
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::exists(path, ec)) throw InputError(cat("video '", path, "' does not exist"));
    if (!fs::is_regular_file(path, ec)) throw InputError(cat("video '", path, "' is not a regular file"));
    AVFormatContext* raw = nullptr;
    int err = avformat_open_input(&raw, path.c_str(), nullptr, nullptr);
    if (err < 0) {
        throw InputError(
            cat("cannot read video '", path, "': ", error_string(err), " (not a video file, or a truncated one)"));
    }
    InputContextPtr fmt(raw);
    err = avformat_find_stream_info(fmt.get(), nullptr);
    if (err < 0) {
        throw InputError(
            cat("cannot read the streams of video '", path, "': ", error_string(err), " (corrupt or truncated file?)"));
    }
    return fmt;
}

int find_video_stream(const AVFormatContext* fmt, const std::string& path) {
    int best = av_find_best_stream(const_cast<AVFormatContext*>(fmt), AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
    if (best >= 0 && !(fmt->streams[best]->disposition & AV_DISPOSITION_ATTACHED_PIC)) return best;
    for (unsigned i = 0; i < fmt->nb_streams; ++i) {
        const AVStream* st = fmt->streams[i];
        if (st->codecpar->codec_type == AVMEDIA_TYPE_VIDEO && !(st->disposition & AV_DISPOSITION_ATTACHED_PIC))
            return static_cast<int>(i);
    }
    int n_audio = 0;
    for (unsigned i = 0; i < fmt->nb_streams; ++i)
        n_audio += fmt->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_AUDIO;
    throw InputError(
        cat("'", path, "' has no video stream", n_audio ? " (it is an audio-only file)" : "", "; expected a video"));
}

int stream_rotation(const AVStream* st) {
    size_t size = 0;
    const uint8_t* sd = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, &size);
    if (!sd || size < 9 * sizeof(int32_t)) return 0;
    // av_display_rotation_get: counter-clockwise degrees; we report clockwise.
    const double ccw = av_display_rotation_get(reinterpret_cast<const int32_t*>(sd));
    if (std::isnan(ccw)) return 0;
    long cw = std::lround(-ccw / 90.0) * 90;
    cw %= 360;
    if (cw < 0) cw += 360;
    return static_cast<int>(cw);
}

void describe_pixels(const AVCodecParameters* par, VideoInfo& info) {
    const auto format = static_cast<AVPixelFormat>(par->format);
    const AVPixFmtDescriptor* desc = par->format >= 0 ? av_pix_fmt_desc_get(format) : nullptr;
    info.pix_fmt = desc ? desc->name : "";
    info.color.primaries = par->color_primaries;
    info.color.transfer = par->color_trc;
    info.color.matrix = par->color_space;
    info.color.range = par->color_range;
    if (!desc) return;
    info.bit_depth = desc->comp[0].depth;
    info.has_alpha = (desc->flags & AV_PIX_FMT_FLAG_ALPHA) != 0;
    if (desc->nb_components - (info.has_alpha ? 1 : 0) == 1) {
        info.chroma = "gray";
    } else if ((desc->flags & AV_PIX_FMT_FLAG_RGB) || (desc->log2_chroma_w == 0 && desc->log2_chroma_h == 0)) {
        info.chroma = "444";
    } else if (desc->log2_chroma_h == 0) {
        info.chroma = "422";  // (4:1:1 kept as the nearest layout an encoder holds)
    } else {
        info.chroma = "420";
    }
    // The deprecated yuvj* formats are full range whatever the tag says.
    if (format == AV_PIX_FMT_YUVJ420P || format == AV_PIX_FMT_YUVJ422P || format == AV_PIX_FMT_YUVJ444P ||
        format == AV_PIX_FMT_YUVJ440P || format == AV_PIX_FMT_YUVJ411P)
        info.color.range = AVCOL_RANGE_JPEG;
}

VideoInfo describe(const AVFormatContext* fmt, int video_index, const std::string& path) {
    VideoInfo info;
    info.path = path;
    info.container = fmt->iformat ? fmt->iformat->name : "";
    const AVStream* st = fmt->streams[video_index];
    const AVCodecParameters* par = st->codecpar;
    info.stream_index = video_index;
    info.codec = avcodec_get_name(par->codec_id);
    info.width = par->width;
    info.height = par->height;
    info.rotation = stream_rotation(st);
    const bool swap = info.rotation == 90 || info.rotation == 270;
    info.display_width = swap ? info.height : info.width;
    info.display_height = swap ? info.width : info.height;
    AVRational fr = st->avg_frame_rate;
    if (fr.num <= 0 || fr.den <= 0) fr = st->r_frame_rate;
    if (fr.num <= 0 || fr.den <= 0) fr = AVRational{0, 1};
    info.frame_rate = to_rational(fr);
    info.time_base = to_rational(st->time_base);
    describe_pixels(par, info);
    info.start_pts = st->start_time != AV_NOPTS_VALUE ? st->start_time : 0;
    if (fmt->duration != AV_NOPTS_VALUE && fmt->duration > 0) {
        info.duration_s = static_cast<double>(fmt->duration) / AV_TIME_BASE;
    } else if (st->duration != AV_NOPTS_VALUE && st->duration > 0) {
        info.duration_s = static_cast<double>(st->duration) * av_q2d(st->time_base);
    }
    if (st->nb_frames > 0) {
        info.frame_count = st->nb_frames;
    } else if (fr.num > 0) {
        info.frame_count = std::llround(info.duration_s * av_q2d(fr));
    }
    // A truncated file whose index (an mp4 moov at the front) lists samples past the end of the file: only the
    // samples wholly inside the file can be read, so the estimate counts those (not the index's total).
    if (fmt->pb && (fmt->pb->seekable & AVIO_SEEKABLE_NORMAL)) {
        AVStream* vs = fmt->streams[video_index];
        const int64_t file_size = avio_size(fmt->pb);
        const int n = avformat_index_get_entries_count(vs);
        int64_t inside = 0;
        bool sized = n > 0, beyond = false;
        for (int i = 0; i < n && sized; ++i) {
            const AVIndexEntry* e = avformat_index_get_entry(vs, i);
            if (!e || e->size <= 0 || e->pos < 0) {
                sized = false;
            } else if (e->pos + e->size > file_size) {
                beyond = true;
            } else if (!(e->flags & AVINDEX_DISCARD_FRAME)) {
                ++inside;
            }
        }
        if (file_size > 0 && sized && beyond) info.frame_count = inside;
    }
    info.frame_count_exact = false;
    for (unsigned i = 0; i < fmt->nb_streams; ++i) {
        const AVCodecParameters* ap = fmt->streams[i]->codecpar;
        if (ap->codec_type != AVMEDIA_TYPE_AUDIO) continue;
        AudioStreamInfo a;
        a.index = static_cast<int>(i);
        a.codec = avcodec_get_name(ap->codec_id);
        a.sample_rate = ap->sample_rate;
        a.channels = ap->ch_layout.nb_channels;
        a.bit_rate = ap->bit_rate;
        info.audio.push_back(a);
    }
    return info;
}

}  // namespace ned::io::av

namespace ned::io {
namespace {

// Frames the decoder of `st` returns for `packets` (decoded from scratch on one thread, errors skipped as the
// reader skips them).
int64_t decoded_frames(const AVStream* st, const std::vector<av::PacketPtr>& packets, size_t n) {
    const AVCodec* codec = avcodec_find_decoder(st->codecpar->codec_id);
    if (!codec) return 0;
    av::CodecContextPtr dec(avcodec_alloc_context3(codec));
    if (!dec) throw std::bad_alloc();
    if (avcodec_parameters_to_context(dec.get(), st->codecpar) < 0) return 0;
    dec->pkt_timebase = st->time_base;
    dec->thread_count = 1;
    if (avcodec_open2(dec.get(), codec, nullptr) < 0) return 0;
    auto frame = av::make_frame();
    int64_t frames = 0;
    auto drain = [&] {
        for (int errors = 0;;) {
            const int err = avcodec_receive_frame(dec.get(), frame.get());
            if (err == AVERROR(EAGAIN) || err == AVERROR_EOF) return;
            if (err < 0) {
                if (++errors > 64) return;
                continue;
            }
            ++frames;
            av_frame_unref(frame.get());
        }
    };
    for (size_t i = 0; i < n; ++i) {
        avcodec_send_packet(dec.get(), packets[i].get());
        drain();
    }
    avcodec_send_packet(dec.get(), nullptr);
    drain();
    return frames;
}

}  // namespace

VideoInfo probe(const std::string& path, bool count_frames) {
    auto fmt = av::open_input(path);
    const int vi = av::find_video_stream(fmt.get(), path);
    VideoInfo info = av::describe(fmt.get(), vi, path);
    if (!count_frames) return info;

    for (unsigned i = 0; i < fmt->nb_streams; ++i)
        if (static_cast<int>(i) != vi) fmt->streams[i]->discard = AVDISCARD_ALL;
    auto pkt = av::make_packet();
    int64_t count = 0;
    bool last_corrupt = false;  // the last video packet counted was flagged corrupt (e.g. cut short)
    // The video packets since the last keyframe (at most kMaxTailBytes), to settle a damaged last packet.
    constexpr size_t kMaxTailBytes = size_t(64) << 20;
    std::vector<av::PacketPtr> tail;
    size_t tail_bytes = 0;
    bool tail_ok = true;
    for (;;) {
        const int err = av_read_frame(fmt.get(), pkt.get());
        if (err == AVERROR_EOF) break;
        if (err < 0) {
            NED_LOG_WARN("[io] {}: read error after video packet {} ({}); counting stops here (truncated file?)", path,
                         count, av::error_string(err));
            break;
        }
        if (pkt->stream_index == vi) {
            if (pkt->flags & AV_PKT_FLAG_KEY) tail.clear(), tail_bytes = 0, tail_ok = true;
            if (tail_ok && tail_bytes + pkt->size > kMaxTailBytes) tail.clear(), tail_ok = false;
            if (tail_ok) {
                av::PacketPtr copy(av_packet_clone(pkt.get()));
                if (!copy) throw std::bad_alloc();
                tail_bytes += pkt->size;
                tail.push_back(std::move(copy));
            }
            if (!(pkt->flags & AV_PKT_FLAG_DISCARD)) {
                ++count;
                last_corrupt = (pkt->flags & AV_PKT_FLAG_CORRUPT) != 0;
            }
        }
        av_packet_unref(pkt.get());
    }
    // A damaged last packet (typically the one cut short by the end of a truncated file) gives a frame or not
    // depending on the codec (H.264 none, MJPEG / MPEG-4 a damaged one): decode the last keyframe's group with
    // and without it so that frame_count is what VideoReader returns.
    if (last_corrupt && tail_ok && !tail.empty()) {
        const AVStream* st = fmt->streams[vi];
        const int64_t with = decoded_frames(st, tail, tail.size());
        const int64_t without = decoded_frames(st, tail, tail.size() - 1);
        if (with <= without) {
            --count;
            NED_LOG_DEBUG("[io] {}: the last video packet is damaged and holds no decodable frame; not counted", path);
        }
    }
    if (count == 0) throw InputError(cat("video '", path, "' contains no video frames"));
    info.frame_count = count;
    info.frame_count_exact = true;
    return info;
}

double StreamPackets::pts_s(size_t i) const {
    if (i >= pts.size() || pts[i] == AV_NOPTS_VALUE) return std::nan("");
    return static_cast<double>(pts[i]) * time_base.value();
}

StreamPackets read_stream_packets(const std::string& path, int stream_index) {
    auto fmt = av::open_input(path);
    if (stream_index < 0 || stream_index >= static_cast<int>(fmt->nb_streams))
        throw InputError(cat("'", path, "' has no stream #", stream_index, " (it has ", fmt->nb_streams, ")"));
    for (unsigned i = 0; i < fmt->nb_streams; ++i)
        if (static_cast<int>(i) != stream_index) fmt->streams[i]->discard = AVDISCARD_ALL;
    const AVStream* st = fmt->streams[stream_index];
    StreamPackets out;
    out.index = stream_index;
    out.codec = avcodec_get_name(st->codecpar->codec_id);
    out.time_base = av::to_rational(st->time_base);
    auto pkt = av::make_packet();
    for (;;) {
        const int err = av_read_frame(fmt.get(), pkt.get());
        if (err == AVERROR_EOF) break;
        if (err < 0) {
            NED_LOG_WARN("[io] {}: read error after packet {} of stream #{} ({})", path, out.data.size(), stream_index,
                         av::error_string(err));
            break;
        }
        if (pkt->stream_index == stream_index) {
            out.pts.push_back(pkt->pts);
            out.dts.push_back(pkt->dts);
            out.data.emplace_back(pkt->data, pkt->data + pkt->size);
        }
        av_packet_unref(pkt.get());
    }
    return out;
}

}  // namespace ned::io
