#pragma once
// Options shared by `ned translate` and `ned style` (both run ned::pipeline::translate).
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "command.hpp"
#include "environment.hpp"
#include "shared_options.hpp"
#include "ned/core/error.hpp"
#include "ned/pipeline/translate.hpp"

namespace ned::cli {

struct TranslateCliOptions {
    pipeline::TranslateOptions t;
    pipeline::ModelSearch models;
    std::string emotions;
    bool no_edit_mask = false;
};

/// Binds the options common to translate and style (everything but the edit itself).
inline void add_translate_options(CLI::App* sub, const std::shared_ptr<TranslateCliOptions>& o) {
    sub->add_option("IN", o->t.input, "Input video")->required();
    sub->add_option("OUT", o->t.output, "Output video (.mp4, .mov or .mkv)")->required();
    sub->add_option("--intensity", o->t.edit.intensity, "0 keeps the source style, 1 the target, >1 exaggerates")
        ->check(finite_range(-100, 100))
        ->capture_default_str();
    sub->add_option("--renderer", o->models.renderer,
                    "Renderer checkpoint of this actor (ned.renderer: `ned train-renderer` or "
                    "scripts/convert_ned_renderer.py)")
        ->required();
    const std::string g = "Models";
    sub->add_option("--models", o->models.models_dir,
                    "Folder with flame.safetensors, manipulator.safetensors and optional deca.safetensors, "
                    "unet.safetensors (default $NED_MODELS, else ./models)")
        ->group(g);
    sub->add_option("--flame", o->models.flame, "FLAME asset (overrides MODELS/flame.safetensors)")->group(g);
    sub->add_option("--deca", o->models.deca,
                    "DECA weights (overrides MODELS/deca.safetensors; without DECA the landmark fit reconstructs)")
        ->group(g);
    sub->add_option("--manipulator", o->models.manipulator,
                    "Manipulator checkpoint (overrides MODELS/manipulator.safetensors)")
        ->group(g);
    sub->add_option("--segmentation-model", o->models.segmentation,
                    "FSGAN U-Net for the face masks (overrides MODELS/unet.safetensors)")
        ->group(g);
    sub->add_option("--work", o->t.work,
                    "Work folder: keeps every stage's output and a record per stage; a re-run skips finished "
                    "stages (default: a temporary folder removed at the end)");
    add_tracking_options(sub, o->t.track, kTrackTarget | kTrackFaceAt);
    sub->add_option("--crop-size", o->t.track.crop_size,
                    "Face crop size in pixels (as `ned crop`): the faces are rendered at this size, which must be the "
                    "renderer's (512 for close-ups with a 512 renderer)")
        ->check(CLI::Range(16, 4096))
        ->capture_default_str();
    sub->add_flag("--allow-crop-size-mismatch", o->t.allow_crop_size_mismatch,
                  "Render with a renderer trained at another face size than --crop-size (refused otherwise: the "
                  "generator runs, but its quality at another size is untested)");
    sub->add_option("--fit-iters", o->t.fit_iters,
                    "Landmark fit (no DECA weights): Adam steps per chunk, twice that for the first chunk and the "
                    "shape (0 = reconstruct's defaults 120/250/250)")
        ->check(CLI::Range(0, 1000000));
    sub->add_option("--preview", o->t.preview, "Also write original | edited side by side, with the audio");
    sub->add_option("--report", o->t.report,
                    "JSON report: per-stage time and fps, frames edited/passed/filled, jaw correlation, mean "
                    "expression change");
    sub->add_option("--crf", o->t.crf, "libx264 CRF of the output")->check(CLI::Range(0, 51))->capture_default_str();
    sub->add_option("--preset", o->t.preset, "libx264 preset")->capture_default_str();
    add_output_format_options(sub, o->t.codec, o->t.pix_fmt, "TranslateOptions");
    add_layer_options(sub, o->t.layers);
    add_precision_option(sub, o->t.precision, "Renderer precision: fp32, bf16 or fp16 (CUDA)",
                         "TranslateOptions::precision");
    sub->add_flag("--no-edit-mask", o->no_edit_mask,
                  "Blend with the source face mask only (default: its union with the edited face's NMFC coverage, "
                  "so an opened jaw or raised brows are not cut off)");
    map_fields(sub, {{"TranslateOptions::edit", sub->get_name() == "style" ? "--reference" : "--emotion"},
                     {"TranslateOptions::edit.intensity", "--intensity"},
                     {"ManipulateOptions::schedule", "--schedule"},
                     {"TranslateOptions::fit_iters", "--fit-iters"},
                     {"TranslateOptions::crf", "--crf"},
                     {"TranslateOptions::preset", "--preset"},
                     {"TranslateOptions::work", "--work"}});
    set_outputs(sub, [o] {
        return std::vector<std::pair<std::string, std::string>>{
            {o->t.output, "output video"},  {o->t.preview, "--preview video"},        {o->t.report, "--report"},
            {o->t.layers.matte, "--matte"}, {o->t.layers.face_layer, "--face-layer"}, {o->t.work, "--work folder"}};
    });
    set_inputs(sub, [o] {
        return std::vector<std::pair<std::string, std::string>>{{o->t.input, "input video"},
                                                                {o->t.edit.reference, "reference"},
                                                                {o->t.track.target_face, "--target-face photo"},
                                                                {o->models.renderer, "renderer checkpoint"},
                                                                {o->models.flame, "FLAME asset"},
                                                                {o->models.deca, "DECA weights"},
                                                                {o->models.manipulator, "manipulator checkpoint"}};
    });
}

inline void run_translate(TranslateCliOptions& o, const CommonOptions& common, const char* name) {
    pipeline::TranslateOptions t = o.t;
    pipeline::ModelSearch search = o.models;
    if (search.models_dir.empty()) search.models_dir = environment().models_dir;  // $NED_MODELS
    t.models = pipeline::resolve_models(search);
    t.device = common.device;
    t.threads = resolve_threads(common.threads);
    t.overwrite = common.overwrite;
    t.follow_edit_mask = !o.no_edit_mask;
    const pipeline::TranslateResult r = pipeline::translate(t);
    int run = 0, skipped = 0;
    for (const auto& s : r.stages) (s.skipped ? skipped : run)++;
    std::printf(
        "%s: %ld frames, %ld edited (%s), %ld passed through; %d stages run, %d skipped; %.1f s (%.2f fps) -> %s\n",
        name, r.frames, r.edited, pipeline::format_ranges(r.edited_ranges).c_str(), r.passed, run, skipped,
        r.total_wall_s, r.total_wall_s > 0 ? r.frames / r.total_wall_s : 0.0, t.output.c_str());
}

}  // namespace ned::cli
