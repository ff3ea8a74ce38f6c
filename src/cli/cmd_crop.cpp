// `ned crop VIDEO OUTDIR`: detect and track the target face, write OUTDIR/track.safetensors
// (and with --save-images the crops as OUTDIR/crops/NNNNNN.png, with --preview a contact sheet).
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "command.hpp"
#include "track_cli.hpp"
#include "ned/core/error.hpp"
#include "ned/core/fs_util.hpp"
#include "ned/core/output_dir.hpp"
#include "ned/core/progress.hpp"
#include "ned/face/crop.hpp"
#include "ned/track/face_tracker.hpp"

namespace fs = std::filesystem;

namespace ned::cli {
namespace {

struct CropCliOptions {
    std::string video, outdir, preview, face_at;
    bool save_images = false;
    track::TrackOptions track;
};

void setup(CLI::App& app, const CommonOptions& common) {
    auto o = std::make_shared<CropCliOptions>();
    CLI::App* sub = app.add_subcommand(
        "crop", "Detect and track the actor's face (dlib HOG; on turned copies of the frame where HOG finds none), smooth the boxes and make NED's 256x256 crops");
    sub->add_option("VIDEO", o->video, "Input video")->required();
    sub->add_option("OUTDIR", o->outdir, "Output folder (created if missing; its parent must exist)")->required();
    sub->add_flag("--save-images", o->save_images, "Also write the crops as OUTDIR/crops/NNNNNN.png");
    sub->add_option("--preview", o->preview, "Write a contact sheet of 8 crops with frame indices (.jpg or .png)");
    auto* fi = sub->add_option("--face-index", o->track.face_index,
                    "Which face: 0 = largest, 1 = second largest, ... in the first frame with that many faces")
        ->check(CLI::Range(0, 1000))
        ->capture_default_str();
    sub->add_option("--face-at", o->face_at, "The face nearest pixel X,Y (of the displayed frame) at time SECONDS, e.g. 2.5:900,400; followed through its shot, and in other shots the face most similar in position and size (instead of --face-index)")->excludes(fi);
    add_track_identity_options(sub, o->track);
    sub->add_option("--detect-scale", o->track.detect_scale, "Frame scale for detection (0 = auto: long side 640 px)")
        ->check(finite_range(0, 16))
        ->capture_default_str();
    sub->add_option("--upsample", o->track.upsample, "dlib pyramid-up steps for small faces (0, 1 or 2)")
        ->check(CLI::Range(0, 2))
        ->capture_default_str();
    sub->add_option("--smooth-window", o->track.smooth_window, "Median window of the box smoothing (frames, odd)")
        ->check(CLI::Range(1, 100001))
        ->capture_default_str();
    sub->add_option("--cut-threshold", o->track.cut_threshold,
                    "Shot cut when the grey-histogram distance of consecutive frames exceeds this (0..1) and their 8x8 "
                    "thumbnails differ by 10%, or either by 2.5x that")
        ->check(finite_range(0, 1))
        ->capture_default_str();
    sub->add_option("--max-gap", o->track.max_gap,
                    "Longest detector drop-out (seconds) filled from the neighbouring boxes; a longer one, a cut or "
                    "a box mostly outside the frame makes frames invalid (passed through untouched)")
        ->capture_default_str();
    sub->add_option("--margin", o->track.margin, "NED crop margin (pixels of the crop)")->check(finite_range(0, 10000))->capture_default_str();
    sub->add_option("--crop-size", o->track.crop_size, "Crop size in pixels")->check(CLI::Range(16, 4096))->capture_default_str();
    sub->add_option("--max-frames", o->track.max_frames, "Only the first N frames (0 = all)")->check(CLI::NonNegativeNumber)->capture_default_str();
    sub->footer("Outputs: OUTDIR/track.safetensors (boxes, valid, crop_to_frame, detected, status per frame);\n"
                "OUTDIR/crops/*.png with --save-images; the --preview sheet shows invalid frames with the reason and\n"
                "a timeline (green detected, yellow filled, red no face, magenta outside frame).\n"
                "Exit codes: 2 bad input or no face found.");
    set_inputs(sub, [o] { return std::vector<std::pair<std::string, std::string>>{{o->video, "input video"}}; });
    set_outputs(sub, [o] {
        return std::vector<std::pair<std::string, std::string>>{{o->outdir, "OUTDIR"}, {o->preview, "--preview"}};
    });
    set_runner(sub, [o, &common] {
        const auto t0 = std::chrono::steady_clock::now();
        check_input_file(o->video, "input video");
        o->track.face_at = track::parse_face_at(o->face_at);
        const fs::path outdir(o->outdir);
        std::error_code ec;
        if (fs::exists(outdir, ec) && !fs::is_directory(outdir, ec))
            throw InputError(cat("output folder ", o->outdir, ": exists and is not a folder"));
        const fs::path parent = outdir.has_parent_path() ? outdir.parent_path() : fs::path(".");
        if (!fs::is_directory(parent, ec))
            throw InputError(cat("output folder ", o->outdir, ": parent folder '", parent.string(), "' does not exist"));
        const std::string track_path = (outdir / "track.safetensors").string();
        const std::string crops_dir = (outdir / "crops").string();
        if (fs::exists(outdir, ec)) check_output_path(track_path, common.overwrite, "track file");
        if (!o->preview.empty()) {
            check_extension(o->preview, {".jpg", ".jpeg", ".png"}, "preview");
            check_output_path(o->preview, common.overwrite, "preview");
        }
        if (o->save_images && !common.overwrite && fs::is_directory(crops_dir, ec) && !fs::is_empty(crops_dir, ec))
            throw InputError(cat("crops folder ", crops_dir, ": already has files (use -y to overwrite)"));

        track::TrackOptions topts = o->track;
        topts.threads = resolve_threads(common.threads);
        face::FaceTrack track;
        {
            ProgressBar bar("crop", 0);
            track = track::build_track(o->video, topts, bar.fn());
            bar.finish();
        }
        // A folder this run creates is removed again (with the track and the crops) on a failure or a signal.
        std::unique_ptr<OutputDir> created;
        if (!fs::exists(outdir, ec)) created = std::make_unique<OutputDir>(o->outdir, false, ".png", "output folder");
        face::save_track(track_path, track);
        struct RemoveTrack {
            std::string path;
            int slot = -1;
            ~RemoveTrack() {
                std::error_code ec;
                if (slot >= 0) fs::remove(path, ec);
                unregister_cleanup(slot);
            }
        } remove_track{track_path, created ? register_cleanup(track_path) : -1};
        long images = 0;
        if (o->save_images || !o->preview.empty()) {
            track::CropImagesOptions io;
            if (o->save_images) io.crops_dir = crops_dir;
            io.preview_path = o->preview;
            io.overwrite = common.overwrite;
            ProgressBar bar("crop images", static_cast<long>(track.frames.size()));
            images = track::save_crop_images(o->video, track, io, bar.fn());
            bar.finish();
        }
        unregister_cleanup(remove_track.slot);
        remove_track.slot = -1;
        if (created) created->commit();
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::printf("crop: %s; %ld crop images, %.1f s (%.1f fps) -> %s\n",
                    face::describe(face::count_frames(track)).c_str(), images, secs,
                    secs > 0 ? track.frames.size() / secs : 0.0, track_path.c_str());
    });
}

}  // namespace
}  // namespace ned::cli

NED_REGISTER_COMMAND(crop, ned::cli::setup, 20);
