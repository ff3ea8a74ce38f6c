// `ned reconstruct WORKDIR --flame FLAME [--deca DECA] [--method deca|fit]`: per-frame FLAME/DECA parameters
// -> WORKDIR/reconstruction.safetensors.
#include <memory>

#include "command.hpp"
#include "ned/core/progress.hpp"
#include "ned/recon/reconstruct.hpp"

namespace ned::cli {
namespace {

void setup(CLI::App& app, const CommonOptions& common) {
    auto o = std::make_shared<recon::ReconstructOptions>();
    auto workdir = std::make_shared<std::string>();
    CLI::App* sub = app.add_subcommand(
        "reconstruct",
        "3D face reconstruction of every tracked frame (after `ned analyze`): DECA's encoders, or a FLAME fit "
        "to the landmarks; writes WORKDIR/reconstruction.safetensors");
    sub->add_option("WORKDIR", *workdir, "Work folder holding track.safetensors")->required();
    sub->add_option("--flame", o->flame_path, "FLAME asset converted with scripts/convert_flame.py (docs/models.md)")
        ->required();
    sub->add_option("--deca", o->deca_path, "DECA weights converted with scripts/convert_deca.py (docs/models.md)");
    static const std::vector<std::pair<std::string, recon::Method>> methods = {{"deca", recon::Method::Deca},
                                                                               {"fit", recon::Method::Fit}};
    bind_enum(sub->add_option("--method", o->method,
                              "deca (DECA encoders on the frames) or fit (FLAME fitted to the landmarks, no DECA "
                              "needed); default: deca when --deca is given, else fit"),
              methods, o->method);
    sub->add_option("--video", o->video, "Video to read (default: the track's source)");
    sub->add_option("--batch", o->batch, "Crops per DECA forward pass")
        ->capture_default_str()
        ->check(CLI::Range(1, 1024));
    const std::string g = "Fitting (--method fit)";
    sub->add_option("--fit-iters", o->fit.iters, "Adam steps per chunk")
        ->check(CLI::Range(0, 1000000))
        ->capture_default_str()
        ->group(g);
    sub->add_option("--fit-chunk", o->fit.chunk, "Frames optimised together")
        ->check(CLI::Range(1, 100000))
        ->capture_default_str()
        ->group(g);
    sub->add_option("--fit-smooth", o->fit.w_smooth, "Weight of the temporal smoothness term")
        ->check(finite_range(0, 1e6))
        ->capture_default_str()
        ->group(g);
    map_fields(sub, {{"ReconstructOptions::batch", "--batch"},
                     {"FitOptions::iters", "--fit-iters"},
                     {"FitOptions::chunk", "--fit-chunk"},
                     {"FitOptions::w_smooth", "--fit-smooth"}});
    sub->footer(
        "Output: WORKDIR/reconstruction.safetensors (shape, exp, pose, cam, tform per frame; with DECA also\n"
        "detail, light, tex). Fit: reprojection error in the log and in the metadata (fit_error_px).\n"
        "Exit codes: 2 missing track/landmarks or output exists (use -y), 3 FLAME/DECA file missing or invalid.");
    set_inputs(sub, [o, workdir] {
        return std::vector<std::pair<std::string, std::string>>{{*workdir + "/track.safetensors", "track file"},
                                                                {o->flame_path, "FLAME asset"},
                                                                {o->deca_path, "DECA weights"},
                                                                {o->video, "input video"}};
    });
    set_runner(sub, [o, workdir, &common] {
        recon::ReconstructOptions opts = *o;
        opts.device = common.device;
        opts.overwrite = common.overwrite;
        ProgressBar bar("reconstruct", 0);
        recon::reconstruct_workdir(*workdir, opts, bar.fn());
        bar.finish();
    });
}

}  // namespace
}  // namespace ned::cli

NED_REGISTER_COMMAND(reconstruct, ned::cli::setup, 50);
