// VideoWriter: BGR frames (8 or 16 bits, or grey) -> the output pix_fmt (libswscale, with the output's matrix and
// range) -> libx264 / libx265 / prores_ks / ffv1 at the caller's timestamps, muxed with every
// audio stream of the source copied packet for packet. The source is opened a second time for its audio
// packets, which are written in dts order alongside the video packets (bounded memory).
#include <opencv2/core.hpp>

#include <algorithm>
#include <exception>
#include <cstring>
#include <filesystem>

#include "io/av_ptr.hpp"
#include "io/writer_format.hpp"
#include "ned/core/error.hpp"
#include "ned/core/log.hpp"

namespace ned::io {
namespace {

struct AudioMap {
    int in_index;
    int out_index;
    AVRational in_tb;
    int64_t offset = 0;  // added to the timestamps in the output time base (see the Matroska note below)
};

}  // namespace

struct VideoWriter::Impl {
    std::string path;
    VideoInfo source;
    VideoWriterOptions options;
    av::OutputContextPtr out;
    av::CodecContextPtr enc;
    av::SwsPtr sws;
    int sws_input = -1;  // the AVPixelFormat `sws` converts from (BGR24, BGR48LE, GRAY8, GRAY16LE)
    AVPixelFormat pix_fmt = AV_PIX_FMT_YUV420P;
    av::OutputColor color;
    av::FramePtr yuv;
    av::PacketPtr pkt;
    AVStream* vst = nullptr;
    cv::Mat staging;            // the input frame with spare rows for swscale
    int width = 0, height = 0;  // encoded size (display size rounded up to the chroma subsampling)
    int64_t last_pts = AV_NOPTS_VALUE;
    int64_t frames = 0;
    bool finished = false;
    bool failed = false;  // a write failed (disk full, ...): the file is abandoned, never finished
    bool header_written = false;
    int uncaught_at_start = std::uncaught_exceptions();  // > this in the destructor: it runs while unwinding

    // Audio copied from a second demuxer on the source.
    av::InputContextPtr audio_in;
    std::vector<AudioMap> audio_map;  // by input stream index lookups
    av::PacketPtr audio_pkt;          // the next audio packet not yet written (read ahead)
    bool audio_pending = false;
    bool audio_done = true;
    int64_t audio_packets = 0;

    const AudioMap* map_for(int in_index) const {
        for (const auto& m : audio_map)
            if (m.in_index == in_index) return &m;
        return nullptr;
    }
    void read_audio();
    void write_audio_until(int64_t ts, AVRational tb, bool all);
    void drain(bool flushing);
    void write_packet(AVPacket* p);

