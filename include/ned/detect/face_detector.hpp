#pragma once
// Face detection with dlib's frontal (HOG + linear SVM) detector on a downscaled copy of the frame,
// boxes mapped to the "MTCNN-equivalent" box NED's margin rule was made for (see hog_to_ned_box).
#include <opencv2/core.hpp>

#include <memory>
#include <vector>

namespace ned::detect {

struct DetectorOptions {
    /// Scale applied to the frame before detection; 0 = auto: min(1, 640 / long side).
    float detect_scale = 0.f;
    /// Pyramid-up steps (each doubles the image) on top of detect_scale, for small faces (dlib's HOG
    /// window is 80x80, so faces below ~80 px at detection scale are missed). 0 or 1.
    int upsample = 0;
    /// dlib detection score threshold adjustment (0 = dlib default; negative finds more faces).
    double adjust_threshold = 0.0;
};

/// One detection in frame pixels.
struct Detection {
    cv::Vec4f box;       ///< dlib's (HOG) box x0,y0,x1,y1 in frame pixels
    double score = 0.0;  ///< dlib detection confidence
};

/// Effective detection scale for a frame of w x h (resolves detect_scale = 0).
float resolve_detect_scale(const DetectorOptions& opts, int width, int height);

/// Map dlib's HOG box (tight: brows to lower lip/chin) to the box MTCNN would give (forehead to chin),
/// which NED's square + margin-70 rule expects: same centre x, centre y moved up by kHogShiftY * h, side
/// scaled by kHogScale. The constants are documented in docs/parts/track.md ("Decisions").
cv::Vec4f hog_to_ned_box(const cv::Vec4f& hog_box);
constexpr float kHogScale = 1.2f;
constexpr float kHogShiftY = 0.08f;

/// A dlib frontal face detector. Not thread-safe: make one per thread (construction is cheap, ~ms).
class FaceDetector {
public:
    explicit FaceDetector(const DetectorOptions& opts = {});
    ~FaceDetector();
    FaceDetector(FaceDetector&&) noexcept;
    FaceDetector& operator=(FaceDetector&&) noexcept;

    /// Detect faces in a BGR (or grey) frame; boxes are dlib boxes in frame pixels, largest first.
    std::vector<Detection> detect(const cv::Mat& frame) const;
    /// Detect in an image that is already scaled by `scale` (grey u8); boxes are divided by `scale`.
    std::vector<Detection> detect_scaled(const cv::Mat& grey_small, float scale) const;

    const DetectorOptions& options() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace ned::detect
