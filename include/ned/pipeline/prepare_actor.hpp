#pragma once
// `ned train-renderer ACTOR...`: turn the ACTOR arguments (video files, folders of videos, analysed work
// folders) into the work folders the trainer reads. Each video is prepared once into a cache under the
// training output folder:
//
//   DIR/cache/video-<stem>-<hash>/   (hash of the video's absolute path, size and modification time)
//     track.safetensors              analysis (analysis::analyze_video: track, landmarks, alignment, pupils,
//                                    masks/ with a segmentation model)
//     reconstruction.safetensors     DECA when its weights are given, else the landmark fit
//     conditioning/                  the actor's own conditioning images (conditioning::render_inputs)
//     stages/<stage>.json            stage records as `ned translate` keeps them (pipeline/stage_record.hpp):
//                                    a later run with the same video, models and options skips every stage;
//                                    a run killed inside a stage redoes only that stage.
//
// The trainer then makes its aligned faces, masks and mouth landmarks from these folders (its own cache,
// DIR/cache/NN/). Every stage streams over the frames, so memory is constant in the length of the footage.
#include <string>
#include <vector>

#include "ned/pipeline/translate.hpp"

namespace ned::pipeline {

struct PrepareActorOptions {
    std::string out;      ///< training output folder; the cache goes to out/cache/
    ModelPaths models;    ///< flame (required when a video is given), deca, segmentation, landmarks
    int fit_iters = 0;    ///< landmark fit steps per chunk (0 = reconstruct's defaults)
    int crop_size = 256;  ///< face crop size of the videos' tracks (the size the renderer trains at)
    std::string device = "cpu";
    int threads = 0;
};

/// True for the video extensions train-renderer takes from a folder (.mp4 .mov .mkv .avi .webm .m4v, any case).
bool is_video_file(const std::string& path);

/// Expand the ACTOR arguments and prepare every video. A folder holding track.safetensors is an analysed work
/// folder (used as it is); another folder contributes its video files (sorted by name, not recursive); a file
/// is a video. Returns the work folders in argument order. InputError (exit 2) for a missing argument, a
/// folder with neither, a video without a face; ModelError (exit 3, checked before any decoding) for a missing
/// or invalid FLAME / DECA / segmentation model.
/// A work folder is checked as the trainer reads it (a valid track with analysis, conditioning/) and a video must
/// open with a video stream, all before anything is decoded or written.
std::vector<std::string> prepare_actor(const std::vector<std::string>& actors, const PrepareActorOptions& options);

/// The checks of prepare_actor alone (arguments, work folders, videos openable, models), writing nothing:
/// `ned train-renderer` runs them before it creates --out. Same exceptions.
void check_actor_inputs(const std::vector<std::string>& actors, const PrepareActorOptions& options);

}  // namespace ned::pipeline
