#pragma once
// PRIVATE to src/io: what VideoWriter encodes with (encoder, pixel format, colour tags), resolved from the source
// and the options, and the checks that refuse a combination before any work (check_writer_options).
#include <string>

#include "io/av_ptr.hpp"
#include "ned/io/video.hpp"

namespace ned::io::av {

/// The FFmpeg encoder of `codec`: libx264, libx265, prores_ks, ffv1.
const char* encoder_name(Codec codec);
/// "H.264", "H.265", "ProRes", "FFV1" (in messages).
const char* codec_label(Codec codec);

/// The colour tags written on the output and used for the BGR -> YUV conversion.
struct OutputColor {
    AVColorPrimaries primaries = AVCOL_PRI_UNSPECIFIED;
    AVColorTransferCharacteristic transfer = AVCOL_TRC_UNSPECIFIED;
    AVColorSpace matrix = AVCOL_SPC_SMPTE170M;  ///< BT.601 when the source says nothing (today's outputs)
    AVColorRange range = AVCOL_RANGE_MPEG;
    /// swscale's built-in conversion (BT.601, limited range) is the one asked for: no colourspace details are set,
    /// so untagged 8-bit outputs stay byte for byte what they were.
    bool sws_default = true;
};

/// The source's tags (when options.keep_color) completed with BT.601 limited range; grey outputs are full range.
OutputColor output_color(const VideoInfo& source, const VideoWriterOptions& options, AVPixelFormat pix_fmt);

/// check_writer_options with `name` in messages (the final path when `out_path` is a temporary file).
void check_writer_options(const std::string& out_path, const std::string& name, const VideoInfo& source,
                          const VideoWriterOptions& options);

}  // namespace ned::io::av
