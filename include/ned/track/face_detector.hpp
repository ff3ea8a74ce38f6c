#pragma once
// Face detection on a downscaled copy of the frame with dlib's frontal (HOG + linear SVM) detector or the
// learned SSD-MobileNetV1 face detector shipped with ned (ned::facenet, face-api's model). Every detector's
// box is returned as a "HOG-like" box (SSD boxes mapped by ssd_to_hog_box), which hog_to_ned_box maps to the
// "MTCNN-equivalent" box NED's margin rule was made for; the rest of ned sees one box convention.
#include <opencv2/core.hpp>

#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "ned/face/face_track.hpp"

namespace ned::track {

/// Which face detector: dlib's HOG (five filters: frontal and rolled up to ~30-40 degrees), face-api's
/// SSD-MobileNetV1 (models/open), MediaPipe BlazeFace (models/open), or HOG with rotation search ("hog-rot":
/// when the upright pass finds no face, HOG runs again on copies of the image rotated by
/// DetectorOptions::rotation_angles and the boxes are mapped back; docs/performance.md "Face detectors").
/// "hog-blazeface": HOG, and BlazeFace on the same frame when HOG finds no face (rolled, cut, turned faces).
/// "combined" (the default): HOG and BlazeFace (input padded to a square) on every frame; a BlazeFace face that
/// HOG did not find is kept when its score and FaceMesh's face-presence score on it are high enough (options)
/// (faces turned in yaw, also beside a face HOG finds, without BlazeFace's detections on hands); where both
/// find a face HOG's box is kept unless the boxes disagree (IoU < 0.3: HOG's weak boxes on some turned faces);
/// when neither finds a face, hog-rot's rotation search (docs/decisions.md "Default detector").
enum class DetectorKind { Hog, Ssd, BlazeFace, HogRot, HogBlazeFace, Combined };
/// "hog" / "ssd" / "blazeface" / "hog-rot" / "hog-blazeface" / "combined".
const char* detector_name(DetectorKind k);

/// Parse one of detector_name's names; InputError naming the value otherwise.
DetectorKind parse_detector(const std::string& name);
/// Whether the detector needs the colour (BGR) frame (SSD, BlazeFace, hog-blazeface) rather than grey.
bool detector_needs_colour(DetectorKind k);

// No validate(): filled by build_track from TrackOptions (validated there) or by code with fixed values.
struct DetectorOptions {
    DetectorKind kind = DetectorKind::Hog;
    /// SSD: minimum score (0..1) of a detection (face-api's default 0.5).
    float min_score = 0.5f;
    /// SSD: folder of the open face models (empty = ned::facenet::open_models_dir()).
    std::string models_dir;
    /// Scale applied to the frame before detection; 0 = auto: min(1, 640 / long side).
    float detect_scale = 0.f;
    /// Pyramid-up steps (each doubles the image) on top of detect_scale, for small faces (dlib's HOG
    /// window is 80x80, so faces below ~80 px at detection scale are missed). 0 or 1.
    int upsample = 0;
    /// dlib detection score threshold adjustment (0 = dlib default; negative finds more faces).
    double adjust_threshold = 0.0;
    /// Rotation search (kind HogRot): image rotations in degrees (counter-clockwise positive, as
    /// cv::getRotationMatrix2D) tried, in this order, when the upright pass finds no face. Each pass runs on a
    /// canvas that holds the whole rotated image (black outside it).
    std::vector<float> rotation_angles = {-55.f, 55.f};
    /// combined: a BlazeFace face that HOG did not find (or boxed far off) is kept when BlazeFace's score reaches
    /// verify_min_blaze_score and FaceMesh's face-presence score after two passes reaches verify_min_score
    /// (docs/performance.md "Faces turned in yaw": faces >= 0.74 and >= 0.995, hands 0.51 and 0.31).
    float verify_min_score = 0.5f;
    float verify_min_blaze_score = 0.6f;
};

/// One detection in frame pixels.
struct Detection {
    cv::Vec4f box;       ///< dlib's (HOG) box x0,y0,x1,y1 in frame pixels
    double score = 0.0;  ///< dlib detection confidence
    /// In-plane roll of the face in degrees (counter-clockwise positive): 0 for the upright pass, else the face
    /// was found on the image rotated by -roll. For a rolled face `box` is the upright box of the face's own
    /// frame placed so that hog_to_ned_box(box) has the centre of the NED box of the rotated pass mapped back
    /// (the 0.08 h upward shift taken along the face's own vertical); its sides are the rotated pass's.
    float roll = 0.f;
    face::DetectionSource source = face::DetectionSource::Hog;  ///< the model that found it (whose box this mostly is)
    /// BlazeFace's yaw estimate from its keypoints (facenet::blaze_yaw_deg) where BlazeFace saw the face, else NaN.
    float yaw_deg = std::numeric_limits<float>::quiet_NaN();
};

/// combined: where HOG and BlazeFace find the same face, the box moves from HOG's to BlazeFace's as BlazeFace's
/// yaw estimate goes from kTurnedFromDeg to kTurnedFromDeg + kTurnedRampDeg (linearly; frontal faces keep HOG's
/// box, turned ones get BlazeFace's, which stays centred on them; docs/performance.md "Faces turned in yaw").
constexpr float kTurnedFromDeg = 20.f;
constexpr float kTurnedRampDeg = 15.f;

/// Effective detection scale for a frame of w x h (resolves detect_scale = 0).
float resolve_detect_scale(const DetectorOptions& opts, int width, int height);

/// Map dlib's HOG box (tight: brows to lower lip/chin) to the box MTCNN would give (forehead to chin),
/// which NED's square + margin-70 rule expects: same centre x, centre y moved up by kHogShiftY * h, side
/// scaled by kHogScale. The constants are documented in docs/parts/track.md ("Decisions").
cv::Vec4f hog_to_ned_box(const cv::Vec4f& hog_box);
constexpr float kHogScale = 1.2f;
constexpr float kHogShiftY = 0.08f;

/// Map an SSD-MobileNetV1 face box to the box dlib's HOG detector gives for the same face (so that
/// hog_to_ned_box and the landmark predictor, trained on HOG boxes, see what they expect): centre moved by
/// (kSsdShiftX * w, kSsdShiftY * h), width scaled by kSsdScaleX and height by kSsdScaleY. The constants are
/// the medians over the 56 faces both detectors find in the shared clips and photos (bench_detectors,
/// docs/performance.md "Face detectors"): the SSD box reaches further down (chin) than dlib's.
cv::Vec4f ssd_to_hog_box(const cv::Vec4f& ssd_box);
constexpr float kSsdScaleX = 1.064f;
constexpr float kSsdScaleY = 0.841f;
constexpr float kSsdShiftX = 0.026f;
constexpr float kSsdShiftY = 0.056f;

/// Map a BlazeFace box (facenet::BlazeFaceDetector, the tight box) to the box dlib's HOG detector gives for the
/// same face, as ssd_to_hog_box: medians over the 57 faces both find in the shared clips and photos
/// (bench_detectors, docs/performance.md "Face detectors"); BlazeFace's box is nearly dlib's already.
cv::Vec4f blaze_to_hog_box(const cv::Vec4f& blaze_box);
constexpr float kBlazeScaleX = 0.990f;
constexpr float kBlazeScaleY = 1.0315f;
constexpr float kBlazeShiftX = -0.0154f;
constexpr float kBlazeShiftY = -0.0144f;

/// A face detector (DetectorOptions::kind). Not thread-safe: make one per thread (HOG construction is cheap,
/// ~ms; SSD construction loads the 5.6 MB model, ~50 ms).
class FaceDetector {
public:
    explicit FaceDetector(const DetectorOptions& opts = {});
    ~FaceDetector();
    FaceDetector(FaceDetector&&) noexcept;
    FaceDetector& operator=(FaceDetector&&) noexcept;

    /// Detect faces in a BGR (or grey, HOG only) frame; HOG-like boxes in frame pixels, largest first.
    std::vector<Detection> detect(const cv::Mat& frame) const;
    /// Detect in an image that is already scaled by `scale` (HOG: grey u8 or BGR; SSD: BGR u8); boxes are
    /// divided by `scale`.
    std::vector<Detection> detect_scaled(const cv::Mat& image_small, float scale) const;

    const DetectorOptions& options() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace ned::track
