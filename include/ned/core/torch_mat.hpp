#pragma once
// cv::Mat <-> torch::Tensor: the OpenCV half of torch_util.hpp (not part of the torch-only NED_NETS_ONLY layer).
#include <torch/torch.h>

#include <opencv2/core.hpp>

#include "ned/core/torch_util.hpp"

namespace ned {

/// cv::Mat (HxW or HxWxC, u8 or f32) -> float tensor [C,H,W]; u8 scaled by `scale` (e.g. 1/255).
torch::Tensor mat_to_tensor(const cv::Mat& m, double scale = 1.0);
/// float tensor [C,H,W] or [H,W] -> cv::Mat CV_32FC(C) (clone; CPU).
cv::Mat tensor_to_mat(const torch::Tensor& t);

}  // namespace ned
