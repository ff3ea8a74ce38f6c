#pragma once
// 68-point iBUG landmarks with dlib's shape predictor (shape_predictor_68_face_landmarks.dat, Debian package
// libdlib-data) on the 256x256 face crops, and NED's "multisample" averaging (ned-reference §1.4): the crop
// and four copies translated by (+-5, +-5) px (cv::warpAffine, INTER_LANCZOS4) are landmarked and the five
// results averaged without undoing the shifts (they cancel in the mean).
#include <opencv2/core.hpp>

#include <memory>
#include <string>

#include "ned/face/face_track.hpp"

namespace ned::track {

/// Default model path (Debian libdlib-data).
constexpr const char* kDefaultLandmarkModel = "/usr/share/dlib/shape_predictor_68_face_landmarks.dat";

/// Thread-safe after construction: landmark() is const and may be called from several threads.
class LandmarkDetector {
public:
    /// Loads a dlib 68-point shape predictor. Empty path = kDefaultLandmarkModel. Missing or invalid file ->
    /// ModelError that says to `apt-get install libdlib-data` or pass --landmark-model.
    explicit LandmarkDetector(const std::string& model_path = {});
    ~LandmarkDetector();
    LandmarkDetector(const LandmarkDetector&) = delete;
    LandmarkDetector& operator=(const LandmarkDetector&) = delete;

    /// 68 landmarks of the face inside `face_rect` (pixels of `image_bgr`, CV_8UC3).
    face::Landmarks landmark(const cv::Mat& image_bgr, const cv::Rect2f& face_rect) const;

    /// NED multisample: mean of landmark() on the image and on the image translated by (sx*shift, sy*shift)
    /// for sx, sy in {-1, +1} (NED: warpAffine INTER_LANCZOS4, black border; here translate_image(), which is
    /// pixel-identical), all with the same face_rect.
    /// `single` (optional) receives the landmarks of the unshifted image.
    face::Landmarks landmark_multisample(const cv::Mat& image_bgr, const cv::Rect2f& face_rect, int shift = 5,
                                         face::Landmarks* single = nullptr) const;

    const std::string& model_path() const { return path_; }

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::string path_;
};

/// `img` translated by an integer (dx, dy) with a black border: pixel-identical to NED's
/// cv::warpAffine(img, [[1,0,dx],[0,1,dy]], INTER_LANCZOS4, BORDER_CONSTANT 0) (OpenCV's Lanczos4 weights at a
/// zero fractional offset are exactly (0,0,0,1,0,0,0,0)), and ~50x faster. Unit-tested against warpAffine.
cv::Mat translate_image(const cv::Mat& img, int dx, int dy);

/// The face rectangle in crop pixels: the frame-space box (x0,y0,x1,y1) mapped through the inverse of
/// crop_to_frame (axis-aligned bounding box of the mapped corners).
cv::Rect2f box_in_crop(const cv::Vec4f& frame_box, const cv::Matx23f& crop_to_frame);

/// Inverse of hog_to_ned_box (face_detector.hpp): the dlib-HOG-like box a NED box came from. dlib's
/// predictor was trained on HOG detector boxes, so it is given this box, not the larger NED box.
cv::Vec4f ned_box_to_hog(const cv::Vec4f& ned_box);

/// The rectangle given to the predictor for a tracked frame: box_in_crop(ned_box_to_hog(f.box), f.crop_to_frame).
cv::Rect2f predictor_rect(const face::FaceFrame& f);

/// Mean normalised error: mean point-to-point distance divided by the distance between the outer eye
/// corners (points 36 and 45 of `truth`).
double normalized_mean_error(const face::Landmarks& predicted, const face::Landmarks& truth);

}  // namespace ned::track
