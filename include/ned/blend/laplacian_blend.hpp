#pragma once
// Laplacian-pyramid blending (NED postprocessing/image_blending/image_blender.py::Blend, method
// "pyramid"; ned-reference §5.7).
#include <opencv2/core.hpp>

namespace ned::blend {

/// Blend `b` into `a` with mask `m` (1 = take b). a, b: CV_32FC3 (any range), m: CV_32FC1 in [0,1], all
/// the same size. Gaussian pyramids by cv::pyrDown (levels+1 images), Laplacian levels via
/// cv::pyrUp(dstsize) + subtract, per level L = L_b*m + L_a*(1-m) with the mask's Gaussian pyramid, and
/// reconstruction by pyrUp + add. levels = 0 is plain alpha blending. Returns CV_32FC3.
cv::Mat laplacian_blend(const cv::Mat& a, const cv::Mat& b, const cv::Mat& m, int levels);

}  // namespace ned::blend
