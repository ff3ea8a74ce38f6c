// cv::Mat <-> torch::Tensor (include/ned/core/torch_mat.hpp).
#include "ned/core/torch_mat.hpp"

#include <cstring>

#include "ned/core/error.hpp"

namespace ned {

torch::Tensor mat_to_tensor(const cv::Mat& m, double scale) {
    cv::Mat f;
    m.convertTo(f, CV_32F, scale);
    if (!f.isContinuous()) f = f.clone();
    auto t = torch::from_blob(f.data, {f.rows, f.cols, f.channels()}, torch::kFloat32).clone();
    return t.permute({2, 0, 1}).contiguous();
}

cv::Mat tensor_to_mat(const torch::Tensor& t) {
    auto c = t.detach().to(torch::kCPU, torch::kFloat32);
    if (c.dim() == 2) c = c.unsqueeze(0);
    NED_CHECK(c.dim() == 3, "tensor_to_mat expects [C,H,W], got ", c.sizes());
    c = c.permute({1, 2, 0}).contiguous();
    const int h = static_cast<int>(c.size(0)), w = static_cast<int>(c.size(1)), ch = static_cast<int>(c.size(2));
    cv::Mat m(h, w, CV_32FC(ch));
    std::memcpy(m.data, c.data_ptr<float>(), sizeof(float) * h * w * ch);
    return m;
}

}  // namespace ned
