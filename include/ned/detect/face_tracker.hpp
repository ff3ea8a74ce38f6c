#pragma once
// The face track of a video: detect (dlib HOG, parallel across frames), follow ONE target face by IoU,
// fill missing detections, median-smooth the boxes per shot, and make NED's square crop transforms.
//
// Pipeline of build_track():
//   1. decode pass (one thread): each frame is downscaled (DetectorOptions::detect_scale) to grey; a
//      64-bin grey histogram of a 160-px copy detects shot cuts (half the L1 distance to the previous
//      frame's histogram > cut_threshold); detection runs on `threads` worker threads, one dlib detector
//      each. Only the detections of each frame are kept (memory O(frames * few boxes)).
//   2. target selection + IoU tracking (select_target): at the first frame of a shot that has at least
//      face_index+1 faces, the face_index-th largest face (0 = largest) is the target; afterwards the
//      detection with the highest IoU (>= min_iou) with the last target box continues the track, so
//      another face - even a larger one - cannot take it. After `max_gap` frames without a match the
//      target is re-acquired by the same rule and the track is split there (a "jump").
//   3. per segment (between cuts/jumps): fill missing boxes NED's way (next detected box in the segment,
//      else the previous one) and median-smooth each coordinate (window min(smooth_window, len), made odd,
//      reflect border like scipy). Segments without any detection stay invalid (frames pass through).
//   4. boxes -> hog_to_ned_box -> make_square -> crop_transform(crop_size, margin).
#include <opencv2/core.hpp>

#include <string>
#include <vector>

#include "ned/core/progress.hpp"
#include "ned/detect/face_detector.hpp"
#include "ned/detect/face_track.hpp"

namespace ned::detect {

struct TrackOptions {
    float detect_scale = 0.f;    ///< 0 = auto (long side ~640 px, never upscaled)
    int upsample = 0;            ///< dlib pyramid-up steps for small faces (0 or 1)
    int face_index = 0;          ///< 0 = largest face, 1 = second largest, ... (see select_target)
    int smooth_window = 49;      ///< median window (frames), NED's window_length; 1 = no smoothing
    float cut_threshold = 0.5f;  ///< shot cut when half the L1 grey-histogram distance exceeds this (0..1)
    float min_iou = 0.3f;        ///< a detection continues the track if IoU with the last box >= this
    int max_gap = 25;            ///< frames without a match before the target is re-acquired
    float margin = 70.f;         ///< NED's margin (pixels of a 256 crop)
    int crop_size = 256;
    int threads = 0;             ///< detection threads (0 = all cores)
    long max_frames = 0;         ///< only the first N frames (0 = all); for tests and previews
};

/// Build the face track of `video_path`. Throws InputError "no face found in VIDEO" when the target face
/// is never found, and the io errors for unreadable videos. `progress` gets (frames done, total).
FaceTrack build_track(const std::string& video_path, const TrackOptions&, const ProgressFn& = {});

// ---- building blocks (pure functions, exposed for tests and for other tools) ----

/// Intersection over union of two x0,y0,x1,y1 boxes (0 when either is empty).
float iou(const cv::Vec4f& a, const cv::Vec4f& b);

/// Result of target selection: per frame the index into that frame's detections (-1 = missing) and the
/// frames where a new segment starts (always includes 0 when non-empty).
struct TargetSelection {
    std::vector<int> chosen;
    std::vector<bool> segment_start;
};
/// Step 2 above. `detections[t]` are frame t's detections (any order), `cuts[t]` = frame t starts a
/// new shot (may be empty = no cuts).
TargetSelection select_target(const std::vector<std::vector<Detection>>& detections,
                              const std::vector<bool>& cuts, int face_index, float min_iou, int max_gap);

/// Fill missing boxes of one segment NED's way: a missing frame takes the next present box, else the
/// previous one. Returns false (boxes untouched) if no box is present.
bool fill_missing(std::vector<cv::Vec4f>& boxes, const std::vector<bool>& present);

/// Per-coordinate median filter of one segment: window min(window, len), minus 1 if even, reflect
/// border (scipy.ndimage.median_filter mode='reflect', i.e. ...c b a | a b c ... d | d c b...).
std::vector<cv::Vec4f> median_smooth(const std::vector<cv::Vec4f>& boxes, int window);

/// Half the L1 distance between two normalised histograms (0 = equal, 1 = disjoint).
float histogram_distance(const std::vector<float>& a, const std::vector<float>& b);
/// The normalised 64-bin histogram of a grey u8 image (used for cut detection).
std::vector<float> grey_histogram(const cv::Mat& grey);

}  // namespace ned::detect
