#pragma once
// The face track of a video: detect (dlib HOG, parallel across frames), follow ONE target face by IoU,
// fill short detector drop-outs, median-smooth the boxes, and make NED's square crop transforms.
//
// Pipeline of build_track():
//   1. decode pass (one thread): each frame is downscaled (DetectorOptions::detect_scale) to grey; a
//      64-bin grey histogram and an 8x8 colour thumbnail detect shot cuts (is_cut); detection runs on `threads`
//      worker threads, one dlib detector each. Only the detections of each frame are kept (memory O(frames *
//      few boxes)).
//   2. target selection + IoU tracking (select_target): at the first frame of a shot that has at least
//      face_index+1 faces, the face_index-th largest face (0 = largest) is the target (with --face-at:
//      select_target_at, the face nearest a point at a time, followed forwards and backwards from there;
//      in other shots and after long gaps the face most similar in position and size to the target's last
//      box is picked); afterwards the
//      detection with the highest IoU (>= min_iou) with the last target box continues the track, so
//      another face - even a larger one - cannot take it. After a gap longer than `max_gap_s` without a
//      match the target is lost; it is re-acquired by the same rule as at the start, and the track is
//      split there. A cut always ends the track: the next shot picks its target by the same rule.
//   3. per segment (between cuts, re-acquisitions and jumps), fill_gaps: runs of at most `max_gap_s`
//      (in frames: gap_frames) without a detection are filled (interpolated between detections, extrapolated at
//      the ends); longer runs stay invalid (status NoFace). Each run of valid frames is median-smoothed on its own.
//   4. boxes -> hog_to_ned_box -> make_square -> crop_transform(crop_size, margin); a frame whose square
//      box lies less than `min_inside` inside the frame is invalid (status OutsideFrame).
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include <string>
#include <vector>

#include "ned/core/progress.hpp"
#include "ned/track/face_detector.hpp"
#include "ned/face/face_track.hpp"

namespace ned::track {

/// --face-at SECONDS:X,Y: the target is the face nearest pixel (X,Y) of the displayed frame at time SECONDS
/// (from the first frame). Inactive when seconds < 0.
struct FaceAt {
    double seconds = -1;
    double x = 0, y = 0;
    bool active() const { return seconds >= 0; }
};
/// Parse "SECONDS:X,Y" (e.g. "2.5:900,400"). Empty text = inactive. Throws InputError naming the value.
FaceAt parse_face_at(const std::string& text);

struct TrackOptions {
    /// --detector (face_detector.hpp). Default combined: HOG and BlazeFace on every frame (BlazeFace's faces that
    /// HOG misses checked by FaceMesh; BlazeFace's box on turned faces), HOG on copies turned by +-55 degrees where
    /// neither finds a face (docs/decisions.md "Default detector").
    DetectorKind detector = DetectorKind::Combined;
    bool identity = true;             ///< check the target's identity across cuts and gaps (identity.hpp)
    std::string target_face;          ///< --target-face PHOTO: the target's identity (empty = first confident frames)
    float identity_threshold = 0.6f;  ///< face-descriptor distance above which a face is another person
    float detect_scale = 0.f;         ///< 0 = auto (long side ~640 px, never upscaled)
    int upsample = 0;                 ///< dlib pyramid-up steps for small faces (0, 1 or 2)
    int face_index = 0;               ///< 0 = largest face, 1 = second largest, ... (see select_target)
    FaceAt face_at;                   ///< when active: the face nearest this point at this time (face_index unused)
    int smooth_window = 49;           ///< median window (frames), NED's window_length; 1 = no smoothing
    float cut_threshold = 0.2f;       ///< grey-histogram distance (0..1) of a shot cut; see is_cut
    float min_iou = 0.3f;             ///< a detection continues the track if IoU with the last box >= this
    float max_gap_s = 0.33f;          ///< longest detector drop-out that is filled, in seconds (0 = never fill; at
                                      ///< most 3600); a longer one ends the track and the target is picked again
    float min_inside = 0.5f;          ///< a face box with less than this fraction of its area in the frame is invalid
    float margin = 70.f;              ///< NED's margin (pixels of a 256 crop)
    int crop_size = 256;
    int threads = 0;      ///< detection threads (0 = all cores)
    long max_frames = 0;  ///< only the first N frames (0 = all); for tests and previews

