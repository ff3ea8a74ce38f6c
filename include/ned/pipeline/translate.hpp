#pragma once
// `ned translate` and `ned style` as one library call: the whole edit of a video, stage after stage, with
// the existing stage libraries (docs/architecture.md, "Pipeline layer"):
//
//   analyze (analysis::analyze_video) -> reconstruct (recon::reconstruct_workdir: DECA when its weights are
//   there, else the landmark fit) -> manipulate (manip::manipulate: emotion, schedule or reference style)
//   -> render, streamed frame by frame in three threads (src/pipeline/stream_render.hpp): the conditioning
//   images of the edited reconstruction and the blend mask that follows the edit -> the neural renderer ->
//   compositing (decode, blend, encode: every frame, timestamps and audio kept, `comment` metadata naming
//   the edit).
//
// Work folder: every stage writes its outputs there and, LAST and atomically, a record
// WORK/stages/<stage>.json holding a key (a hash of the stage's inputs: the upstream stage's key and main
// output identity, the options, the identity (path, size, mtime) of every model file and of the input video).
// A stage whose record exists with the same key is skipped; a stage without a record (never run, killed,
// failed) runs again from its start, except `render`, which continues after its last rendered frame. Changing
// only the edit re-runs manipulate and render; changing only the renderer re-runs render; changing only the
// encoder options (or the output) re-runs just the compositing from the kept faces (record `composite`).
// With a temporary work folder (no --work) nothing of the render stage is written but the output.
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "ned/blend/layers.hpp"
#include "ned/io/video.hpp"
#include "ned/renderer/precision.hpp"
#include "ned/track/face_tracker.hpp"

namespace ned::pipeline {

/// The model files of a translation. Empty optional entries (deca, segmentation) are not used.
struct ModelPaths {
    std::string flame;         ///< ned.flame (required)
    std::string deca;          ///< ned.deca (optional: without it the landmark fit reconstructs)
    std::string manipulator;   ///< ned.manipulator (required)
    std::string segmentation;  ///< ned.fsgan_unet (optional: without it the landmark face mask)
    std::string renderer;      ///< ned.renderer (required for translate/style; not for a reference video)
    std::string landmarks;     ///< dlib 68-point predictor; empty = Debian's libdlib-data file
};

/// Where to look for models: `models_dir`, else ./models; explicit per-file paths win. (The CLI passes
/// `--models DIR`, else $NED_MODELS: the library never reads the environment.)
struct ModelSearch {
    std::string models_dir;                                        ///< --models or $NED_MODELS (empty: ./models)
    std::string flame, deca, manipulator, segmentation, renderer;  ///< explicit overrides (may be empty)
};

/// Resolve the paths: explicit files as given; the folder's flame.safetensors and manipulator.safetensors
/// always (checked later); its deca.safetensors and unet.safetensors only when present.
ModelPaths resolve_models(const ModelSearch& search);

/// Check every model file before any video is decoded: each missing file, or one that is not a safetensors
/// file of the expected format, is named with the command that makes it (docs/models.md). All problems are
/// collected into one ModelError (exit code 3). `need_renderer` = false skips the renderer.
void check_models(const ModelPaths& models, bool need_renderer = true);
/// The same for what analysis and reconstruction need: FLAME (required), DECA and segmentation (when given),
/// the dlib landmark model.
void check_reconstruction_models(const ModelPaths& models);

/// The edit: exactly one of emotions, schedule or reference.
struct Edit {
    std::vector<std::string> emotions;  ///< label mode (several: equal parts, as NED)
    std::string schedule;               ///< "SECONDS:EMOTION[@INTENSITY],..."
    std::string reference;              ///< style: a video (analysed + reconstructed) or a .safetensors reconstruction
    double intensity = 1.0;
    uint64_t seed = 0;
    /// "emotion=happy intensity=1 seed=0" (for the metadata, the report and the stage key).
    std::string describe() const;
};

struct TranslateOptions {
    std::string input, output;
    std::string work;  ///< work folder; empty = a temporary folder removed at the end
    ModelPaths models;
    Edit edit;
    /// The target face and the detector (the options of `ned crop` / `ned analyze`): face_index (0 = largest
    /// face) or face_at, detector, identity, target_face, identity_threshold; threads come from `threads`, the CLI
    /// leaves the rest at their defaults (every field is in the analysis stage's key). A reference video (style)
    /// is tracked with the same detector, its largest face, and its own identity (never target_face: it is
    /// another person).
    track::TrackOptions track;
    int fit_iters =
        0;  ///< landmark fit: Adam steps per chunk (first chunk and shape pass: twice); 0 = recon's defaults
    renderer::Precision precision = renderer::Precision::Fp32;
    /// Render with a renderer trained at another crop size than track.crop_size (refused before any work
    /// otherwise: renderer::check_trained_crop_size).
    bool allow_crop_size_mismatch = false;
    std::string device = "cpu";
    int crf = 18;
    std::string preset = "medium";
    io::Codec codec = io::Codec::H264;  ///< the output's encoder (--codec)
    std::string pix_fmt;                ///< --pix-fmt; "" = the input's depth and chroma layout (io::output_pix_fmt)
    int threads = 0;                    ///< 0 = all cores
    bool overwrite = false;             ///< -y (OUT, --preview, --report)
    bool follow_edit_mask = true;       ///< blend mask = source face mask united with the edited NMFC coverage
    std::string preview;                ///< original | edited side by side (with the audio)
    std::string report;                 ///< JSON report
    blend::LayerOptions layers;         ///< --matte, --face-layer: the compositing hand-off (ned/blend/layers.hpp)

    /// One edit mode, a finite intensity, the track options (TrackOptions::validate), fit_iters >= 0, crf 0..51:
    /// OptionError (exit 2) naming the field and the value; an unknown emotion: InputError naming it. translate()
    /// calls it before any decoding.
    void validate() const;
};

struct StageTiming {
    std::string name;
    bool skipped = false;  ///< the record matched: not run
    double wall_s = 0;     ///< this run (0 when skipped)
    long frames = 0;       ///< frames the stage handled
    std::string key;
    /// The streamed `render` stage: busy seconds of its threads ("condition": conditioning images and masks,
    /// "render": the network, "composite": decode, blend and encode, i.e. the compositing's wall time minus the
    /// time it waited for faces). They overlap, so they add up to more than wall_s.
    std::map<std::string, double> busy_s;
};

struct TranslateResult {
    std::vector<StageTiming> stages;
    long frames = 0, edited = 0, passed = 0, filled = 0;
    std::vector<std::pair<long, long>> edited_ranges;  ///< inclusive frame index ranges
    double jaw_correlation = 0;         ///< Pearson of pose[:,3] source vs edited over valid frames (NaN if undefined)
    double mean_expression_change = 0;  ///< mean over valid frames of |exp_edited - exp_source| (L2)
    double total_wall_s = 0;
    long render_frames_resumed = 0;  ///< frames an interrupted render had written and this run kept
    std::string comment;             ///< the container comment written to OUT
};

/// Validate the options (InputError, exit 2) and outputs (existing without overwrite, an input) and the
/// models (ModelError, exit 3) -- all before any decoding -- then run the stages. Progress bars on stderr.
TranslateResult translate(const TranslateOptions& options);

/// "0-11,15-20" from ranges.
std::string format_ranges(const std::vector<std::pair<long, long>>& ranges);

}  // namespace ned::pipeline
