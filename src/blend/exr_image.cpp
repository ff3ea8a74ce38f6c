// OpenEXR images through FFmpeg's exr encoder (libavcodec: no OpenEXR dependency): ned/blend/layers.hpp.
#include <memory>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/frame.h>
#include <libavutil/opt.h>
}

#include "ned/blend/layers.hpp"
#include "ned/core/error.hpp"

namespace ned::blend {

namespace {
struct CodecCtxFree {
    void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
};
struct FrameFree {
    void operator()(AVFrame* f) const { av_frame_free(&f); }
};
struct PacketFree {
    void operator()(AVPacket* p) const { av_packet_free(&p); }
};

/// The encoder for a w x h gbrapf32le image, half float, ZIP (16 scanlines) compression.
std::unique_ptr<AVCodecContext, CodecCtxFree> open_exr_encoder(int w, int h) {
    const AVCodec* codec = avcodec_find_encoder_by_name("exr");
    if (!codec) throw Error("this FFmpeg has no exr encoder (--layer-format exr); use --layer-format png16");
    std::unique_ptr<AVCodecContext, CodecCtxFree> ctx(avcodec_alloc_context3(codec));
    if (!ctx) throw Error("exr encoder: out of memory");
    ctx->width = w;
    ctx->height = h;
    ctx->pix_fmt = AV_PIX_FMT_GBRAPF32LE;
    ctx->time_base = AVRational{1, 25};
    av_opt_set(ctx->priv_data, "format", "half", 0);
    av_opt_set(ctx->priv_data, "compression", "zip16", 0);
    if (avcodec_open2(ctx.get(), codec, nullptr) < 0) throw Error("cannot open FFmpeg's exr encoder");
    return ctx;
}
}  // namespace

std::vector<unsigned char> encode_exr_half(const cv::Mat& bgra) {
    NED_CHECK(bgra.type() == CV_32FC4, "encode_exr_half expects CV_32FC4");
    auto ctx = open_exr_encoder(bgra.cols, bgra.rows);
    std::unique_ptr<AVFrame, FrameFree> frame(av_frame_alloc());
    frame->format = AV_PIX_FMT_GBRAPF32LE;
    frame->width = bgra.cols;
    frame->height = bgra.rows;
    if (av_frame_get_buffer(frame.get(), 0) < 0) throw Error("exr encoder: out of memory");
    static const int kPlaneOfChannel[4] = {1, 0, 2, 3};  // B -> plane 1, G -> 0, R -> 2, A -> 3 (gbrap)
    for (int y = 0; y < bgra.rows; ++y) {
        const float* s = bgra.ptr<float>(y);
        float* planes[4];
        for (int c = 0; c < 4; ++c)
            planes[c] =
                reinterpret_cast<float*>(frame->data[kPlaneOfChannel[c]] + y * frame->linesize[kPlaneOfChannel[c]]);
        for (int x = 0; x < bgra.cols; ++x)
            for (int c = 0; c < 4; ++c) planes[c][x] = s[4 * x + c];
    }
    std::unique_ptr<AVPacket, PacketFree> pkt(av_packet_alloc());
    if (avcodec_send_frame(ctx.get(), frame.get()) < 0 || avcodec_send_frame(ctx.get(), nullptr) < 0 ||
        avcodec_receive_packet(ctx.get(), pkt.get()) < 0)
        throw Error("FFmpeg's exr encoder failed");
    return std::vector<unsigned char>(pkt->data, pkt->data + pkt->size);
}

}  // namespace ned::blend
