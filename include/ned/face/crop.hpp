#pragma once
// Face crops: NED's square-box + margin rule (ned-reference §1.3 steps 5-6) as an affine transform, and
// extraction of the crop_size x crop_size crop with padding (never stretching) beyond the frame border.
//
// Coordinates follow face_track.hpp: (0,0) is the centre of the top-left pixel, in both frame and crop.
#include <opencv2/core.hpp>

#include "ned/face/face_track.hpp"

namespace ned::face {

/// NED's crop rule (ned-reference §1.3 steps 5-6) with padding: square box -> crop_to_frame affine.
/// The crop square has side s = (x1-x0) * crop_size / (crop_size - margin) (NED: box + margin/2 scaled on
/// each side), is centred on the box centre, and is never clipped to the frame. The result maps crop
/// pixel (u,v) to frame pixel a*(u,v) + t with a = s / crop_size (pure scale + translation), so that the
/// crop centre ((crop_size-1)/2, (crop_size-1)/2) maps to the box centre. A non-square box is made square
/// first with NED's rule (width := height, centred horizontally).
cv::Matx23f crop_transform(const cv::Vec4f& square_box, int crop_size = 256, float margin = 70.f);

/// NED's make-square rule (§1.3 step 5, height_recentre = 0): width := height, same horizontal centre.
cv::Vec4f make_square(const cv::Vec4f& box);

/// Inverse of a crop_to_frame affine (frame -> crop).
cv::Matx23f invert_affine(const cv::Matx23f& m);

/// The crop of `frame` for `face` (crop_size x crop_size, BGR), pixels outside the frame padded
/// by replicating the nearest border pixel (cv::BORDER_REPLICATE: no black bars, no mirrored features),
/// downscaling antialiased (NED uses PIL bilinear ≈ INTER_AREA): when the crop square is larger than
/// crop_size it is first resampled at ~1:1 scale (bilinear) to an integer-sized square, then shrunk with
/// cv::INTER_AREA; when smaller it is enlarged directly with bilinear interpolation.
/// Uses face.crop_to_frame (crop_size must match the size the transform was made for). A frame with
/// !face.valid still gets a crop (of whatever crop_to_frame says).
cv::Mat extract_crop(const cv::Mat& frame_bgr, const FaceFrame& face, int crop_size);

/// Same, from an explicit crop_to_frame affine (scale + translation as made by crop_transform).
cv::Mat extract_crop(const cv::Mat& frame_bgr, const cv::Matx23f& crop_to_frame, int crop_size);

}  // namespace ned::face
