#pragma once
// Options that several commands share, defined once so that they say the same thing everywhere:
//   --precision                        render, train-renderer, translate, style
//   the tracking options (TrackingFlags) crop, analyze, eval, translate, style
//   --matte, --face-layer, ...         composite, translate, style
// Each binds a field of an options struct and enters it in the command's field -> flag table (map_fields), so
// that an OptionError from the struct's validate() names the flag. The common options (--threads, --device, -y)
// are the app's own (app.cpp).
#include <CLI/CLI.hpp>

#include <string>

#include "ned/blend/layers.hpp"
#include "ned/io/video.hpp"
#include "ned/renderer/precision.hpp"
#include "ned/track/face_tracker.hpp"

namespace ned::cli {

/// --precision fp32|bf16|fp16 (`help` says what runs in it and where); field `field` ("RenderOptions::precision").
CLI::Option* add_precision_option(CLI::App* sub, renderer::Precision& precision, const std::string& help,
                                  const std::string& field);

/// --codec h264|h265|prores|ffv1 and --pix-fmt NAME of the edited output video (translate, style, composite);
/// fields `prefix`::codec and `prefix`::pix_fmt ("CompositeOptions").
void add_output_format_options(CLI::App* sub, io::Codec& codec, std::string& pix_fmt, const std::string& prefix);

/// io::check_writer_options for writing `out` from `input` (probed without counting frames): a container, codec,
/// pixel format, CRF or preset the output cannot have is an InputError (exit 2, one line) before any work.
void check_output_format(const std::string& input, const std::string& out, const io::VideoWriterOptions& options);

/// Which tracking options a command has.
enum TrackingFlags : unsigned {
    kTrackTarget = 1u,     ///< --face-index, --detector, --target-face, --identity-threshold, --no-identity
    kTrackFaceAt = 2u,     ///< --face-at
    kTrackMaxGap = 4u,     ///< --max-gap
    kTrackDetection = 8u,  ///< --detect-scale, --upsample
    kTrackShape = 16u,     ///< --smooth-window, --cut-threshold, --margin, --crop-size, --max-frames
    kTrackAll = 31u,
};

/// --matte, --face-layer, --layer-format png16|exr, --layer-start-number bound to `l` (help group "Compositing
/// hand-off"; docs/post-production.md).
void add_layer_options(CLI::App* sub, blend::LayerOptions& l);

/// Adds the tracking options in `flags` bound to `t` (in help group `group` when not empty).
void add_tracking_options(CLI::App* sub, track::TrackOptions& t, unsigned flags, const std::string& group = "");

}  // namespace ned::cli
