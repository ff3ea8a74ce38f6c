#pragma once
// The first two stages of every pipeline that starts from a video (internal to src/pipeline): analysis
// (analysis::analyze_video) and reconstruction (recon::reconstruct_workdir: DECA when its weights are given, else
// the landmark fit), each run through the work folder's stage records with one key rule. `ned translate` /
// `ned style` (the input and a reference video) and train-renderer's preparation (prepare_actor.cpp) share it,
// so a cache made by one is valid for the other exactly when the options agree.
#include <string>

#include "ned/track/face_tracker.hpp"
#include "ned/pipeline/translate.hpp"
#include "pipeline/stage_record.hpp"

namespace ned::pipeline {

struct SourceStagesOptions {
    std::string video;          ///< the input video
    std::string dir;            ///< its work folder (created): track.safetensors, reconstruction.safetensors, ...
    std::string stage_prefix;   ///< stage record names: PREFIX + "analyze" / "reconstruct" ("reference-" for style)
    std::string label;          ///< progress bar and log prefix (e.g. "reference-", "clip.mp4: ")
    track::TrackOptions track;  ///< target face and detector (threads, face_at, ... as given)
    ModelPaths models;          ///< flame, deca, segmentation, landmarks
    int fit_iters = 0;          ///< landmark fit steps per chunk (0 = reconstruct's defaults)
    std::string device = "cpu";
    int threads = 0;
};

struct SourceStagesOutcome {
    StageOutcome analysis, reconstruction;
    std::string track_path, reconstruction_path;
};

/// Run (or skip, when their records match) the analysis and reconstruction stages of one video.
SourceStagesOutcome run_source_stages(StageRecords& records, const SourceStagesOptions& options);

}  // namespace ned::pipeline