    // The constructor's steps, in order.
    void open_container(const std::string& out_path);
    AVRational open_encoder();
    void set_codec_options(AVCodecContext* c) const;
    void map_audio();
    void write_header(const std::string& out_path);
    void offset_opus_audio();
    void make_converter();
    void convert(const cv::Mat& src);
};

void VideoWriter::Impl::write_packet(AVPacket* p) {
    const int err = av_interleaved_write_frame(out.get(), p);
    if (err < 0) {
        failed = true;
        throw IoError(cat("[io] ", path, ": cannot write a packet: ", av::error_string(err)));
    }
}

void VideoWriter::Impl::read_audio() {
    audio_pending = false;
    while (!audio_done) {
        const int err = av_read_frame(audio_in.get(), audio_pkt.get());
        if (err == AVERROR_EOF) {
            audio_done = true;
            break;
        }
        if (err < 0) {
            NED_LOG_WARN("[io] {}: read error after {} audio packets ({}); the rest of the audio is dropped",
                         source.path, audio_packets, av::error_string(err));
            audio_done = true;
            break;
        }
        if (map_for(audio_pkt->stream_index)) {
            audio_pending = true;
            return;
        }
        av_packet_unref(audio_pkt.get());
    }
}

// Write the read-ahead audio packets whose dts is <= ts (in tb), or all of them.
void VideoWriter::Impl::write_audio_until(int64_t ts, AVRational tb, bool all) {
    while (audio_pending) {
        const AudioMap* m = map_for(audio_pkt->stream_index);
        if (!m) {  // never expected: read_audio only keeps mapped packets
            audio_pending = false;
            av_packet_unref(audio_pkt.get());
            throw IoError(cat("[io] ", path, ": internal audio packet of unmapped stream"));
        }
        const int64_t t = audio_pkt->dts != AV_NOPTS_VALUE ? audio_pkt->dts : audio_pkt->pts;
        if (!all && t != AV_NOPTS_VALUE && ts != AV_NOPTS_VALUE && av_compare_ts(t, m->in_tb, ts, tb) > 0) return;
        AVStream* ost = out->streams[m->out_index];
        audio_pkt->stream_index = m->out_index;
        av_packet_rescale_ts(audio_pkt.get(), m->in_tb, ost->time_base);
        if (m->offset) {
            if (audio_pkt->pts != AV_NOPTS_VALUE) audio_pkt->pts += m->offset;
            if (audio_pkt->dts != AV_NOPTS_VALUE) audio_pkt->dts += m->offset;
        }
        audio_pkt->pos = -1;
        audio_pending = false;          // consumed even when the write fails (its stream index is remapped)
        write_packet(audio_pkt.get());  // takes the reference
        ++audio_packets;
        read_audio();
    }
}

// Receive every packet the encoder has ready and mux it (after the audio that comes before it).
void VideoWriter::Impl::drain(bool flushing) {
    for (;;) {
        const int err = avcodec_receive_packet(enc.get(), pkt.get());
        if (err == AVERROR(EAGAIN) || err == AVERROR_EOF) return;
        if (err < 0)
            throw IoError(cat("[io] ", path, ": the ", av::codec_label(options.codec),
                              " encoder failed: ", av::error_string(err)));
        pkt->stream_index = vst->index;
        av_packet_rescale_ts(pkt.get(), enc->time_base, vst->time_base);
        const int64_t t = pkt->dts != AV_NOPTS_VALUE ? pkt->dts : pkt->pts;
        write_audio_until(t, vst->time_base, false);
        write_packet(pkt.get());
    }
}

/// The output context, its container chosen from `out_path`'s extension (checked by check_writer_options).
void VideoWriter::Impl::open_container(const std::string& out_path) {
    AVFormatContext* raw = nullptr;
    const int err = avformat_alloc_output_context2(&raw, nullptr, nullptr, out_path.c_str());
    if (err < 0 || !raw)
        throw InputError(cat("cannot choose a container for '", path, "' from its extension; use .mp4, .mov or .mkv"));
    out.reset(raw);
}

/// The encoder's own settings: rate control (x264/x265), ProRes profile, FFV1 level and slice CRCs.
void VideoWriter::Impl::set_codec_options(AVCodecContext* c) const {
    switch (options.codec) {
        case Codec::H264:
        case Codec::H265:
            av_opt_set(c->priv_data, "preset", options.preset.c_str(), 0);
            av_opt_set_int(c->priv_data, "crf", options.crf, 0);
            if (options.codec == Codec::H265) av_opt_set(c->priv_data, "x265-params", "log-level=error", 0);
            break;
        case Codec::ProRes: {  // 3 = 422 HQ, 4 = 4444 (with alpha when the pix_fmt has it)
            const AVPixFmtDescriptor* d = av_pix_fmt_desc_get(pix_fmt);
            av_opt_set_int(c->priv_data, "profile", d && d->log2_chroma_w == 0 ? 4 : 3, 0);
            av_opt_set(c->priv_data, "vendor", "apl0", 0);
            break;
        }
        case Codec::Ffv1:  // FFV1 version 3, every frame a keyframe, slices protected by CRCs (archival settings)
            c->level = 3;
            c->gop_size = 1;
            av_opt_set_int(c->priv_data, "slicecrc", 1, 0);
            break;
    }
}

/// Opens the encoder at the source's time base (returned) and size (rounded up to the pix_fmt's chroma
/// subsampling), with the output's colour tags, and the video stream.
AVRational VideoWriter::Impl::open_encoder() {
    const AVCodec* codec = avcodec_find_encoder_by_name(av::encoder_name(options.codec));
    if (!codec) throw IoError(cat("[io] the ", av::encoder_name(options.codec), " encoder is not available"));
    enc.reset(avcodec_alloc_context3(codec));
    if (!enc) throw std::bad_alloc();
    const std::string pix_fmt_name = output_pix_fmt(source, options);
    pix_fmt = av_get_pix_fmt(pix_fmt_name.c_str());
    color = av::output_color(source, options, pix_fmt);

    const AVPixFmtDescriptor* desc = av_pix_fmt_desc_get(pix_fmt);
    const int mw = (1 << desc->log2_chroma_w) - 1, mh = (1 << desc->log2_chroma_h) - 1;
    width = (source.display_width + mw) & ~mw;
    height = (source.display_height + mh) & ~mh;
    if (width != source.display_width || height != source.display_height)
        NED_LOG_WARN("[io] {}: {}x{} frames are padded to {}x{} ({} needs even sizes)", path, source.display_width,
                     source.display_height, width, height, pix_fmt_name);

    AVRational tb = av::to_av(source.time_base);
    if (tb.num <= 0 || tb.den <= 0) {
        tb = source.frame_rate.num > 0 ? av_inv_q(av::to_av(source.frame_rate)) : AVRational{1, 90000};
        NED_LOG_WARN("[io] {}: source time base unknown; using {}/{}", path, tb.num, tb.den);
    }
    AVCodecContext* c = enc.get();
    c->width = width;
    c->height = height;
    c->pix_fmt = pix_fmt;
    c->time_base = tb;
    if (source.frame_rate.num > 0 && source.frame_rate.den > 0) c->framerate = av::to_av(source.frame_rate);
    c->sample_aspect_ratio = AVRational{1, 1};
    // The matrix and range the conversion in write() uses (BT.601 limited when the source says nothing).
    c->color_primaries = color.primaries;
    c->color_trc = color.transfer;
    c->colorspace = color.matrix;
    c->color_range = color.range;
    c->thread_count = options.threads > 0 ? options.threads : 0;
    if (out->oformat->flags & AVFMT_GLOBALHEADER) c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    set_codec_options(c);
    int err = avcodec_open2(c, codec, nullptr);
    if (err < 0)
        throw IoError(
            cat("[io] ", path, ": cannot open ", av::encoder_name(options.codec), ": ", av::error_string(err)));

    vst = avformat_new_stream(out.get(), nullptr);
    if (!vst) throw std::bad_alloc();
    err = avcodec_parameters_from_context(vst->codecpar, c);
    if (err < 0) throw IoError(cat("[io] ", path, ": cannot set up the video stream: ", av::error_string(err)));
    // H.265 in .mp4/.mov as 'hvc1', the tag Apple's players and editors read.
    const std::string muxer = out->oformat->name;
    if (options.codec == Codec::H265 && (muxer == "mp4" || muxer == "mov"))
        vst->codecpar->codec_tag = MKTAG('h', 'v', 'c', '1');
    vst->time_base = tb;
    vst->avg_frame_rate = c->framerate;
    return tb;
}

/// One output stream per audio stream of the source (copied, not re-encoded), read from a second demuxer.
void VideoWriter::Impl::map_audio() {
    if (!options.copy_audio || source.audio.empty()) return;
    const AVOutputFormat* ofmt = out->oformat;
    audio_in = av::open_input(source.path);
    for (unsigned i = 0; i < audio_in->nb_streams; ++i) {
        AVStream* ist = audio_in->streams[i];
        if (ist->codecpar->codec_type != AVMEDIA_TYPE_AUDIO) {
            ist->discard = AVDISCARD_ALL;
            continue;
        }
        const char* cname = avcodec_get_name(ist->codecpar->codec_id);
        const int q = avformat_query_codec(ofmt, ist->codecpar->codec_id, FF_COMPLIANCE_NORMAL);
        if (q == 0) {
            throw InputError(cat("audio stream #", i, " of '", source.path, "' is ", cname, ", which the ", ofmt->name,
                                 " container of '", path,
                                 "' cannot hold without re-encoding; write a .mkv output instead"));
        }
        AVStream* ost = avformat_new_stream(out.get(), nullptr);
        if (!ost) throw std::bad_alloc();
        const int err = avcodec_parameters_copy(ost->codecpar, ist->codecpar);
        if (err < 0) throw IoError(cat("[io] ", path, ": cannot copy audio stream #", i));
        ost->codecpar->codec_tag = 0;
        ost->time_base = ist->time_base;
        ost->disposition = ist->disposition;
        if (const AVDictionaryEntry* lang = av_dict_get(ist->metadata, "language", nullptr, 0))
            av_dict_set(&ost->metadata, "language", lang->value, 0);
        audio_map.push_back({static_cast<int>(i), ost->index, ist->time_base});
    }
    audio_pkt = av::make_packet();
    audio_done = audio_map.empty();
}

/// Creates the file and writes the container header (with the caller's metadata).
void VideoWriter::Impl::write_header(const std::string& out_path) {
    const AVOutputFormat* ofmt = out->oformat;
    int err = 0;
    if (!(ofmt->flags & AVFMT_NOFILE)) {
        err = avio_open(&out->pb, out_path.c_str(), AVIO_FLAG_WRITE);
        if (err < 0) throw IoError(cat("cannot create '", path, "': ", av::error_string(err)));
    }
    // Keep the source's timestamps: by default libavformat shifts every stream when one starts below zero
    // (Opus pre-skip, AAC priming), which would move the video too. Matroska stores such audio itself.
    const bool matroska = std::string(ofmt->name) == "matroska";
    if (matroska) out->avoid_negative_ts = AVFMT_AVOID_NEG_TS_DISABLED;
    for (const auto& [key, value] : options.metadata) av_dict_set(&out->metadata, key.c_str(), value.c_str(), 0);
    err = avformat_write_header(out.get(), nullptr);
    if (err < 0) {
        // Most often an audio codec the muxer refuses at header time.
        throw InputError(cat("cannot write the ", ofmt->name, " header of '", path, "': ", av::error_string(err),
                             audio_map.empty() ? "" : " (if the audio codec is the problem, write a .mkv output)"));
    }
    header_written = true;
    if (matroska) offset_opus_audio();
}

// Matroska: the muxer (FFmpeg 5.1) stores an Opus stream's pre-skip as CodecDelay and the demuxer
// subtracts it from every timestamp, but the muxer does not add it when writing. Add it here so that the
// copied packets read back at their source timestamps (checked by the data round-trip tests).
void VideoWriter::Impl::offset_opus_audio() {
    for (auto& a : audio_map) {
        const AVCodecParameters* par = out->streams[a.out_index]->codecpar;
        if (par->codec_id != AV_CODEC_ID_OPUS) continue;
        int64_t pre_skip = par->initial_padding;  // samples at 48 kHz
        if (pre_skip <= 0 && par->extradata_size >= 19 && std::memcmp(par->extradata, "OpusHead", 8) == 0)
            pre_skip = par->extradata[10] | (par->extradata[11] << 8);
        if (pre_skip <= 0) continue;
        const int64_t delay_ns = av_rescale_q(pre_skip, AVRational{1, 48000}, AVRational{1, 1000000000});
        a.offset = av_rescale_q(delay_ns, AVRational{1, 1000000000}, out->streams[a.out_index]->time_base);
        NED_LOG_DEBUG("[io] {}: Opus pre-skip {} samples: audio stream #{} timestamps +{}", path, pre_skip, a.out_index,
                      a.offset);
    }
}

/// The frame in the output pix_fmt and the packet every write uses (the converter is made by the first write).
void VideoWriter::Impl::make_converter() {
    yuv = av::make_frame();
    yuv->format = pix_fmt;
    yuv->width = width;
    yuv->height = height;
    yuv->color_primaries = color.primaries;
    yuv->color_trc = color.transfer;
    yuv->colorspace = color.matrix;
    yuv->color_range = color.range;
    const int err = av_frame_get_buffer(yuv.get(), 0);
    if (err < 0) throw std::bad_alloc();
    pkt = av::make_packet();
}

/// Converts the staged frame `src` into `yuv` with the output's matrix and range. The converter is made for the
/// first frame's type and again when the type changes; for BGR24 -> BT.601 limited range it is swscale's default
/// one (no colourspace details set), as it always was.
void VideoWriter::Impl::convert(const cv::Mat& src) {
    const int depth = src.depth() == CV_16U ? 16 : 8;
    const AVPixelFormat in = src.channels() == 1 ? (depth == 16 ? AV_PIX_FMT_GRAY16LE : AV_PIX_FMT_GRAY8)
                                                 : (depth == 16 ? AV_PIX_FMT_BGR48LE : AV_PIX_FMT_BGR24);
    if (!sws || sws_input != in) {
        sws.reset(sws_getContext(width, height, in, width, height, pix_fmt, SWS_BICUBIC, nullptr, nullptr, nullptr));
        if (!sws)
            throw IoError(cat("[io] cannot create the ", av_get_pix_fmt_name(in), " -> ", av_get_pix_fmt_name(pix_fmt),
                              " converter"));
        if (!color.sws_default || in != AV_PIX_FMT_BGR24) {
            const int* table =
                sws_getCoefficients(color.matrix == AVCOL_SPC_UNSPECIFIED ? SWS_CS_DEFAULT : color.matrix);
            sws_setColorspaceDetails(sws.get(), table, 1, table, color.range == AVCOL_RANGE_JPEG ? 1 : 0, 0, 1 << 16,
                                     1 << 16);
        }
        sws_input = in;
    }
    const uint8_t* planes[4] = {src.data, nullptr, nullptr, nullptr};
    const int strides[4] = {static_cast<int>(src.step[0]), 0, 0, 0};
    sws_scale(sws.get(), planes, strides, 0, height, yuv->data, yuv->linesize);
}

VideoWriter::VideoWriter(const std::string& out_path, const VideoInfo& source, const VideoWriterOptions& options)
    : impl_(std::make_unique<Impl>()) {
    av::install_log_callback();
    Impl& m = *impl_;
    m.path = options.name.empty() ? out_path : options.name;
    m.source = source;
    m.options = options;
    av::check_writer_options(out_path, m.path, source, options);
    m.open_container(out_path);
    const AVRational tb = m.open_encoder();
    m.map_audio();
    m.write_header(out_path);
    m.make_converter();
    if (!m.audio_done) m.read_audio();
    NED_LOG_DEBUG("[io] writing {} ({}x{}, time base {}/{}, stream time base {}/{}, {} audio stream(s) copied)", m.path,
                  m.width, m.height, tb.num, tb.den, m.vst->time_base.num, m.vst->time_base.den, m.audio_map.size());
}

VideoWriter::~VideoWriter() {
    // After a failed write the output is abandoned (the caller's AtomicFile removes it): finishing would only
    // write more into a broken file. The same when the destructor runs because an exception is leaving the
    // caller: the run is failing, its output will be removed, and finishing it would only log noise (e.g.
    // "no frames were written" before the error line).
    if (impl_ && !impl_->finished && !impl_->failed && impl_->header_written &&
        std::uncaught_exceptions() <= impl_->uncaught_at_start) {
        try {
            finish();
        } catch (const std::exception& e) {
            NED_LOG_ERROR("[io] {}: finishing the video failed: {}", impl_->path, e.what());
        }
    }
}

void VideoWriter::write(const Frame& frame) {
    Impl& m = *impl_;
    if (m.finished) throw Error(cat("[io] ", m.path, ": write() after finish()"));
    const int type = frame.bgr.type();
    const bool type_ok = type == CV_8UC3 || type == CV_16UC3 || type == CV_8UC1 || type == CV_16UC1;
    if (!type_ok || frame.bgr.cols != m.source.display_width || frame.bgr.rows != m.source.display_height)
        throw Error(cat("[io] ", m.path, ": frame ", frame.index, " is ", frame.bgr.cols, "x", frame.bgr.rows,
                        " (type ", type, "), expected ", m.source.display_width, "x", m.source.display_height,
                        " CV_8UC3, CV_16UC3, CV_8UC1 or CV_16UC1"));
    if (m.last_pts != AV_NOPTS_VALUE && frame.pts <= m.last_pts)
        throw Error(cat("[io] ", m.path, ": frame ", frame.index, " has pts ", frame.pts,
                        ", not after the previous frame's ", m.last_pts));
    // Stage the frame in a buffer with spare rows (swscale's SIMD paths may read past the last row) and,
    // for odd sizes, replicate the last row/column up to the encoded size.
    if (m.staging.type() != type)
        m.staging.create(m.height + 64 / (static_cast<int>(frame.bgr.elemSize()) * m.width) + 2, m.width, type);
    cv::Mat src = m.staging.rowRange(0, m.height);
    if (m.width != frame.bgr.cols || m.height != frame.bgr.rows) {
        cv::copyMakeBorder(frame.bgr, src, 0, m.height - frame.bgr.rows, 0, m.width - frame.bgr.cols,
                           cv::BORDER_REPLICATE);
    } else {
        frame.bgr.copyTo(src);
    }
    CV_Assert(src.data == m.staging.data);
    int err = av_frame_make_writable(m.yuv.get());
    if (err < 0) throw std::bad_alloc();
    m.convert(src);
    m.yuv->pts = frame.pts;
    err = avcodec_send_frame(m.enc.get(), m.yuv.get());
    if (err < 0)
        throw IoError(cat("[io] ", m.path, ": the ", av::codec_label(m.options.codec), " encoder refused frame ",
                          frame.index, ": ", av::error_string(err)));
    m.last_pts = frame.pts;
    ++m.frames;
    m.drain(false);
}

void VideoWriter::finish() {
    Impl& m = *impl_;
    if (m.finished) return;
    m.finished = true;  // even on failure: never retry from the destructor
    if (m.failed) throw IoError(cat("[io] ", m.path, ": cannot finish after a failed write"));
    int err = avcodec_send_frame(m.enc.get(), nullptr);
    if (err < 0 && err != AVERROR_EOF)
        throw IoError(cat("[io] ", m.path, ": cannot flush the ", av::codec_label(m.options.codec),
                          " encoder: ", av::error_string(err)));
    m.drain(true);
    m.write_audio_until(AV_NOPTS_VALUE, AVRational{1, 1}, true);
    err = av_interleaved_write_frame(m.out.get(), nullptr);  // flush the interleaving queue
    if (err < 0) throw IoError(cat("[io] ", m.path, ": cannot flush the muxer: ", av::error_string(err)));
    err = av_write_trailer(m.out.get());
    if (err < 0) throw IoError(cat("[io] ", m.path, ": cannot write the trailer: ", av::error_string(err)));
    if (!(m.out->oformat->flags & AVFMT_NOFILE)) avio_closep(&m.out->pb);
    if (m.frames == 0) NED_LOG_WARN("[io] {}: no frames were written", m.path);
    NED_LOG_DEBUG("[io] {}: wrote {} frames and {} audio packets", m.path, m.frames, m.audio_packets);
}

}  // namespace ned::io
