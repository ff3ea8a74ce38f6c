// The output format of VideoWriter: encoder, pixel format (by default the source's chroma layout and depth as
// close as the encoder holds them) and colour tags (the source's), and the checks that refuse a container, codec,
// pixel format or rate setting before any work.
#include "io/writer_format.hpp"

#include <algorithm>
#include <array>
#include <filesystem>
#include <vector>

#include "ned/core/error.hpp"

namespace ned::io {
namespace {

const std::array<const char*, 10> kPresets = {"ultrafast", "superfast", "veryfast", "faster",   "fast",
                                              "medium",    "slow",      "slower",   "veryslow", "placebo"};

bool uses_crf(Codec codec) { return codec == Codec::H264 || codec == Codec::H265; }

/// The pixel formats `encoder` takes (its pix_fmts list).
std::vector<std::string> encoder_pix_fmts(const AVCodec* encoder) {
    std::vector<std::string> names;
    for (const AVPixelFormat* p = encoder->pix_fmts; p && *p != AV_PIX_FMT_NONE; ++p)
        if (const char* n = av_get_pix_fmt_name(*p)) names.emplace_back(n);
    return names;
}

bool contains(const std::vector<std::string>& names, const std::string& name) {
    return std::find(names.begin(), names.end(), name) != names.end();
}

std::string joined(const std::vector<std::string>& names) {
    std::string s;
    for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
    return s;
}

/// The name of layout `chroma` ("420", "422", "444", "gray") at `depth` bits, with alpha when asked.
std::string layout_name(const std::string& chroma, int depth, bool alpha) {
    const std::string suffix = depth == 8 ? "" : std::to_string(depth) + "le";
    if (chroma == "gray") return "gray" + suffix;
    return std::string(alpha ? "yuva" : "yuv") + chroma + "p" + suffix;
}

/// The layout at the source's depth, else the nearest deeper one, else the deepest shallower one the encoder takes.
std::string nearest_layout(const std::vector<std::string>& supported, const std::string& chroma, int depth,
                           bool alpha) {
    static const int kDepths[] = {8, 9, 10, 12, 14, 16};
    for (int d : kDepths)
        if (d >= depth && contains(supported, layout_name(chroma, d, alpha))) return layout_name(chroma, d, alpha);
    for (auto it = std::rbegin(kDepths); it != std::rend(kDepths); ++it)
        if (*it < depth && contains(supported, layout_name(chroma, *it, alpha))) return layout_name(chroma, *it, alpha);
    return "";
}

}  // namespace

const char* codec_name(Codec codec) {
    switch (codec) {
        case Codec::H265: return "h265";
        case Codec::ProRes: return "prores";
        case Codec::Ffv1: return "ffv1";
        case Codec::H264: break;
    }
    return "h264";
}

std::string output_pix_fmt(const VideoInfo& source, const VideoWriterOptions& options) {
    if (!options.pix_fmt.empty()) return options.pix_fmt;
    const std::string chroma = source.chroma.empty() ? "420" : source.chroma;
    if (options.codec == Codec::ProRes) {  // 422 HQ, or 4444 (with its alpha) for 4:4:4 sources
        if (chroma != "444") return "yuv422p10le";
        return source.has_alpha ? "yuva444p10le" : "yuv444p10le";
    }
    const AVCodec* encoder = avcodec_find_encoder_by_name(av::encoder_name(options.codec));
    if (!encoder) return "yuv420p";
    const auto supported = encoder_pix_fmts(encoder);
    const bool alpha = source.has_alpha && chroma != "gray";
    std::string name = nearest_layout(supported, chroma, source.bit_depth, alpha);
    if (name.empty() && alpha) name = nearest_layout(supported, chroma, source.bit_depth, false);
    if (name.empty()) name = nearest_layout(supported, "420", source.bit_depth, false);
    return name.empty() ? "yuv420p" : name;
}

void check_writer_options(const std::string& out_path, const VideoInfo& source, const VideoWriterOptions& options) {
    av::check_writer_options(out_path, options.name.empty() ? out_path : options.name, source, options);
}

namespace av {

const char* encoder_name(Codec codec) {
    switch (codec) {
        case Codec::H265: return "libx265";
        case Codec::ProRes: return "prores_ks";
        case Codec::Ffv1: return "ffv1";
        case Codec::H264: break;
    }
    return "libx264";
}

const char* codec_label(Codec codec) {
    switch (codec) {
        case Codec::H265: return "H.265";
        case Codec::ProRes: return "ProRes";
        case Codec::Ffv1: return "FFV1";
        case Codec::H264: break;
    }
    return "H.264";
}

OutputColor output_color(const VideoInfo& source, const VideoWriterOptions& options, AVPixelFormat pix_fmt) {
    OutputColor c;
    const AVPixFmtDescriptor* desc = av_pix_fmt_desc_get(pix_fmt);
    const bool gray = desc && desc->nb_components - ((desc->flags & AV_PIX_FMT_FLAG_ALPHA) ? 1 : 0) == 1;
    if (gray) {  // a matte or a grey picture: data, full range, no matrix
        c.matrix = AVCOL_SPC_UNSPECIFIED;
        c.range = AVCOL_RANGE_JPEG;
        c.sws_default = false;
        return c;
    }
    if (!options.keep_color) return c;
    const ColorInfo& s = source.color;
    c.primaries = static_cast<AVColorPrimaries>(s.primaries);
    c.transfer = static_cast<AVColorTransferCharacteristic>(s.transfer);
    // A YUV matrix the source names (not RGB, unspecified or reserved) is kept; else BT.601 as always.
    if (s.matrix != AVCOL_SPC_RGB && s.matrix != AVCOL_SPC_UNSPECIFIED && s.matrix != AVCOL_SPC_RESERVED &&
        s.matrix > 0 && s.matrix < AVCOL_SPC_NB)
        c.matrix = static_cast<AVColorSpace>(s.matrix);
    // ProRes has no full-range coding: a full-range source is converted to limited range, and tagged so.
    if (s.range == AVCOL_RANGE_JPEG && options.codec != Codec::ProRes) c.range = AVCOL_RANGE_JPEG;
    const bool bt601 = c.matrix == AVCOL_SPC_SMPTE170M || c.matrix == AVCOL_SPC_BT470BG;
    c.sws_default = bt601 && c.range == AVCOL_RANGE_MPEG;
    return c;
}

/// The container of `out_path` (from its extension) must hold `options.codec`; ProRes only .mov, FFV1 .mkv/.mov.
static void check_container(const std::string& out_path, const std::string& name, Codec codec) {
    const AVOutputFormat* ofmt = av_guess_format(nullptr, out_path.c_str(), nullptr);
    if (!ofmt)
        throw InputError(cat("cannot choose a container for '", name, "' from its extension; use .mp4, .mov or .mkv"));
    const std::string fmt = ofmt->name;
    const std::string file = std::filesystem::path(name).filename().string();
    if (codec == Codec::ProRes && fmt != "mov") throw InputError(cat(file, ": ProRes needs a .mov output"));
    if (codec == Codec::Ffv1 && fmt != "mov" && fmt != "matroska")
        throw InputError(cat(file, ": FFV1 needs a .mkv or .mov output"));
    const AVCodecID id = codec == Codec::H265     ? AV_CODEC_ID_HEVC
                         : codec == Codec::ProRes ? AV_CODEC_ID_PRORES
                         : codec == Codec::Ffv1   ? AV_CODEC_ID_FFV1
                                                  : AV_CODEC_ID_H264;
    // (mov holds FFV1, but the muxer's codec query does not say so: ProRes and FFV1 were checked above.)
    const bool checked = codec == Codec::ProRes || codec == Codec::Ffv1;
    if (!checked && avformat_query_codec(ofmt, id, FF_COMPLIANCE_NORMAL) != 1)
        throw InputError(cat("the ", ofmt->name, " container of '", name, "' cannot hold ", codec_label(codec),
                             " video; use .mp4, .mov or .mkv"));
}

void check_writer_options(const std::string& out_path, const std::string& name, const VideoInfo& source,
                          const VideoWriterOptions& options) {
    const std::string file = std::filesystem::path(name).filename().string();
    if (uses_crf(options.codec)) {
        if (options.crf < 0 || options.crf > 51)
            throw InputError(cat("invalid CRF ", options.crf, " for '", name, "': expected 0..51"));
        if (std::find_if(kPresets.begin(), kPresets.end(), [&](const char* p) { return options.preset == p; }) ==
            kPresets.end())
            throw InputError(cat("invalid ", options.codec == Codec::H265 ? "x265" : "x264", " preset '",
                                 options.preset,
                                 "': expected ultrafast, superfast, veryfast, faster, fast, medium, slow, slower, "
                                 "veryslow or placebo"));
    }
    if (source.display_width <= 0 || source.display_height <= 0)
        throw InputError(cat("cannot write '", name, "': the source frame size is unknown (", source.display_width, "x",
                             source.display_height, ")"));
    check_container(out_path, name, options.codec);
    const AVCodec* encoder = avcodec_find_encoder_by_name(encoder_name(options.codec));
    if (!encoder)
        throw InputError(cat(file, ": this FFmpeg build has no ", encoder_name(options.codec), " encoder for ",
                             codec_label(options.codec)));
    const std::string pix_fmt = output_pix_fmt(source, options);
    if (av_get_pix_fmt(pix_fmt.c_str()) == AV_PIX_FMT_NONE)
        throw InputError(cat(file, ": unknown pixel format '", pix_fmt, "' (ffmpeg -pix_fmts lists them)"));
    const auto supported = encoder_pix_fmts(encoder);
    if (!contains(supported, pix_fmt))
        throw InputError(cat(file, ": ", codec_label(options.codec), " (", encoder_name(options.codec),
                             ") cannot encode ", pix_fmt, "; it takes ", joined(supported)));
}

}  // namespace av
}  // namespace ned::io
