// face-api's FaceExpressionNet (@vladmandic/face-api 1.7.15, src/faceExpressionNet) on the shared feature net.
#include "ned/facenet/expression_net.hpp"

#include <torch/torch.h>

#include "facenet/face_input.hpp"
#include "facenet/feature_net.hpp"

namespace ned::facenet {

namespace fs = std::filesystem;

ExpressionNet::ExpressionNet(const fs::path& dir)
    : net_(std::make_shared<const FeatureNet>(dir / "face_expression_model-weights_manifest.json")) {}

std::vector<float> ExpressionNet::probabilities(const cv::Mat& bgr, const cv::Rect2f& box) const {
    const cv::Rect r = face_crop(bgr, box, "ExpressionNet");
    torch::NoGradGuard no_grad;
    const torch::Tensor p = torch::softmax(net_->on_face(bgr, r), 1).contiguous();
    return std::vector<float>(p.data_ptr<float>(), p.data_ptr<float>() + p.numel());
}

const std::vector<std::string>& ExpressionNet::names() {
    static const std::vector<std::string> n{"neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised"};
    return n;
}

}  // namespace ned::facenet
