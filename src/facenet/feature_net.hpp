#pragma once
// face-api's FaceFeatureExtractor (four dense blocks of separable convolutions) with its fully connected layer
// (FaceProcessor): the body of the 68-point landmark net and of the expression net.
#include <filesystem>

#include <opencv2/core.hpp>
#include <torch/torch.h>

#include "facenet/tf_ops.hpp"
#include "ned/facenet/tfjs_weights.hpp"

namespace ned::facenet {

/// Input side of the feature nets (the face crop is resized to this square).
constexpr int kFeatureNetInput = 112;

class FeatureNet {
public:
    /// The weights of `manifest` (ModelError naming it when missing or invalid).
    explicit FeatureNet(const std::filesystem::path& manifest);
    /// [B, 3, 112, 112] RGB 0..255 -> [B, out]
    torch::Tensor operator()(const torch::Tensor& rgb) const;
    /// [1, out] of the face crop `r` of `bgr` (face_crop), padded to a square and resized as face-api does
    /// (centered_face_input).
    torch::Tensor on_face(const cv::Mat& bgr, const cv::Rect& r) const;

private:
    struct SepConv {
        Conv depthwise, pointwise;
        torch::Tensor bias;
        torch::Tensor operator()(const torch::Tensor& x) const { return pointwise(depthwise(x)) + bias; }
    };
    struct DenseBlock4 {
        Conv conv0_regular;  // first block only
        SepConv conv0, conv1, conv2, conv3;
        bool first = false;
        torch::Tensor operator()(const torch::Tensor& x) const;
    };
    DenseBlock4 dense_[4];
    torch::Tensor fc_w_, fc_b_;  // [256, out], [out]
};

}  // namespace ned::facenet
