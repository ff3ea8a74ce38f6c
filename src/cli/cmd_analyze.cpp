// `ned analyze VIDEO WORKDIR`: face track + 68 landmarks, NED alignment, pupils (and optional masks, images,
// preview) -> WORKDIR/track.safetensors with has_analysis.
#include <memory>

#include <cstdio>
#include <filesystem>

#include "command.hpp"
#include "shared_options.hpp"
#include "ned/core/progress.hpp"
#include "ned/analysis/analyze.hpp"

namespace ned::cli {
namespace {

struct AnalyzeCliOptions {
    std::string video, workdir, landmark_model, segmentation_model, preview;
    bool save_images = false, no_multisample = false;
    track::TrackOptions track;
    analysis::LandmarkMode landmarks = analysis::LandmarkMode::Auto;
    float forehead = face::FaceMaskOptions{}.forehead_fraction;
};

void setup(CLI::App& app, const CommonOptions& common) {
    auto o = std::make_shared<AnalyzeCliOptions>();
    CLI::App* sub = app.add_subcommand("analyze",
                                       "Track the face, then per frame: 68 landmarks (dlib; FaceMesh on turned faces), "
                                       "NED's anti-jitter alignment, pupils; writes "
                                       "WORKDIR/track.safetensors with the analysis");
    sub->add_option("VIDEO", o->video, "Input video")->required()->check(CLI::ExistingFile);
    sub->add_option("WORKDIR", o->workdir, "Work folder (created if missing)")->required();
    sub->add_option("--landmark-model", o->landmark_model,
                    "dlib 68-point shape predictor (default /usr/share/dlib/shape_predictor_68_face_landmarks.dat "
                    "from Debian's libdlib-data)");
    using analysis::LandmarkMode;
    static const std::vector<std::pair<std::string, LandmarkMode>> modes = {
        {"auto", LandmarkMode::Auto}, {"dlib", LandmarkMode::Dlib}, {"facemesh", LandmarkMode::FaceMesh}};
    bind_enum(sub->add_option("--landmarks", o->landmarks,
                              "Landmark model: auto (dlib on frontal faces, FaceMesh's 68 points (with face-api's "
                              "net) on faces turned beyond ~36 degrees of yaw, a blend between), dlib or facemesh"),
              modes, o->landmarks, /*any_case=*/true);
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
    add_tracking_options(sub, o->track, kTrackAll, "Tracking");
    map_fields(sub, {{"FaceMaskOptions::forehead_fraction", "--forehead"}});
    sub->footer(
        "Outputs: WORKDIR/track.safetensors (landmarks, aligned_landmarks, align, pupils per frame);\n"
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
