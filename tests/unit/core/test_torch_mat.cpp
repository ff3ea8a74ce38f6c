// cv::Mat <-> torch::Tensor (ned/core/torch_mat.hpp; needs OpenCV, so not in the NED_NETS_ONLY build).
#include <gtest/gtest.h>

#include "ned/core/error.hpp"
#include "ned/core/torch_mat.hpp"

using namespace ned;

TEST(TorchUtil, MatTensorRoundTrip) {
    cv::Mat m(2, 3, CV_8UC3, cv::Scalar(10, 20, 30));
    auto t = mat_to_tensor(m, 1.0 / 255);
    EXPECT_EQ(t.sizes(), (std::vector<int64_t>{3, 2, 3}));
    EXPECT_NEAR(t[2][1][1].item<float>(), 30.f / 255, 1e-6);
    cv::Mat back = tensor_to_mat(t);
    EXPECT_NEAR(back.at<cv::Vec3f>(1, 2)[1], 20.f / 255, 1e-6);
    EXPECT_THROW(resolve_device("tpu"), InputError);
    EXPECT_EQ(resolve_device("cpu"), torch::Device(torch::kCPU));
}
