#pragma once
// FaceTrack: the boundary type between face analysis and everything after it, stored as
// WORKDIR/track.safetensors (format "ned.track", version 1).
//
// Coordinate frames:
//   frame   : pixels of the decoded frame in display orientation, (0,0) = centre of the top-left pixel
//   crop    : pixels of the crop_size x crop_size face crop (256 by default)
//   aligned : crop warped by `align` onto NED's 68-point template (same size as the crop)
//
// Stored tensors (T = frame count):
//   boxes [T,4] f32      smoothed square face box x0,y0,x1,y1 in frame pixels (before the margin)
//   valid [T] u8         1 if a face is known for the frame (detected or filled), 0 = pass through
//   crop_to_frame [T,2,3] f32   affine mapping crop pixels to frame pixels
//   detected [T] u8      1 if the detector itself fired on this frame (before filling)
//   status [T] u8        FrameStatus: why a frame is valid or not (optional; older tracks: from valid/detected)
//   shot_start [T] u8    1 where a new shot starts (cut) or the target was re-acquired (optional)
//   detector [T] u8      DetectionSource: the model that found the target in a detected frame, 0 otherwise
//                        (optional; older tracks have none)
// and, after `ned analyze` (has_analysis):
//   landmarks [T,68,2] f32          single-detection 68 iBUG landmarks, crop pixels
//   aligned_landmarks [T,68,2] f32  multisample-averaged landmarks mapped by `align`, aligned pixels
//   align [T,2,3] f32               similarity crop -> aligned
//   pupils [T,2,2] f32              image-left then image-right pupil, crop pixels
//   landmark_source [T] u8          LandmarkSource: the model behind the frame's landmarks (optional)
//   yaw [T] f32                     the face's estimated yaw in degrees (optional; face_landmarker.hpp)
// __metadata__: format, version, source, fps (e.g. "30000/1001"), width, height, crop_size, frame_count.
#include <opencv2/core.hpp>

#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace ned::face {

constexpr int kNumLandmarks = 68;
using Landmarks = std::array<cv::Point2f, kNumLandmarks>;

/// Which model found a detection. Stored as u8 per frame in track.safetensors (`detector`); the numbers are part
/// of the format.
enum class DetectionSource : unsigned char {
    None = 0,        ///< no detection (a filled or faceless frame)
    Hog = 1,         ///< dlib's HOG on the upright frame
    HogRotated = 2,  ///< dlib's HOG on a rotated copy (rotation search)
    BlazeFace = 3,   ///< MediaPipe BlazeFace (with FaceMesh's check in `combined`)
    Ssd = 4,         ///< face-api's SSD
};
/// "none" / "hog" / "hog-rotated" / "blazeface" / "ssd".
const char* source_name(DetectionSource s);
constexpr int kNumDetectionSources = 5;

/// Which landmark model gave a frame's 68 points. Stored as u8 per frame (`landmark_source`); part of the format.
enum class LandmarkSource : unsigned char {
    Dlib = 0,      ///< dlib's 68-point shape predictor (frontal and moderately turned faces)
    FaceMesh = 1,  ///< MediaPipe FaceMesh mapped to 68 points (faces turned in yaw)
    Blend = 2,     ///< a linear mix of both (yaw in the band between them)
};
/// "dlib" / "facemesh" / "blend".
const char* landmark_source_name(LandmarkSource s);
constexpr int kNumLandmarkSources = 3;

/// Why a frame is (in)valid. Stored as u8 in track.safetensors; the numbers are part of the format.
enum class FrameStatus : uint8_t {
    NoFace = 0,        ///< invalid: no target detection and no short gap to fill (face gone, other shot)
    Detected = 1,      ///< valid: the detector found the target in this frame
    Filled = 2,        ///< valid: a short detector drop-out (<= --max-gap) filled from neighbouring frames
    OutsideFrame = 3,  ///< invalid: the face box lies mostly outside the frame
    OtherPerson = 4,   ///< invalid: a face is there but its descriptor is not the target's (identity.hpp)
};
/// "detected", "filled", "no face", "outside frame", "other person".
const char* status_name(FrameStatus s);

