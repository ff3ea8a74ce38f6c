#pragma once
// The streamed end of `ned translate` / `ned style` (internal to src/pipeline): conditioning of the edited
// reconstruction -> blend mask that follows the edit -> neural renderer -> compositing into the decoded
// frames -> encoding, frame by frame. Three threads joined by bounded queues, so memory stays constant in
// video length and, on a GPU, the networks run while the CPU decodes, blends and encodes:
//
//   conditioning thread: ConditioningRenderer in batches of 16 frames (FLAME/D_detail forward, rasterizing),
//                        edit masks (8-bit images in the queue)
//   renderer thread:     renderer::SequenceRenderer, the one `ned render` runs (conditioning tensors, NED's ring
//                        buffer with its restarts, tensor2im, unalign to the crop, the resume file)
//   calling thread:      blend::composite_video (decode, Laplacian blend, paste; the encoder on its own thread)
//
// The faces are those of the staged commands (`ned render-inputs` + `ned render` + `ned composite`): the same
// functions on the same 8-bit images, without the PNG round trips. With `keep_faces` each face and its blend
// mask are also written to WORK/faces/ and WORK/edit_masks/crop/ (what a later run composites from when only
// the encoder options change) and WORK/render_resume.safetensors after each frame, so a killed run continues
// after its last finished frame with the same ring buffer (renderer::SequenceRenderer).
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "ned/blend/composite.hpp"
#include "ned/core/progress.hpp"
#include "ned/face/face_track.hpp"
#include "ned/renderer/precision.hpp"

namespace ned::pipeline {

struct StreamRenderOptions {
    std::string input;                  ///< the source video
    std::string work;                   ///< holds track.safetensors (analysed) and masks/ (segmentation), if any
    std::string edited;                 ///< the edited reconstruction
    std::string flame, deca, renderer;  ///< model files (deca may be empty: coarse shape images)
    bool follow_edit_mask = true;       ///< renderer and blend mask = source mask united with the NMFC coverage
    bool segmentation_masks = false;    ///< the source mask is WORK/masks/ (segmenter) when present
    renderer::Precision precision = renderer::Precision::Fp32;
    bool allow_crop_size_mismatch = false;  ///< a renderer trained at another crop size (check_trained_crop_size)
    std::string device = "cpu";
    int threads = 0;                    ///< conditioning and compositing threads (0 = all cores)
    bool keep_faces = false;            ///< write faces, masks and the resume file into WORK (see above)
    std::string resume_key;             ///< with keep_faces: the key of the resume file
    blend::CompositeOptions composite;  ///< crf, preset, metadata, overwrite, threads (faces_dir unused)
    std::string output;                 ///< the edited video
};

struct StreamRenderResult {
    long frames = 0;          ///< frames rendered by the network in this run
    long frames_resumed = 0;  ///< faces kept from an interrupted run (read back from WORK/faces)
    long composited = 0;      ///< frames that got a new face
    double wall_s = 0;        ///< the whole streamed pass
    double condition_s = 0, render_s = 0, composite_s = 0;  ///< busy time of each thread (not waiting)
};

/// The conditioning batches [begin, end) of steps that a pass starting at step `first` of `total` computes:
/// always the aligned batches [k*batch, (k+1)*batch) of an uninterrupted pass (a resumed pass takes the whole
/// batch holding `first`), so the batched FLAME/D_detail forwards see the same frames and round alike, and a
/// resumed run's faces are bit-identical to an uninterrupted run's (the ring buffer would amplify any
/// difference). The frames before `first` are conditioned and dropped.
std::vector<std::pair<int64_t, int64_t>> conditioning_batches(int64_t first, int64_t total, int64_t batch);

/// The faces kept by a finished streamed pass (WORK/faces, WORK/edit_masks/crop when the mask follows the
/// edit), for compositing again without the networks: the faces of the `planned` frames; one that is missing
/// is an InputError naming it (never a frame passed through unedited while the comment says edited).
blend::FaceSource kept_faces(const face::FaceTrack& track, const std::string& work, bool follow_edit_mask,
                             const std::vector<int64_t>& planned);
/// The first file a composite from the kept faces of `planned` would need and WORK lacks ("" when all are there).
std::string missing_kept_face(const std::vector<int64_t>& planned, const std::string& work, bool follow_edit_mask);

/// Run the streamed pass. Throws InputError / ModelError as the staged commands do; on any failure the
/// threads are stopped and joined and the output is not written.
StreamRenderResult stream_render(const StreamRenderOptions& options, const ProgressFn& progress = {});

}  // namespace ned::pipeline
