// `ned render-inputs WORKDIR --flame FLAME [--deca DECA] [--reconstruction FILE]`: the neural renderer's
// conditioning images (NMFC, shape, eyes) of every valid frame, in aligned space.
#include <memory>

#include "command.hpp"
#include "ned/core/progress.hpp"
#include "ned/conditioning/render_inputs.hpp"

namespace ned::cli {
namespace {

void setup(CLI::App& app, const CommonOptions& common) {
    auto o = std::make_shared<conditioning::RenderInputsOptions>();
    CLI::App* sub = app.add_subcommand(
        "render-inputs",
        "Render the conditioning images of the neural renderer (NMFC, detailed shape, eye gaze) for every "
        "valid frame into WORKDIR/conditioning/");
    sub->add_option("WORKDIR", o->workdir, "Work folder with track.safetensors (analysed) and reconstruction")
        ->required()
        ->check(CLI::ExistingDirectory);
    sub->add_option("--reconstruction", o->reconstruction,
                    "Reconstruction to render (default WORKDIR/reconstruction.safetensors); give an edited one "
                    "(from `ned manipulate`) to render new expressions")
        ->check(CLI::ExistingFile);
    sub->add_option("--flame", o->flame, "FLAME asset (ned.flame, scripts/convert_flame.py; see docs/models.md)")
        ->required();
    sub->add_option("--deca", o->deca,
                    "DECA weights (ned.deca) for the detailed shape image; without them the coarse shape is "
                    "rendered (noted in conditioning.json)");
    sub->add_option("--preview", o->preview, "Write a contact video: aligned crop | NMFC | shape | eyes");
    sub->add_flag("--save-images", o->save_images,
                  "Also write the crop-space images to WORKDIR/conditioning/crop/{nmfc,shape,eyes}/");
    using conditioning::EyesChoice;
    static const std::vector<std::pair<std::string, EyesChoice>> eyes = {
        {"auto", EyesChoice::Auto}, {"track", EyesChoice::Track}, {"mesh", EyesChoice::Mesh}};
    bind_enum(sub->add_option("--eyes", o->eyes,
                              "Eye contour/pupils: track (analysed landmarks), mesh (follow the rendered mesh's eye "
                              "contour, NED's create_inputs), auto = mesh when --reconstruction is given"),
              eyes, o->eyes);
    sub->add_option("--batch", o->batch, "Frames per FLAME/D_detail forward")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    map_fields(sub, {{"RenderInputsOptions::flame", "--flame"},
                     {"RenderInputsOptions::batch", "--batch"},
                     {"RenderInputsOptions::eyes", "--eyes"},
                     {"RenderInputsOptions::deca", "--deca"}});
    sub->footer(
        "Outputs: WORKDIR/conditioning/{nmfc,shape,eyes}/NNNNNN.png (aligned, 8-bit, crop size) and\n"
        "WORKDIR/conditioning/conditioning.json (frames, shape detailed|coarse, eyes track|mesh).\n"
        "Exit codes: 2 missing/invalid track or reconstruction, output exists without -y;\n"
        "3 FLAME or DECA asset missing or invalid.");
    set_inputs(sub, [o] {
        return std::vector<std::pair<std::string, std::string>>{
            {o->workdir + "/track.safetensors", "track file"},
            {o->reconstruction.empty() ? o->workdir + "/reconstruction.safetensors" : o->reconstruction,
             "reconstruction"},
            {o->flame, "FLAME asset"},
            {o->deca, "DECA weights"}};
    });
    set_outputs(sub, [o] { return std::vector<std::pair<std::string, std::string>>{{o->preview, "--preview"}}; });
    set_runner(sub, [o, &common] {
        conditioning::RenderInputsOptions opts = *o;
        opts.threads = resolve_threads(common.threads);
        opts.device = common.device;
        opts.overwrite = common.overwrite;
        ProgressBar bar("render-inputs", 0);
        conditioning::render_inputs(opts, bar.fn());
        bar.finish();
    });
}

}  // namespace
}  // namespace ned::cli

NED_REGISTER_COMMAND(render_inputs, ned::cli::setup, 60);
