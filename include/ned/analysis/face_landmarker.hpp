#pragma once
// 68-point landmarks that hold on turned faces (issue 22): dlib's shape predictor (LandmarkDetector) is accurate on
// frontal faces (NME ~0.02-0.04) but far off on three-quarter views (0.24-0.29 at 30-60 degrees of yaw); MediaPipe
// FaceMesh (facenet::FaceMesh, 468 points with depth) mapped to 68 points stays usable there. FaceLandmarker picks
// per face by the estimated yaw:
//   1. dlib on the crop (the multisample mean when asked), and a cheap yaw cue from its points (yaw_from_landmarks);
//   2. when the cue's |yaw| reaches `gate_deg` (default 0: always), FaceMesh runs; the weight of the turned-face
//      points (the mean of FaceMesh's 68, facemesh_to_68, and face-api's 68-point net) is a ramp of FaceMesh's
//      |yaw| (yaw_from_facemesh) from blend_lo_deg to blend_hi_deg, or of dlib's disagreement with FaceMesh from
//      disagreement_lo to disagreement_hi, whichever is larger: 0 = dlib's points bit-identical to
//      LandmarkDetector (source Dlib), 1 = the turned-face points (source FaceMesh), between a linear blend (Blend)
//      so that a slowly turning head does not make the points jump from one model to the other.
// Yaw sign convention (degrees): positive when the subject turns to THEIR left, i.e. the nose points towards the
// image's right and the face's right side (iBUG points 0-7, image left) comes towards the camera.
// Measurements and the reasons for the thresholds: docs/performance.md ("Landmarks on turned faces").
#include <opencv2/core.hpp>

#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "ned/face/face_track.hpp"
#include "ned/track/landmarks.hpp"

namespace ned::analysis {

// LandmarkSource (Dlib, FaceMesh, Blend) and landmark_source_name: face_track.hpp (stored per frame).

/// Model choice: auto (by yaw, as above), or one model forced (`--landmarks auto|dlib|facemesh`).
enum class LandmarkMode { Auto, Dlib, FaceMesh };
const char* landmark_mode_name(LandmarkMode m);
/// "auto" / "dlib" / "facemesh" -> mode; InputError otherwise.
LandmarkMode parse_landmark_mode(const std::string& name);

// No validate(): filled by analyze_track from AnalyzeOptions (validated there); the thresholds are measured constants.
struct FaceLandmarkerOptions {
    LandmarkMode mode = LandmarkMode::Auto;
    bool multisample = true;    ///< dlib: NED's 5-fold mean (LandmarkDetector::landmark_multisample)
    int multisample_shift = 5;  ///< pixels
    /// auto: |dlib cue yaw| from which FaceMesh runs to decide (below it the face is taken for frontal: dlib).
    /// 0 = FaceMesh always runs (the default): on the synthetic yaw set dlib's own points stay near-frontal on
    /// faces turned 45-75 degrees (cue |yaw| down to 0.1 degrees, wrong sign on 6 of 30 at 45-60), so no
    /// threshold on the cue catches the faces where dlib fails.
    float gate_deg = 0.f;
    /// auto: a face whose detector yaw (BlazeFace's keypoints, FaceFrame::detector_yaw_deg) is below this is taken
    /// for frontal without running FaceMesh (dlib's points, bit-identical). BlazeFace's yaw reads 36-40 +- 9 degrees
    /// on faces turned 30 (where the blend starts at FaceMesh's 26) and 2 +- 10 on frontal ones, so 12 skips
    /// FaceMesh on most frontal frames (its ~15 ms) and on practically no turned one. NaN hint: FaceMesh runs.
    float frontal_hint_deg = 12.f;
    /// auto: FaceMesh's |yaw| up to which dlib's points are kept, and from which FaceMesh's are used; linear blend
    /// between. dlib is better than FaceMesh up to ~28 degrees on the real photos (lenna at 23 by FaceMesh:
    /// 0.036 vs 0.082; image_0010 at 23.5: 0.026 vs 0.057) and worse from ~30 on the synthetic set.
    float blend_lo_deg = 26.f;
    float blend_hi_deg = 36.f;
    /// auto: dlib's disagreement with FaceMesh (landmark_disagreement) from which the turned-face points take over
    /// (ramp to `disagreement_hi`), whatever the yaw: FaceMesh underestimates some turned faces' yaw (and the
    /// default detector's BlazeFace box on turned faces throws dlib further off). Measured: where dlib is right
    /// (NME < 0.08) the disagreement is <= 0.053 (synthetic) and <= 0.038 (real photos); where dlib fails
    /// (NME >= 0.12) it is >= 0.12.
    float disagreement_lo = 0.07f;
    float disagreement_hi = 0.11f;
    int facemesh_passes = 2;  ///< FaceMesh re-crops (facenet::FaceMesh::predict)
    /// auto: the turned-face points are the mean of FaceMesh's 68 and face-api's 68-point net (facenet::Landmarks68,
    /// given the predictor rectangle mapped back to the SSD box it was trained with): better than either alone on
    /// every turned bin (synthetic 30-45 / 45-60: 0.081 / 0.119 vs FaceMesh 0.083 / 0.125; breakingbad 0.119 vs
    /// 0.145) for ~3 ms, run only when the turned-face weight is > 0. The forced facemesh mode uses FaceMesh alone.
    bool ensemble_faceapi = true;
    /// far-side jaw along the mesh silhouette (facemesh_to_68_silhouette); off: measured no better (synthetic
    /// 30-45: 0.081 vs 0.083, 45-60: equal; breakingbad: 0.167 vs 0.145)
    bool silhouette_jaw = false;
    std::string open_models_dir;  ///< FaceMesh's folder; empty = facenet::open_models_dir()
};

struct LandmarkResult {
    face::Landmarks single{};    ///< landmarks of the crop itself (pupils use these)
    face::Landmarks averaged{};  ///< dlib: multisample mean (== single without multisample); FaceMesh: == single
    face::LandmarkSource source = face::LandmarkSource::Dlib;
    float yaw_deg = 0.f;         ///< FaceMesh's yaw when it ran, else dlib's cue
    bool yaw_from_mesh = false;  ///< which of the two yaw_deg is
    float disagreement = 0.f;    ///< landmark_disagreement(dlib, FaceMesh) when both ran, else 0
};

/// Thread-safe after construction: landmark() is const and may be called from several threads.
class FaceLandmarker {
public:
    /// Loads dlib's predictor (empty = kDefaultLandmarkModel) and, unless mode is Dlib, FaceMesh (and in auto mode
    /// face-api's 68-point net with ensemble_faceapi) from the open models (ModelError when missing).
    explicit FaceLandmarker(const std::string& dlib_model = {}, const FaceLandmarkerOptions& options = {});
    /// Uses an already loaded dlib predictor, which must outlive this object.
    explicit FaceLandmarker(const track::LandmarkDetector& dlib, const FaceLandmarkerOptions& options = {});
    ~FaceLandmarker();
    FaceLandmarker(const FaceLandmarker&) = delete;
    FaceLandmarker& operator=(const FaceLandmarker&) = delete;

