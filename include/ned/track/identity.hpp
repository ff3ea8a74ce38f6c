#pragma once
// Target identity across cuts and gaps (issue 13): the tracker follows one face by IoU inside a shot, but after a
// cut or a long gap it picks a face again by size or position, which may be another person. With the face
// descriptor of ned::facenet (face-api's port of dlib's ResNet, 128-d, same person < 0.6 L2) every segment of
// the track (a run between shot starts) is checked against the target's descriptor:
//   reference = --target-face PHOTO (its largest face), else the mean descriptor of the first
//               `reference_frames` detected frames of the first segment that has that many (the first
//               confident frames);
//   each segment: the median distance of up to `samples` detected frames (evenly spaced) to the reference;
//               above `threshold` -> every frame of the segment becomes invalid, status OtherPerson.
// A second decoding pass reads only the sampled frames' pixels (every frame is decoded, few are described).
#include <string>
#include <utility>
#include <vector>

#include "ned/core/progress.hpp"
#include "ned/track/face_detector.hpp"
#include "ned/face/face_track.hpp"

namespace ned::track {

// No validate(): filled by build_track from TrackOptions (validated there: identity_threshold, target_face).
struct IdentityOptions {
    std::string target_face;   ///< photo of the target (largest face in it); empty = first confident frames
    float threshold = 0.6f;    ///< descriptor L2 distance above which a segment is another person
    int reference_frames = 5;  ///< detected frames averaged for the default reference
    int samples = 3;           ///< detected frames described per segment
    std::string models_dir;    ///< open face models (empty = ned::facenet::open_models_dir())
};

/// Per segment of the track: first frame, end (exclusive), the median distance (NaN when no frame of it was
/// described) and whether it was accepted as the target.
struct SegmentIdentity {
    long begin = 0, end = 0;
    double distance = 0;
    bool accepted = true;
};

/// --target-face PHOTO picks the person, not only checks them: among the detections of up to `samples_max`
/// frames with faces (evenly spaced over the video), the face whose descriptor is nearest the photo's.
/// Returns {frame, detection index} (the tracker follows that face forwards and backwards, as with --face-at).
/// InputError naming the photo, the video and the nearest distance when no face is within options.threshold,
/// or when the photo shows no face.
std::pair<long, int> find_target_face(const std::string& video_path,
                                      const std::vector<std::vector<Detection>>& detections,
                                      const IdentityOptions& options, int samples_max = 24);

/// Check `track` (of `video_path`) against the target identity and mark the segments of other people invalid
/// (FrameStatus::OtherPerson). Returns the segments. InputError when the photo is unreadable or shows no
/// face; ModelError for missing open face models. Skips the pass (all accepted) when the track has a single
/// segment and no photo is given.
std::vector<SegmentIdentity> apply_identity(const std::string& video_path, face::FaceTrack& track,
                                            const IdentityOptions& options, const ProgressFn& progress = {});

}  // namespace ned::track