    /// Every field in its range (face_index 0..1000, smooth_window >= 1, crop_size >= 16, cut_threshold > 0,
    /// max_gap_s in [0, 3600], min_inside and min_iou in [0, 1], ...): OptionError (exit 2) naming the field and
    /// the value. build_track calls it.
    void validate() const;
};

/// Every field of `o` by name (the stage keys of translate are built from it, so a new field changes them:
/// test_face_tracker's TrackOptionsJson fails until the field is added here).
nlohmann::json to_json(const TrackOptions& o);

/// Build the face track of `video_path`. Throws InputError "no face found in VIDEO" when the target face
/// is never found, and the io errors for unreadable videos. `progress` gets (frames done, total).
face::FaceTrack build_track(const std::string& video_path, const TrackOptions&, const ProgressFn& = {});

// ---- building blocks (pure functions, exposed for tests and for other tools) ----

/// Intersection over union of two x0,y0,x1,y1 boxes (0 when either is empty).
float iou(const cv::Vec4f& a, const cv::Vec4f& b);

/// Result of target selection: per frame the index into that frame's detections (-1 = missing), the
/// frames where a new segment starts (always includes 0 when non-empty), and at each frame where the target
/// was (re-)acquired by rank the number of faces it was chosen from (0 elsewhere).
struct TargetSelection {
    std::vector<int> chosen;
    std::vector<bool> segment_start;
    std::vector<int> acquired_among;
};
/// Step 2 above. `detections[t]` are frame t's detections (any order), `cuts[t]` = frame t starts a
/// new shot (may be empty = no cuts).
TargetSelection select_target(const std::vector<std::vector<Detection>>& detections, const std::vector<bool>& cuts,
                              int face_index, float min_iou, int max_gap_frames);

/// --face-at: the target is detection `anchor_det` of frame `anchor`; it is followed forwards and backwards by
/// the IoU rule of select_target. Where the track is lost (a cut, a gap longer than max_gap_frames) the face most
/// similar in position and size to the target's last box (the nearest one in time) is picked (most_similar).
TargetSelection select_target_at(const std::vector<std::vector<Detection>>& detections, const std::vector<bool>& cuts,
                                 long anchor, int anchor_det, float min_iou, int max_gap_frames);

/// Index of the detection most similar to `ref` in position and size: the smallest
/// |centre offset| / side(ref) + |ln(side / side(ref))| (side = sqrt(area)); -1 when `dets` is empty.
int most_similar(const std::vector<Detection>& dets, const cv::Vec4f& ref);

/// The detection nearest point (x, y): the smallest distance from the point to the box (0 inside), ties by
/// the distance to the box centre. -1 when there is none within half the box's side of its edge.
int nearest_face(const std::vector<Detection>& dets, double x, double y);

/// Fill short detector drop-outs of one segment. A run of at most `max_gap_frames` frames without a detection is
/// filled: between two detections by linear interpolation, before the first or after the last detection
/// by constant-velocity extrapolation from the nearest (up to 5) detections, so a face leaving the frame
/// keeps moving out of it. Longer runs (and every frame of a segment without detections) are left as they
/// are and reported NoFace. Returns the status of each frame: Detected, Filled or NoFace.
std::vector<face::FrameStatus> fill_gaps(std::vector<cv::Vec4f>& boxes, const std::vector<bool>& present,
                                         int max_gap_frames);

/// Fraction of the area of box x0,y0,x1,y1 that lies inside a width x height frame (0 for empty boxes).
float fraction_inside(const cv::Vec4f& box, int width, int height);

/// --max-gap in seconds -> frames at frame rate num/den (rounded; a 0/unknown rate counts as 25 fps).
int gap_frames(float seconds, int fps_num, int fps_den);

/// Per-coordinate median filter of one segment: window min(window, len), minus 1 if even, reflect
/// border (scipy.ndimage.median_filter mode='reflect', i.e. ...c b a | a b c ... d | d c b...).
std::vector<cv::Vec4f> median_smooth(const std::vector<cv::Vec4f>& boxes, int window);

/// Half the L1 distance between two normalised histograms (0 = equal, 1 = disjoint).
float histogram_distance(const std::vector<float>& a, const std::vector<float>& b);
/// Mean absolute difference of two BGR u8 thumbnails (8x8 in the tracker), as a fraction of 255.
float thumbnail_difference(const cv::Mat& a, const cv::Mat& b);
/// Shot cut between two consecutive frames: the grey histograms differ by more than `cut_threshold` AND the
/// 8x8 colour thumbnails by more than 0.1 (a cut changes both what is where and the tones), or either alone
/// by 2.5x its bound (0.5 / 0.25 at the default 0.2). Measured on the shared clips (docs/decisions.md).
bool is_cut(float histogram_distance, float thumbnail_difference, float cut_threshold);
/// The normalised 64-bin histogram of a grey u8 image (used for cut detection).
std::vector<float> grey_histogram(const cv::Mat& grey);

}  // namespace ned::track
