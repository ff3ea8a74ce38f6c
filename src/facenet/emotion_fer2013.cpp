// oarriaga's FER2013 mini-Xception as @vladmandic/human runs it (src/gear/emotion.ts, the TF.js graph).
#include "ned/facenet/emotion_fer2013.hpp"

#include <torch/torch.h>

#include "facenet/face_input.hpp"
#include "facenet/tf_ops.hpp"
#include "ned/core/error.hpp"
#include "ned/facenet/tfjs_graph.hpp"

namespace ned::facenet {

namespace fs = std::filesystem;

namespace {

constexpr int kSize = 64;

/// human's emotion.ts: tf.image.resizeBilinear(face / 255, [64, 64]) -> weighted grey -> (g - 0.5) * 2, each
/// step rounded to float32 as tfjs-backend-cpu does (sums in double). [1, 1, 64, 64].
torch::Tensor grey_input(const cv::Mat& bgr, const cv::Rect& r) {
    const torch::Tensor rgb = resize_bilinear_rgb(bgr, {r, cv::Point(0, 0), r.size()}, cv::Size(kSize, kSize), 255.0);
    const float* src = rgb.data_ptr<float>();
    torch::Tensor t = torch::empty({1, 1, kSize, kSize}, torch::kFloat32);
    float* dst = t.data_ptr<float>();
    const float wgt[3] = {0.2989f, 0.5870f, 0.1140f};
    for (int i = 0; i < kSize * kSize; ++i) {
        double grey = 0;
        for (int c = 0; c < 3; ++c) grey += double(src[c * kSize * kSize + i] * wgt[c]);
        dst[i] = (float(grey) - 0.5f) * 2.0f;
    }
    return t;
}

}  // namespace

EmotionFer2013::EmotionFer2013(const fs::path& dir)
    : graph_(std::make_shared<const TfjsGraph>(dir / "fer2013_emotion.json")) {}

std::vector<float> EmotionFer2013::probabilities(const cv::Mat& bgr, const cv::Rect2f& box) const {
    const cv::Rect r = face_crop(bgr, box, "EmotionFer2013");
    torch::NoGradGuard no_grad;
    const torch::Tensor p = graph_->run(grey_input(bgr, r)).reshape({-1}).contiguous();
    NED_CHECK(p.numel() == 7, "FER2013 output size ", p.numel());
    return std::vector<float>(p.data_ptr<float>(), p.data_ptr<float>() + 7);
}

const std::vector<std::string>& EmotionFer2013::names() {
    static const std::vector<std::string> n{"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"};
    return n;
}

}  // namespace ned::facenet
