// `ned crop VIDEO OUTDIR`: detect and track the target face, write OUTDIR/track.safetensors
// (and with --save-images the crops as OUTDIR/crops/NNNNNN.png, with --preview a contact sheet).
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "command.hpp"
#include "shared_options.hpp"
#include "ned/core/error.hpp"
#include "ned/core/fs_util.hpp"
#include "ned/core/output_dir.hpp"
#include "ned/core/progress.hpp"
#include "ned/track/crop_images.hpp"
#include "ned/track/face_tracker.hpp"

namespace fs = std::filesystem;

namespace ned::cli {
namespace {

struct CropCliOptions {
    std::string video, outdir, preview;
    bool save_images = false;
    track::TrackOptions track;
};

void setup(CLI::App& app, const CommonOptions& common) {
    auto o = std::make_shared<CropCliOptions>();
    CLI::App* sub = app.add_subcommand("crop",
                                       "Detect and track the actor's face (dlib HOG; on turned copies of the frame "
                                       "where HOG finds none), smooth the boxes and make NED's 256x256 crops");
    sub->add_option("VIDEO", o->video, "Input video")->required();
    sub->add_option("OUTDIR", o->outdir, "Output folder (created if missing; its parent must exist)")->required();
    sub->add_flag("--save-images", o->save_images, "Also write the crops as OUTDIR/crops/NNNNNN.png");
    sub->add_option("--preview", o->preview, "Write a contact sheet of 8 crops with frame indices (.jpg or .png)");
    add_tracking_options(sub, o->track, kTrackAll);
    sub->footer(
        "Outputs: OUTDIR/track.safetensors (boxes, valid, crop_to_frame, detected, status per frame);\n"
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
        const fs::path outdir(o->outdir);
        std::error_code ec;
        if (fs::exists(outdir, ec) && !fs::is_directory(outdir, ec))
            throw InputError(cat("output folder ", o->outdir, ": exists and is not a folder"));
        const fs::path parent = outdir.has_parent_path() ? outdir.parent_path() : fs::path(".");
        if (!fs::is_directory(parent, ec))
            throw InputError(
                cat("output folder ", o->outdir, ": parent folder '", parent.string(), "' does not exist"));
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
