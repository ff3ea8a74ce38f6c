#pragma once
// The input checks and the face crop of face-api's nets (extractFaceTensors, padToSquare, normalize), shared by
// the models that take an image and a face box.
#include <opencv2/core.hpp>
#include <torch/torch.h>

namespace ned::facenet {

/// InputError naming `who` unless `bgr` is a non-empty 8-bit BGR image (CV_8UC3).
void check_image(const cv::Mat& bgr, const char* who);

/// Integer crop of `box` as face-api's extractFaceTensors: clipped at the image borders, then floored.
/// InputError naming `who` when the image is not one check_image accepts, a coordinate is not finite or the box
/// does not overlap the image.
cv::Rect face_crop(const cv::Mat& bgr, const cv::Rect2f& box, const char* who);

/// RGB float tensor [1, 3, out, out] of the crop `r` padded to a square as padToSquare(isCenterImage = true)
/// (round(diff / 2) black rows/columns appended at the bottom/right, the rest prepended) and resized by TF's
/// bilinear resize (resize_bilinear_rgb), values 0..255.
torch::Tensor centered_face_input(const cv::Mat& bgr, const cv::Rect& r, int out);

/// face-api's normalize(x, meanRgb).div(255) on an RGB [1, 3, H, W] tensor.
torch::Tensor normalize_face(const torch::Tensor& x);

}  // namespace ned::facenet
