#pragma once
// Pupil estimation of NED (preprocessing/eye_landmarks.py::get_mass_center, ned-reference §1.4).
#include <opencv2/core.hpp>

#include <array>

#include "ned/face/face_track.hpp"

namespace ned::analysis {

/// Points 36..41 (image-left eye) or 42..47 (image-right eye) of a landmark set.
std::array<cv::Point2f, 6> eye_contour(const face::Landmarks& lm, bool right_eye);

/// Pupil = inverse-intensity-weighted centroid inside the eye polygon: gray = 0.2125R + 0.7154G + 0.0721B in
/// [0,1] (skimage rgb2gray), polygon filled with cv::fillPoly on the points truncated to int, weight = 1/gray
/// (0 where gray == 0) normalised by its maximum. Returns the centroid in pixels (not truncated; NED
/// truncates when writing its text file). Falls back to the polygon's mean point when no pixel has weight.
cv::Point2f estimate_pupil(const cv::Mat& image_bgr, const std::array<cv::Point2f, 6>& eye);

/// Both pupils (image-left, image-right) of one crop.
std::array<cv::Point2f, 2> estimate_pupils(const cv::Mat& image_bgr, const face::Landmarks& lm);

}  // namespace ned::analysis
