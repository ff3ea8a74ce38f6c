#pragma once
// DECA's 224x224 crop (ned-reference §1.6): the crop transform from 68 landmarks and the warp of an image into
// the crop. Needs OpenCV (the networks themselves are in deca.hpp, torch-only).
#include <torch/torch.h>

#include <opencv2/core.hpp>

#include "ned/face/face_track.hpp"
#include "ned/recon/deca.hpp"

namespace ned::recon {

/// DECA's crop transform from 68 landmarks (in crop pixels): bbox of the landmarks,
/// old_size = ((r-l)+(b-t))/2*1.1, centre = bbox centre, size = int(old_size*1.25), similarity mapping
/// the box corners to (0,0),(0,223),(223,0). Returns the 3x3 matrix crop pixel -> 224 pixel (skimage
/// SimilarityTransform.params).
cv::Matx33f deca_crop_tform(const face::Landmarks& landmarks);
/// Warp a BGR u8 (or f32 in [0,255]) image with `tform` into the 224 crop (bilinear, constant 0
/// border, as skimage.warp(image/255, tform.inverse)) -> [3,224,224] float RGB in [0,1] (CPU).
torch::Tensor deca_crop_image(const cv::Mat& image_bgr, const cv::Matx33f& tform);

}  // namespace ned::recon