    /// Landmarks of the face in `crop_bgr` (CV_8UC3) whose dlib predictor rectangle is `rect` (predictor_rect).
    /// `detector_yaw_deg`: the detector's yaw estimate when known (auto mode: see frontal_hint_deg), else NaN.
    LandmarkResult landmark(const cv::Mat& crop_bgr, const cv::Rect2f& rect,
                            float detector_yaw_deg = std::numeric_limits<float>::quiet_NaN()) const;

    /// FaceMesh's 468 points (image pixels, z relative) for the predictor rectangle `rect`, the box FaceMesh is
    /// given (rect, which is about the tight brows-to-chin box it expects). Throws ModelError in Dlib mode.
    std::vector<cv::Point3f> facemesh(const cv::Mat& bgr, const cv::Rect2f& rect) const;

    const FaceLandmarkerOptions& options() const { return opts_; }
    const track::LandmarkDetector& dlib() const { return *dlib_; }

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::unique_ptr<track::LandmarkDetector> own_dlib_;
    const track::LandmarkDetector* dlib_ = nullptr;
    FaceLandmarkerOptions opts_;
};

/// Cheap yaw cue (degrees, sign as above) from 68 points: the nose tip's (30) offset from the middle of the outer
/// eye corners (36, 45) along the eye line, over the eye-corner distance, r; yaw = atan(r / 0.5) (a nose tip ~0.5
/// eye-corner distances in front of the corners). On ground-truth points it tracks the true yaw (slope 0.88 on the
/// synthetic set); on dlib's points it collapses towards 0 where dlib fails (45-75 degrees), so it cannot gate.
float yaw_from_landmarks(const face::Landmarks& pts);

/// How far two 68-point sets disagree: mean distance over the 51 inner points (17-67) / the outer-eye-corner
/// distance of `reference` (36, 45). FaceLandmarker uses it with reference = FaceMesh's points to catch dlib
/// failing on a face whose yaw FaceMesh underestimates.
float landmark_disagreement(const face::Landmarks& pts, const face::Landmarks& reference);

/// Yaw (degrees, sign as above) from FaceMesh's 3-D points: the head's left-right axis is the mean of the vectors
/// between mirrored mesh points (eye corners, cheeks, jaw, mouth corners), yaw = asin of its depth component.
/// MediaPipe's z grows away from the camera. InputError unless 468 or 478 points.
float yaw_from_facemesh(const std::vector<cv::Point3f>& mesh);

/// facenet::facemesh_to_68 with iBUG's jaw convention on turned faces: each jaw point on the far side (the side the
/// nose points to: 9-16 for yaw > 0, 0-7 for yaw < 0) is moved to the silhouette of the projected mesh: the mesh
/// point farthest from the face centre (mean of the 468 points) among those within `band_deg` degrees of the
/// direction of the fixed face-oval vertex and on the far part of the head (3-D offset along the left-right axis
/// beyond 40 % of that side's extent, which keeps the nose out), placed on that direction. |yaw_deg| < min_yaw_deg:
/// facemesh_to_68 unchanged.
std::vector<cv::Point2f> facemesh_to_68_silhouette(const std::vector<cv::Point3f>& mesh, float yaw_deg,
                                                   float band_deg = 6.f, float min_yaw_deg = 10.f);

}  // namespace ned::analysis
