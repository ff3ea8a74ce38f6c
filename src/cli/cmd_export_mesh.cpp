// `ned export-mesh RECON --flame FLAME --out DIR [--frames LIST]`: one OBJ per frame.
#include <memory>

#include "command.hpp"
#include "ned/core/progress.hpp"
#include "ned/recon/reconstruct.hpp"

namespace ned::cli {
namespace {

void setup(CLI::App& app, const CommonOptions& common) {
    auto o = std::make_shared<recon::ExportMeshOptions>();
    auto recon_path = std::make_shared<std::string>();
    CLI::App* sub = app.add_subcommand(
        "export-mesh", "Write the FLAME mesh of each reconstructed frame as a Wavefront OBJ (model space)");
    sub->add_option("RECON", *recon_path, "reconstruction.safetensors")->required()->check(CLI::ExistingFile);
    sub->add_option("--flame", o->flame_path, "FLAME asset converted with scripts/convert_flame.py")->required();
    sub->add_option("--out", o->out_dir, "Output folder (created if missing)")->required();
    sub->add_option("--frames", o->frames, "Frames to export, e.g. 0-10,25,40 (default: all frames with a face)");
    map_fields(sub, {{"ExportMeshOptions::out_dir", "--out"}});
    sub->footer(
        "Output: DIR/000000.obj ... (FLAME vertices after LBS, before the camera; faces 1-based).\n"
        "Exit codes: 2 bad input / frame list / existing files (use -y), 3 FLAME file missing or invalid.");
    set_inputs(sub, [o, recon_path] {
        return std::vector<std::pair<std::string, std::string>>{{*recon_path, "reconstruction"},
                                                                {o->flame_path, "FLAME asset"}};
    });
    set_outputs(sub, [o] { return std::vector<std::pair<std::string, std::string>>{{o->out_dir, "--out folder"}}; });
    set_runner(sub, [o, recon_path, &common] {
        recon::ExportMeshOptions opts = *o;
        opts.overwrite = common.overwrite;
        ProgressBar bar("export-mesh", 0);
        recon::export_meshes(*recon_path, opts, bar.fn());
        bar.finish();
    });
}

}  // namespace
}  // namespace ned::cli

NED_REGISTER_COMMAND(export_mesh, ned::cli::setup, 55);
