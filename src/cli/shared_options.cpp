#include "shared_options.hpp"

#include <utility>
#include <vector>

#include "command.hpp"
#include "ned/core/error.hpp"

namespace ned::cli {

CLI::Option* add_precision_option(CLI::App* sub, renderer::Precision& precision, const std::string& help,
                                  const std::string& field) {
    using renderer::Precision;
    static const std::vector<std::pair<std::string, Precision>> names = {
        {"fp32", Precision::Fp32}, {"bf16", Precision::Bf16}, {"fp16", Precision::Fp16}};
    auto* opt = bind_enum(sub->add_option("--precision", precision, help), names, precision);
    map_fields(sub, {{field, "--precision"}});
    return opt;
}

void add_output_format_options(CLI::App* sub, io::Codec& codec, std::string& pix_fmt, const std::string& prefix) {
    const std::string g = "Output format (docs/post-production.md)";
    static const std::vector<std::pair<std::string, io::Codec>> names = {
        {"h264", io::Codec::H264}, {"h265", io::Codec::H265}, {"prores", io::Codec::ProRes}, {"ffv1", io::Codec::Ffv1}};
    bind_enum(sub->add_option("--codec", codec,
                              "Video codec of the output: h264 (libx264), h265 (libx265), prores (422 HQ, or 4444 for "
                              "4:4:4 sources; .mov only) or ffv1 (lossless; .mkv or .mov)"),
              names, codec)
        ->group(g);
    sub->add_option("--pix-fmt", pix_fmt,
                    "FFmpeg pixel format of the output, e.g. yuv422p10le (default: the input's bit depth and chroma "
                    "layout, as close as the codec holds them; the input's colour tags are kept either way)")
        ->group(g);
    map_fields(sub, {{prefix + "::codec", "--codec"}, {prefix + "::pix_fmt", "--pix-fmt"}});
}

void check_output_format(const std::string& input, const std::string& out, const io::VideoWriterOptions& options) {
    io::check_writer_options(out, io::probe(input, false), options);
}

void add_layer_options(CLI::App* sub, blend::LayerOptions& l) {
    const std::string g = "Compositing hand-off (docs/post-production.md)";
    sub->add_option("--matte", l.matte,
                    "Also write the exact alpha each frame was blended with, in frame coordinates, 0..65535: a "
                    "folder (existing, or ending in '/') gets 16-bit grey PNGs NNNNNN.png, a .mkv file a lossless "
                    "FFV1 gray16le video; untouched frames are all zero")
        ->group(g);
    sub->add_option("--face-layer", l.face_layer,
                    "Also write the pasted face with that alpha into this folder, one RGBA image per source frame "
                    "(untouched frames fully transparent)")
        ->group(g);
    static const std::vector<std::pair<std::string, blend::LayerFormat>> formats = {
        {"png16", blend::LayerFormat::Png16}, {"exr", blend::LayerFormat::Exr}};
    bind_enum(sub->add_option("--layer-format", l.layer_format,
                              "Face layer files: png16 (16-bit RGBA PNG, straight alpha) or exr (OpenEXR half "
                              "float, premultiplied)"),
              formats, l.layer_format)
        ->group(g);
    sub->add_option("--layer-start-number", l.start_number,
                    "File number of the source's first frame in the matte and face layer sequences (frame i is "
                    "N+i)")
        ->capture_default_str()
        ->group(g);
    map_fields(sub, {{"LayerOptions::matte", "--matte"},
                     {"LayerOptions::start_number", "--layer-start-number"},
                     {"LayerOptions::face_layer", "--face-layer"}});
}

namespace {

/// --face-at SECONDS:X,Y, parsed while the command line is (a bad text is a usage error naming the flag).
CLI::Option* add_face_at(CLI::App* sub, track::TrackOptions& t) {
    CLI::Validator face_at(
        [](std::string& text) -> std::string {
            try {
                track::parse_face_at(text);
                return {};
            } catch (const OptionError& e) {
                return e.detail().substr(e.detail().find_first_not_of(' '));
            }
        },
        "SECONDS:X,Y");
    return sub
        ->add_option_function<std::string>(
            "--face-at", [&t](const std::string& text) { t.face_at = track::parse_face_at(text); },
            "The face nearest pixel X,Y (of the displayed frame) at time SECONDS, e.g. 2.5:900,400; followed "
            "through its shot, and in other shots the face most similar in position and size (instead of "
            "--face-index)")
        ->check(face_at);
}

void add_detector(CLI::App* sub, track::TrackOptions& t, std::vector<CLI::Option*>& added) {
    using track::DetectorKind;
    static const std::vector<std::pair<std::string, DetectorKind>> kinds = {
        {"hog", DetectorKind::Hog},
        {"hog-rot", DetectorKind::HogRot},
        {"ssd", DetectorKind::Ssd},
        {"blazeface", DetectorKind::BlazeFace},
        {"hog-blazeface", DetectorKind::HogBlazeFace},
        {"combined", DetectorKind::Combined}};
    added.push_back(bind_enum(
        sub->add_option("--detector", t.detector,
                        "Face detector: combined (hog and blazeface on every frame, blazeface's extra faces "
                        "checked by FaceMesh: faces turned up to ~60 degrees, also beside a frontal one; "
                        "rolled and border-cut faces; hog-rot where neither finds a face), hog (dlib; frontal "
                        "and rolled up to ~40 degrees), hog-rot (hog, and when it finds no face, hog on the "
                        "frame rotated by -55 and +55 degrees), blazeface (MediaPipe BlazeFace), "
                        "hog-blazeface (hog, and blazeface when hog finds no face) or ssd (face-api's "
                        "SSD-MobileNetV1); the learned ones are shipped in models/open"),
        kinds, t.detector, /*any_case=*/true));
}

/// --face-index (returned).
CLI::Option* add_face_index(CLI::App* sub, track::TrackOptions& t, std::vector<CLI::Option*>& added) {
    added.push_back(sub->add_option("--face-index", t.face_index,
                                    "Which face: 0 = largest, 1 = second largest, ... in the first frame with that "
                                    "many faces (0..1000)")
                        ->capture_default_str());
    return added.back();
}

/// --detector and the identity options.
void add_identity(CLI::App* sub, track::TrackOptions& t, std::vector<CLI::Option*>& added) {
    add_detector(sub, t, added);
    auto* photo = sub->add_option("--target-face", t.target_face,
                                  "Photo of the person to edit: picks that person among the faces (nearest face "
                                  "descriptor, instead of --face-index), and after cuts and gaps only a face with "
                                  "this identity is the target (default: the first confident frames' face)");
    added.push_back(photo);
    added.push_back(sub->add_option("--identity-threshold", t.identity_threshold,
                                    "Face-descriptor distance above which a face is another person (dlib's 0.6)")
                        ->check(finite_range(0.05, 2.0))
                        ->capture_default_str());
    added.push_back(sub->add_flag("--no-identity", "Do not check the target's identity across cuts and gaps")
                        ->each([&t](const std::string&) { t.identity = false; })
                        ->excludes(photo));
}

/// --detect-scale and --upsample.
void add_detection(CLI::App* sub, track::TrackOptions& t, std::vector<CLI::Option*>& added) {
    added.push_back(
        sub->add_option("--detect-scale", t.detect_scale, "Frame scale for detection (0 = auto: long side 640 px)")
            ->check(finite_range(0, 16))
            ->capture_default_str());
    added.push_back(sub->add_option("--upsample", t.upsample, "dlib pyramid-up steps for small faces (0, 1 or 2)")
                        ->check(CLI::Range(0, 2))
                        ->capture_default_str());
}

/// --smooth-window and --cut-threshold.
void add_segments(CLI::App* sub, track::TrackOptions& t, std::vector<CLI::Option*>& added) {
    added.push_back(sub->add_option("--smooth-window", t.smooth_window,
                                    "Median window of the box smoothing (frames; an even one acts as the next "
                                    "smaller odd one)")
                        ->check(CLI::Range(1, 100001))
                        ->capture_default_str());
    added.push_back(sub->add_option("--cut-threshold", t.cut_threshold,
                                    "Shot cut when the grey-histogram distance of consecutive frames exceeds this "
                                    "(0..1) and their 8x8 thumbnails differ by 10%, or either by 2.5x that")
                        ->check(finite_range(0, 1))
                        ->capture_default_str());
}

/// --margin, --crop-size and --max-frames.
void add_crop(CLI::App* sub, track::TrackOptions& t, std::vector<CLI::Option*>& added) {
    added.push_back(sub->add_option("--margin", t.margin, "NED crop margin (pixels of a 256 crop)")
                        ->check(finite_range(0, 10000))
                        ->capture_default_str());
    added.push_back(sub->add_option("--crop-size", t.crop_size, "Crop size in pixels")
                        ->check(CLI::Range(16, 4096))
                        ->capture_default_str());
    added.push_back(sub->add_option("--max-frames", t.max_frames, "Only the first N frames (0 = all)")
                        ->check(CLI::NonNegativeNumber)
                        ->capture_default_str());
}

}  // namespace

void add_tracking_options(CLI::App* sub, track::TrackOptions& t, unsigned flags, const std::string& group) {
    std::vector<CLI::Option*> added;
    CLI::Option* index = (flags & kTrackTarget) ? add_face_index(sub, t, added) : nullptr;
    if (flags & kTrackFaceAt) {
        added.push_back(add_face_at(sub, t));
        if (index) added.back()->excludes(index);
    }
    if (flags & kTrackTarget) add_identity(sub, t, added);
    if (flags & kTrackDetection) add_detection(sub, t, added);
    if (flags & kTrackShape) add_segments(sub, t, added);
    if (flags & kTrackMaxGap)
        added.push_back(sub->add_option("--max-gap", t.max_gap_s,
                                        "Longest detector drop-out (seconds, at most 3600) filled from the "
                                        "neighbouring boxes; a longer one, a cut or a box mostly outside the frame "
                                        "makes frames invalid (passed through untouched)")
                            ->check(finite_range(0, 3600))
                            ->capture_default_str());
    if (flags & kTrackShape) add_crop(sub, t, added);
    if (!group.empty())
        for (auto* o : added) o->group(group);
    map_fields(sub, {{"TrackOptions::detector", "--detector"},
                     {"TrackOptions::target_face", "--target-face"},
                     {"TrackOptions::identity_threshold", "--identity-threshold"},
                     {"TrackOptions::identity", "--no-identity"},
                     {"TrackOptions::detect_scale", "--detect-scale"},
                     {"TrackOptions::upsample", "--upsample"},
                     {"TrackOptions::face_index", "--face-index"},
                     {"TrackOptions::face_at", "--face-at"},
                     {"TrackOptions::smooth_window", "--smooth-window"},
                     {"TrackOptions::cut_threshold", "--cut-threshold"},
                     {"TrackOptions::max_gap_s", "--max-gap"},
                     {"TrackOptions::margin", "--margin"},
                     {"TrackOptions::crop_size", "--crop-size"},
                     {"TrackOptions::max_frames", "--max-frames"}});
}

}  // namespace ned::cli