struct FaceFrame;
/// The status consistent with valid/detected (code that only sets `valid`/`detected` stays correct):
/// valid -> Detected or Filled; invalid -> OutsideFrame when so marked, else NoFace.
FrameStatus effective_status(const FaceFrame& f);

/// Everything known about the target face in one frame.
struct FaceFrame {
    bool valid = false;                        ///< a face box exists (detected or filled); false = pass through
    bool detected = false;                     ///< the detector fired on this frame
    FrameStatus status = FrameStatus::NoFace;  ///< consistent with valid/detected; says why a frame is invalid
    bool shot_start = false;    ///< a cut or a re-acquisition of the target starts here (restart temporal state)
    cv::Vec4f box{0, 0, 0, 0};  ///< smoothed square box x0,y0,x1,y1 in frame pixels
    cv::Matx23f crop_to_frame = cv::Matx23f::eye();  ///< crop pixel -> frame pixel
    // --- filled by analysis (FaceTrack::has_analysis) ---
    Landmarks landmarks{};                                  ///< single-detection landmarks, crop pixels
    Landmarks aligned_landmarks{};                          ///< multisample-averaged landmarks in aligned pixels
    cv::Matx23f align = cv::Matx23f::eye();                 ///< crop -> aligned similarity
    std::array<cv::Point2f, 2> pupils{};                    ///< image-left, image-right pupil, crop pixels
    DetectionSource detector = DetectionSource::None;       ///< the model that found the target (detected frames)
    LandmarkSource landmark_source = LandmarkSource::Dlib;  ///< after analysis: the model behind `landmarks`
    float yaw_deg = 0.f;  ///< after analysis: estimated yaw (positive: the face turned towards image right)
    /// In memory only (not stored): BlazeFace's keypoint yaw of the detection (Detection::yaw_deg) on a detected
    /// frame, NaN when BlazeFace did not see the face or the frame was filled. The landmark stage uses it to skip
    /// FaceMesh on faces that are clearly frontal.
    float detector_yaw_deg = std::numeric_limits<float>::quiet_NaN();
};

/// The face track of one video.
struct FaceTrack {
    std::string source;            ///< input video path
    int width = 0, height = 0;     ///< frame size (display orientation)
    int fps_num = 0, fps_den = 1;  ///< average frame rate of the source
    int crop_size = 256;
    bool has_analysis = false;      ///< landmarks/align/pupils are filled
    std::vector<FaceFrame> frames;  ///< one entry per decoded frame, in order

    size_t num_valid() const;
};

/// Frame counts of a track by status, for summaries.
struct TrackCounts {
    long frames = 0, detected = 0, filled = 0, valid = 0, no_face = 0, outside = 0, other = 0, shots = 0;
    /// Detected frames by the model that found the target (index: DetectionSource); None = not recorded.
    std::array<long, kNumDetectionSources> by_detector{};
    /// Valid frames by landmark model (index: LandmarkSource); only when the track has its analysis.
    std::array<long, kNumLandmarkSources> by_landmarks{};
    bool has_analysis = false;
};
TrackCounts count_frames(const FaceTrack& track);
/// "300 frames: face detected in 141 (hog 120, blazeface 21), filled 6, valid 147; invalid 153 (no face 120,
/// outside frame 33)", and after analysis "; landmarks dlib 130, facemesh 12, blend 5".
std::string describe(const TrackCounts& c);

/// Write `track` to `path` (format ned.track v1), atomically.
void save_track(const std::string& path, const FaceTrack& track);
/// Read a track file; throws InputError naming the file if it is missing, not ned.track or inconsistent.
FaceTrack load_track(const std::string& path);

}  // namespace ned::face
