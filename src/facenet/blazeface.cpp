// MediaPipe BlazeFace as @vladmandic/human runs it (src/face/blazeface.ts, the TF.js graph blazeface.json).
#include "ned/facenet/blazeface.hpp"

#include <cmath>
#include <string>

#include <torch/torch.h>

#include "facenet/face_input.hpp"
#include "facenet/tf_ops.hpp"
#include "ned/facenet/tfjs_graph.hpp"

namespace ned::facenet {

namespace fs = std::filesystem;

constexpr int kBlazeInput = 256;

struct BlazeFaceDetector::Impl {
    TfjsGraph graph;
    torch::Tensor anchors;  // [896, 2] (x, y) in input pixels
    explicit Impl(const fs::path& dir) : graph(dir / "blazeface.json") {
        std::vector<float> a;
        const int strides[2] = {16, 32}, per_cell[2] = {2, 6};  // human's generateAnchors(256)
        for (int i = 0; i < 2; ++i) {
            const int grid = (kBlazeInput + strides[i] - 1) / strides[i];
            for (int gy = 0; gy < grid; ++gy)
                for (int gx = 0; gx < grid; ++gx)
                    for (int n = 0; n < per_cell[i]; ++n) {
                        a.push_back(float(strides[i] * (gx + 0.5)));
                        a.push_back(float(strides[i] * (gy + 0.5)));
                    }
        }
        anchors = torch::from_blob(a.data(), {int64_t(a.size() / 2), 2}, torch::kFloat32).clone();
    }
};

BlazeFaceDetector::BlazeFaceDetector(const fs::path& dir) : impl_(std::make_shared<const Impl>(dir)) {}

float blaze_yaw_deg(const FaceBox& face) {
    if (face.keypoints.size() < 3) return 0.f;
    const cv::Point2f eye_r = face.keypoints[0], eye_l = face.keypoints[1], nose = face.keypoints[2];
    const cv::Point2f axis = eye_l - eye_r, mid = 0.5f * (eye_l + eye_r);
    const float dist = std::sqrt(axis.dot(axis));
    if (!(dist > 1e-3f)) return 0.f;
    const float r = (nose - mid).dot(axis) / (dist * dist);
    return static_cast<float>(std::atan(r / kBlazeNoseDepth) * 180.0 / CV_PI);
}

std::vector<FaceBox> BlazeFaceDetector::detect(const cv::Mat& bgr, float min_score) const {
    check_image(bgr, "BlazeFaceDetector");
    torch::NoGradGuard no_grad;
    constexpr int S = kBlazeInput;
    const int W = bgr.cols, H = bgr.rows;
    // tf.image.resizeBilinear(frame, [256, 256]) (stretched, no half-pixel centres), / 127.5 - 1
    const ResizeSource frame{cv::Rect(0, 0, W, H), cv::Point(0, 0), cv::Size(W, H)};
    const torch::Tensor x = resize_bilinear_rgb(bgr, frame, cv::Size(S, S)) / 127.5f - 1.0f;
    const auto o = impl_->graph.run(x, std::vector<std::string>{"Identity", "Identity_1", "Identity_2", "Identity_3"});
    const torch::Tensor b512 = torch::cat({o[0], o[2]}, 2);              // [1, 512, 1 + 16]
    const torch::Tensor b384 = torch::cat({o[1], o[3]}, 2);              // [1, 384, 1 + 16]
    const torch::Tensor batch = torch::cat({b512, b384}, 1).squeeze(0);  // [896, 17]
    const torch::Tensor centres = batch.slice(1, 1, 3) + impl_->anchors;
    const torch::Tensor half = batch.slice(1, 3, 5) / float(S) / 2.0f;
    const torch::Tensor starts = ((centres / float(S)) - half) * float(S);
    const torch::Tensor ends = ((centres / float(S)) + half) * float(S);
    const torch::Tensor boxes = torch::cat({starts, ends}, 1).contiguous();  // x1, y1, x2, y2
    const torch::Tensor scores = torch::sigmoid(batch.select(1, 0)).contiguous();
    // six keypoints per anchor, offsets from the anchor in input pixels as the box centre
    const torch::Tensor kps = (batch.slice(1, 5, 17).reshape({-1, 6, 2}) + impl_->anchors.unsqueeze(1)).contiguous();
    // greedy NMS (human: tf.image.nonMaxSuppressionAsync): score > threshold, IoU > 0.3 suppresses, at most 100.
    const std::vector<int64_t> kept = non_max_suppression(boxes, scores, {NmsFlavour::Plain, 0.3, min_score, 100});
    const float* bx = boxes.data_ptr<float>();
    const float* sc = scores.data_ptr<float>();
    const float* kp = kps.data_ptr<float>();
    const float fx = float(W) / S, fy = float(H) / S;
    std::vector<FaceBox> out;
    for (int64_t i : kept) {
        const float* b = bx + 4 * i;
        FaceBox d{cv::Rect2f(b[0] * fx, b[1] * fy, (b[2] - b[0]) * fx, (b[3] - b[1]) * fy), sc[i], {}};
        for (int k = 0; k < 6; ++k) d.keypoints.emplace_back(kp[(i * 6 + k) * 2] * fx, kp[(i * 6 + k) * 2 + 1] * fy);
        out.push_back(std::move(d));
    }
    return out;
}

}  // namespace ned::facenet
