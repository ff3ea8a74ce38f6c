#pragma once
// NED's face alignment (ned-reference §1.4, §1.7): a similarity (rotation, uniform scale, translation) from
// the multisample-averaged 68 landmarks of a crop onto NED's fixed 68-point template, estimated with
// Umeyama's method (reflection-corrected, as DeepFaceLab's umeyama that NED uses).
#include <opencv2/core.hpp>

#include <vector>

#include "ned/face/face_track.hpp"

namespace ned::face {

/// NED's template (preprocessing/files/template.gz): 68 points in pixels of the 256x256 crop.
const Landmarks& ned_template();

/// Least-squares similarity (estimate_scale) or rigid transform mapping src onto dst (Umeyama 1991),
/// with the reflection correction (det < 0 flips the last singular direction). Returns the 2x3 matrix
/// [sR | t] so that dst ~ sR * src + t. src and dst must have the same size >= 2.
cv::Matx23d umeyama(const std::vector<cv::Point2d>& src, const std::vector<cv::Point2d>& dst,
                    bool estimate_scale = true);

/// Crop -> aligned transform for crop landmarks: Umeyama from `landmarks` to ned_template() scaled by
/// crop_size / 256.
cv::Matx23f align_transform(const Landmarks& landmarks, int crop_size = 256);

/// Apply a 2x3 affine to every landmark.
Landmarks transform_landmarks(const Landmarks& pts, const cv::Matx23f& m);

/// Warp a crop (or any crop-space image) into aligned space: warpAffine(img, align, size) with
/// INTER_LANCZOS4 (images) or INTER_NEAREST (masks: nearest = true).
cv::Mat warp_to_aligned(const cv::Mat& img, const cv::Matx23f& align, bool nearest = false);

/// Temporal stability of an analysed track, measured on NED's template mapped back into the frame through
/// each frame's alignment (frame <- crop <- aligned): per pair / triple of consecutive valid frames, the mean
/// over the 68 template points of |p[t] - p[t-1]| (motion) and |p[t] - (p[t-1] + p[t+1]) / 2| (jitter: the
/// second difference, which ignores smooth head motion), in crop pixels (frame pixels / crop scale).
struct AlignmentJitter {
    double motion = 0;  ///< mean first difference (crop px per frame)
    double jitter = 0;  ///< mean second difference (crop px)
    long pairs = 0, triples = 0;
};
AlignmentJitter alignment_jitter(const FaceTrack& track);

}  // namespace ned::face
