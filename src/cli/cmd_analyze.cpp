// `ned analyze VIDEO WORKDIR`: face track + 68 landmarks, NED alignment, pupils (and optional masks, images,
// preview) -> WORKDIR/track.safetensors with has_analysis.
#include <map>
#include <memory>

#include <cstdio>
#include <filesystem>

#include "command.hpp"
#include "track_cli.hpp"
#include "ned/core/progress.hpp"
#include "ned/analysis/analyze.hpp"

namespace ned::cli {
namespace {

struct AnalyzeCliOptions {
    std::string video, workdir, landmark_model, segmentation_model, preview, face_at;
    bool save_images = false, no_multisample = false;
    track::TrackOptions track;
    analysis::LandmarkMode landmarks = analysis::LandmarkMode::Auto;
    float forehead = face::FaceMaskOptions{}.forehead_fraction;
};

void setup(CLI::App& app, const CommonOptions& common) {
    auto o = std::make_shared<AnalyzeCliOptions>();
    CLI::App* sub = app.add_subcommand(
        "analyze",
        "Track the face, then per frame: 68 landmarks (dlib; FaceMesh on turned faces), NED's anti-jitter alignment, pupils; writes "
        "WORKDIR/track.safetensors with the analysis");
    sub->add_option("VIDEO", o->video, "Input video")->required()->check(CLI::ExistingFile);
    sub->add_option("WORKDIR", o->workdir, "Work folder (created if missing)")->required();
    sub->add_option("--landmark-model", o->landmark_model,
                    "dlib 68-point shape predictor (default /usr/share/dlib/shape_predictor_68_face_landmarks.dat "
                    "from Debian's libdlib-data)");
    static const std::map<std::string, analysis::LandmarkMode> modes = {{"auto", analysis::LandmarkMode::Auto},
                                                                       {"dlib", analysis::LandmarkMode::Dlib},
                                                                       {"facemesh", analysis::LandmarkMode::FaceMesh}};
    sub->add_option("--landmarks", o->landmarks,
                    "Landmark model: auto (dlib on frontal faces, FaceMesh's 68 points (with face-api's net) on faces "
                    "turned beyond ~36 degrees of yaw, a blend between), dlib or facemesh")
        ->transform(CLI::CheckedTransformer(modes, CLI::ignore_case))
        ->default_str("auto");
    sub->add_option("--segmentation-model", o->segmentation_model,
                    "FSGAN U-Net converted with scripts/convert_fsgan_unet.py: masks/ from the network instead of "
                    "the landmarks");
    sub->add_flag("--save-images", o->save_images, "Also write crops/, aligned/, eyes/ and masks/ PNGs");
    sub->add_option("--preview", o->preview,
                    "Write a preview video with box, landmarks, pupils and mask outline (audio copied)");
    sub->add_flag("--no-multisample", o->no_multisample,
                  "Align with the single landmark detection instead of NED's 5-fold average (faster, more jitter)");
    sub->add_option("--forehead", o->forehead, "Landmark mask: eyebrows raised by this fraction of the face height")
        ->check(finite_range(0, 2))
        ->capture_default_str();
    const std::string g = "Tracking";
    sub->add_option("--detect-scale", o->track.detect_scale, "Frame scale for detection (0 = auto, ~640 px)")->check(finite_range(0, 16))->group(g);
    sub->add_option("--upsample", o->track.upsample, "dlib pyramid-up steps for small faces (0 or 1)")->check(CLI::Range(0, 2))->group(g);
    auto* fi = sub->add_option("--face-index", o->track.face_index, "Which face: 0 = largest, 1 = second largest, ...")->check(CLI::Range(0, 1000))
        ->group(g);
    sub->add_option("--face-at", o->face_at, "The face nearest pixel X,Y (of the displayed frame) at time SECONDS, e.g. 2.5:900,400; followed through its shot, and in other shots the face most similar in position and size (instead of --face-index)")->excludes(fi)->group(g);
    add_track_identity_options(sub, o->track, g);
    sub->add_option("--smooth-window", o->track.smooth_window, "Median window of the box smoothing (frames)")->check(CLI::Range(1, 100001))
        ->capture_default_str()
        ->group(g);
    sub->add_option("--cut-threshold", o->track.cut_threshold, "Shot-cut threshold on the grey-histogram distance (0..1); see `ned crop --help`")->check(finite_range(0, 1))
        ->capture_default_str()
        ->group(g);
    sub->add_option("--max-gap", o->track.max_gap,
                    "Longest detector drop-out (seconds) that is filled; longer gaps, cuts and boxes mostly outside "
                    "the frame leave frames invalid (passed through)")
        ->capture_default_str()
        ->group(g);
    sub->add_option("--margin", o->track.margin, "NED crop margin (pixels of a 256 crop)")->check(finite_range(0, 10000))->capture_default_str()->group(g);
    sub->add_option("--crop-size", o->track.crop_size, "Crop size in pixels")->check(CLI::Range(16, 4096))->capture_default_str()->group(g);
    sub->add_option("--max-frames", o->track.max_frames, "Only the first N frames (0 = all)")->check(CLI::NonNegativeNumber)->group(g);
    sub->footer("Outputs: WORKDIR/track.safetensors (landmarks, aligned_landmarks, align, pupils per frame);\n"
                "with --save-images or --segmentation-model also WORKDIR/masks/*.png.\n"
                "Exit codes: 2 no face found / bad input, 3 landmark or segmentation model missing or invalid.");
    set_inputs(sub, [o] {
        return std::vector<std::pair<std::string, std::string>>{{o->video, "input video"},
                                                                {o->landmark_model, "landmark model"},
                                                                {o->segmentation_model, "segmentation model"}};
    });
    set_outputs(sub, [o] {
        return std::vector<std::pair<std::string, std::string>>{{o->workdir, "WORKDIR"}, {o->preview, "--preview"}};
    });
    set_runner(sub, [o, &common] {
        analysis::AnalyzeOptions opts;
        opts.track = o->track;
        opts.track.face_at = track::parse_face_at(o->face_at);
        opts.track.threads = resolve_threads(common.threads);
        opts.threads = resolve_threads(common.threads);
        opts.landmark_model = o->landmark_model;
        opts.landmarks = o->landmarks;
        opts.segmentation_model = o->segmentation_model;
        opts.multisample = !o->no_multisample;
        opts.save_images = o->save_images;
        opts.preview_path = o->preview;
        opts.mask.forehead_fraction = o->forehead;
        opts.overwrite = common.overwrite;
        ProgressBar track_bar("track", 0), analyze_bar("analyze", 0);
        auto track_fn = track_bar.fn(), analyze_fn = analyze_bar.fn();
        const face::FaceTrack track =
            analysis::analyze_video(o->video, o->workdir, opts, track_fn, [&](long done, long total) {
                track_bar.finish();
                analyze_fn(done, total);
            });
        analyze_bar.finish();
        std::printf("analyze: %s -> %s\n", face::describe(face::count_frames(track)).c_str(),
                    (std::filesystem::path(o->workdir) / "track.safetensors").string().c_str());
    });
}

}  // namespace
}  // namespace ned::cli

NED_REGISTER_COMMAND(analyze, ned::cli::setup, 40);
