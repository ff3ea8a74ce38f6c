// `ned render WORKDIR --renderer CKPT`: the neural face renderer over the conditioning images of a work
// folder -> WORKDIR/faces_aligned/ and WORKDIR/faces/ (what `ned composite` blends).
#include <chrono>
#include <cstdio>
#include <memory>

#include "command.hpp"
#include "shared_options.hpp"
#include "ned/core/progress.hpp"
#include "ned/renderer/render.hpp"

namespace ned::cli {
namespace {

void setup(CLI::App& app, const CommonOptions& common) {
    auto o = std::make_shared<renderer::RenderOptions>();
    CLI::App* sub =
        app.add_subcommand("render",
                           "Render the actor's face from the conditioning images with a trained neural renderer "
                           "(NED's Head2Head++ generator) into WORKDIR/faces/ for `ned composite`");
    sub->add_option("WORKDIR", o->workdir, "Work folder with track.safetensors (analysed) and conditioning/")
        ->required()
        ->check(CLI::ExistingDirectory);
    sub->add_option("--renderer", o->renderer,
                    "Renderer checkpoint (ned.renderer: `ned train-renderer` or scripts/convert_ned_renderer.py)")
        ->required();
    sub->add_option("--conditioning", o->conditioning,
                    "Folder of conditioning images {nmfc,shape,eyes}/NNNNNN.png (default WORKDIR/conditioning)");
    sub->add_option("--masks", o->masks,
                    "Aligned-space face masks NNNNNN.png, 0/255 (default: WORKDIR/masks/ from `ned analyze` when "
                    "present, else the landmark mask, warped to aligned space)");
    add_precision_option(sub, o->precision, "fp32, bf16 (CPUs with AVX512-BF16, CUDA) or fp16 (CUDA)",
                         "RenderOptions::precision");
    map_fields(sub, {{"RenderOptions::renderer", "--renderer"}});
    sub->add_flag("--allow-crop-size-mismatch", o->allow_crop_size_mismatch,
                  "Render with a renderer trained at another face size than the track's crop size (refused "
                  "otherwise: the generator runs, but its quality at another size is untested)");
    sub->footer(
        "Outputs: WORKDIR/faces_aligned/NNNNNN.png (generator output, aligned) and WORKDIR/faces/NNNNNN.png\n"
        "(warped back to the crop, masked). Every frame with conditioning is rendered; at the start and\n"
        "after a gap the earlier inputs are the first frame's and the previous outputs zeros.\n"
        "Exit codes: 2 missing/invalid track, conditioning or masks, outputs exist without -y;\n"
        "3 renderer checkpoint missing or invalid, or trained at another crop size than the track's.");
    set_runner(sub, [o, &common] {
        const auto t0 = std::chrono::steady_clock::now();
        renderer::RenderOptions opts = *o;
        opts.device = common.device;
        opts.overwrite = common.overwrite;
        ProgressBar bar("render", 0);
        const renderer::RenderResult r = renderer::render_workdir(opts, bar.fn());
        bar.finish();
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::printf("render: %lld frames in %lld segments, %.1f s -> %s\n", static_cast<long long>(r.frames_rendered),
                    static_cast<long long>(r.segments), secs, r.faces_dir.c_str());
    });
}

}  // namespace
}  // namespace ned::cli

NED_REGISTER_COMMAND(render, ned::cli::setup, 65);
