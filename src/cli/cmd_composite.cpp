// `ned composite VIDEO OUTDIR OUT.mp4`: blend per-frame 256x256 faces (default OUTDIR/faces/) into the video
// through the track in OUTDIR/track.safetensors; audio copied.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "command.hpp"
#include "shared_options.hpp"
#include "ned/blend/composite.hpp"
#include "ned/core/error.hpp"
#include "ned/core/fs_util.hpp"
#include "ned/core/progress.hpp"

namespace fs = std::filesystem;

namespace ned::cli {
namespace {

struct CompositeCliOptions {
    std::string video, outdir, out;
    blend::CompositeOptions c;
};

void setup(CLI::App& app, const CommonOptions& common) {
    auto o = std::make_shared<CompositeCliOptions>();
    CLI::App* sub = app.add_subcommand(
        "composite", "Blend new 256x256 faces into the video (NED's soft mask + Laplacian pyramid), audio copied");
    sub->add_option("VIDEO", o->video, "The input video the track was made from")->required();
    sub->add_option("OUTDIR", o->outdir, "Folder with track.safetensors (from `ned crop` / `ned analyze`)")->required();
    sub->add_option("OUT", o->out, "Output video (.mp4, .mov or .mkv)")->required();
    sub->add_option("--faces", o->c.faces_dir, "Folder of new faces NNNNNN.png (default OUTDIR/faces)");
    sub->add_option("--masks", o->c.masks_dir, "Folder of per-frame masks NNNNNN.png, 0/255 (default: ellipse)");
    sub->add_option("--levels", o->c.levels, "Laplacian pyramid levels")->capture_default_str();
    sub->add_option("--crf", o->c.crf, "libx264 CRF of the output")->capture_default_str();
    sub->add_option("--preset", o->c.preset, "libx264 preset")->capture_default_str();
    map_fields(sub, {{"CompositeOptions::levels", "--levels"},
                     {"CompositeOptions::crf", "--crf"},
                     {"CompositeOptions::preset", "--preset"},
                     {"CompositeOptions::faces_dir", "--faces"},
                     {"CompositeOptions::masks_dir", "--masks"}});
    add_layer_options(sub, o->c.layers);
    add_output_format_options(sub, o->c.codec, o->c.pix_fmt, "CompositeOptions");
    sub->footer("A missing face PNG keeps the original frame. Exit codes: 2 bad input.");
    set_inputs(sub, [o] {
        return std::vector<std::pair<std::string, std::string>>{
            {o->video, "input video"}, {(fs::path(o->outdir) / "track.safetensors").string(), "track file"}};
    });
    set_outputs(sub, [o] {
        return std::vector<std::pair<std::string, std::string>>{
            {o->out, "output video"}, {o->c.layers.matte, "--matte"}, {o->c.layers.face_layer, "--face-layer"}};
    });
    set_runner(sub, [o, &common] {
        const auto t0 = std::chrono::steady_clock::now();
        check_input_file(o->video, "input video");
        check_extension(o->out, {".mp4", ".mov", ".mkv"}, "output video");
        check_output_path(o->out, common.overwrite, "output video");
        blend::check_layer_outputs(o->c.layers, common.overwrite);
        io::VideoWriterOptions format;
        format.codec = o->c.codec, format.pix_fmt = o->c.pix_fmt, format.keep_color = o->c.keep_color;
        format.crf = o->c.crf, format.preset = o->c.preset;
        check_output_format(o->video, o->out, format);
        const std::string track_path = (fs::path(o->outdir) / "track.safetensors").string();
        check_input_file(track_path, "track file");
        const face::FaceTrack track = face::load_track(track_path);
        blend::CompositeOptions c = o->c;
        if (c.faces_dir.empty()) c.faces_dir = (fs::path(o->outdir) / "faces").string();
        c.overwrite = common.overwrite;
        c.threads = resolve_threads(common.threads);
        ProgressBar bar("composite", static_cast<long>(track.frames.size()));
        const long replaced = blend::composite_video(o->video, track, o->out, c, bar.fn());
        bar.finish();
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::printf("composite: %zu frames in the track, %ld faces blended, %.1f s -> %s\n", track.frames.size(),
                    replaced, secs, o->out.c_str());
    });
}

}  // namespace
}  // namespace ned::cli

NED_REGISTER_COMMAND(composite, ned::cli::setup, 30);
