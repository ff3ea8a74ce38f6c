#pragma once
// Eye conditioning image of NED (renderer/data/landmarks_to_image.py::create_eyes_image, ned-reference §5.3):
// a black size x size image with a red disk at each pupil. Used for the analysed (source) frames and by the
// renderer for edited expressions.
#include <opencv2/core.hpp>

#include <array>

#include "ned/face/face_track.hpp"

namespace ned::face {

/// The eye contours (iBUG 36-41 = image-left eye, 42-47 = image-right eye) and pupils of one frame.
struct EyePoints {
    std::array<cv::Point2f, 6> left{}, right{};
    cv::Point2f left_pupil, right_pupil;
};

/// NED's eye_landmarks files of an analysed frame: the single-detection landmarks 36-47 and the pupils,
/// truncated to int as NED reads them (crop pixels).
EyePoints eye_points(const FaceFrame& f);

/// The same points mapped by `to` (e.g. f.align: NED's aligned eye landmark files), then truncated to int.
EyePoints eye_points(const FaceFrame& f, const cv::Matx23f& to);

/// draw_eye_image of a frame's eye points.
cv::Mat draw_eye_image(const EyePoints& p, int size);

/// NED's disk radius for one eye from its 6 contour points (iBUG order 36..41 or 42..47), points first
/// truncated to int as NED does: r = int((|p1 - p4| + |p2 - p5|) / 4).
int eye_disk_radius(const std::array<cv::Point2f, 6>& eye);

/// Draw NED's eye image: for each eye a disk of eye_disk_radius() centred at the pupil (truncated to int),
/// drawn with NED's asymmetric range: every (i, j) in [-r, r) x [-r, r) with sqrt(i^2 + j^2) < r sets pixel
/// (clamp(y + i), clamp(x + j)); r = 0 draws nothing. Returns CV_8UC3 BGR, size x size, with only the red
/// channel (index 2) set to 255 on the disks and 0 elsewhere. `left_eye` = image-left eye (iBUG 36..41).
cv::Mat draw_eye_image(const std::array<cv::Point2f, 6>& left_eye, const std::array<cv::Point2f, 6>& right_eye,
                       cv::Point2f left_pupil, cv::Point2f right_pupil, int size);

/// Eye image of an analysed frame (FaceTrack::has_analysis): eye contours from the single-detection landmarks
/// and the pupils, in crop space or (aligned = true) mapped by f.align, as NED's eyes/ inputs.
cv::Mat frame_eye_image(const FaceFrame& f, int crop_size, bool aligned);

}  // namespace ned::face
