// face-api's FaceLandmark68Net (@vladmandic/face-api 1.7.15, src/faceLandmarkNet) on the shared feature net.
#include "ned/facenet/landmarks68.hpp"

#include <algorithm>
#include <cmath>

#include <torch/torch.h>

#include "facenet/face_input.hpp"
#include "facenet/feature_net.hpp"

namespace ned::facenet {

namespace fs = std::filesystem;

Landmarks68::Landmarks68(const fs::path& dir)
    : net_(std::make_shared<const FeatureNet>(dir / "face_landmark_68_model-weights_manifest.json")) {}

std::vector<cv::Point2f> Landmarks68::predict(const cv::Mat& bgr, const cv::Rect2f& box) const {
    const cv::Rect r = face_crop(bgr, box, "Landmarks68");
    torch::NoGradGuard no_grad;
    constexpr int S = kFeatureNetInput;
    const torch::Tensor o = net_->on_face(bgr, r).reshape({68, 2});
    // FaceLandmark68NetBase.postProcess: undo the centred padding in the 112 square, relative to the crop.
    const double s = double(S) / std::max(r.width, r.height);
    const float w = float(r.width * s), h = float(r.height * s);
    const float pad_x = w < h ? std::abs(w - h) / 2 : 0.f, pad_y = h < w ? std::abs(w - h) / 2 : 0.f;
    const float* p = o.data_ptr<float>();
    std::vector<cv::Point2f> pts(68);
    for (int i = 0; i < 68; ++i) {
        const float rx = (p[2 * i] * float(S) - pad_x) / w;
        const float ry = (p[2 * i + 1] * float(S) - pad_y) / h;
        pts[i] = cv::Point2f(float(double(rx) * r.width + r.x), float(double(ry) * r.height + r.y));
    }
    return pts;
}

}  // namespace ned::facenet
