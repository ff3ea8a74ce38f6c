#pragma once
// NED's SoftErosion (postprocessing/image_blending/image_blender.py; ned-reference §5.5).
#include <opencv2/core.hpp>

namespace ned::face {

/// The erosion kernel: k x k, r = k/2, K = max(dist) - dist with dist = sqrt((x-r)^2 + (y-r)^2),
/// normalised to sum 1 (CV_32F). k must be odd and >= 1.
cv::Mat soft_erosion_kernel(int kernel_size);

/// NED's blending kernel size for a crop of height h: int(33*h/256), made odd (+1 if even): 33 at 256.
int blend_erosion_kernel_size(int crop_height);

/// NED's SoftErosion (ned-reference §5.5). Input mask float [0,1] (or u8 0/255). Returns float mask:
/// soft (hard pixels 1, others / max) and the hard mask (x >= threshold).
/// The input is convolved once with soft_erosion_kernel(kernel_size) with zero padding (r = k/2);
/// hard = (x >= threshold) as CV_32F 0/1; soft: hard pixels set to 1, the others divided by their maximum
/// (left as is when that maximum is 0). Both outputs are CV_32FC1 of the input size.
struct SoftErosionResult {
    cv::Mat soft;
    cv::Mat hard;
};
SoftErosionResult soft_erosion(const cv::Mat& mask, int kernel_size, float threshold);

}  // namespace ned::face
