// face-api's SSD-MobileNetV1 (@vladmandic/face-api 1.7.15, src/ssdMobilenetv1) as a hand-written LibTorch network.
// TF.js works in NHWC, LibTorch in NCHW: filters are permuted once at load time, and every reshape that depends on
// the memory order (the box predictor outputs) goes through NHWC first.
#include "ned/facenet/ssd_face_detector.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include <torch/torch.h>

#include "facenet/face_input.hpp"
#include "facenet/tf_ops.hpp"
#include "ned/facenet/tfjs_weights.hpp"

namespace ned::facenet {

namespace fs = std::filesystem;

constexpr int kDetectorInput = 512;

struct SsdFaceDetector::Impl {
    struct PointwiseBN {  // conv + batch_norm_offset + relu6
        Conv conv;
        torch::Tensor offset;
        torch::Tensor operator()(const torch::Tensor& x) const { return torch::clamp(conv(x) + offset, 0, 6); }
    };
    struct DepthwiseBN {  // depthwise conv + batch norm + relu6
        Conv conv;
        torch::Tensor mean, inv_scale, offset;  // (x - mean) * (gamma / sqrt(var + eps)) + beta
        torch::Tensor operator()(const torch::Tensor& x) const {
            return torch::clamp((conv(x) - mean) * inv_scale + offset, 0, 6);
        }
    };
    PointwiseBN conv0;
    DepthwiseBN dw[13];
    PointwiseBN pw[13];
    PointwiseBN pred[8];
    Conv box_enc[6], cls[6];
    torch::Tensor anchors;  // [N, 4]

    explicit Impl(const fs::path& dir);
    /// [1, 3, 512, 512] RGB 0..255 -> boxes [N, 4] (ymin, xmin, ymax, xmax relative to the square), scores [N]
    std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& rgb) const;
};

SsdFaceDetector::Impl::Impl(const fs::path& dir) {
    const fs::path src = dir / "ssd_mobilenetv1_model-weights_manifest.json";
    const WeightMap m = load_tfjs_weights(src);
    auto pointwise = [&](const std::string& p, int idx, int64_t stride) {
        const std::string n = p + "/Conv2d_" + std::to_string(idx) + "_pointwise";
        return PointwiseBN{make_conv(weight(m, n + "/weights", 4, src), {}, stride),
                           chan(weight(m, n + "/convolution_bn_offset", 1, src))};
    };
    constexpr double eps = 0.0010000000474974513;
    conv0 = pointwise("MobilenetV1", 0, 2);
    for (int i = 1; i <= 13; ++i) {
        const std::string n = "MobilenetV1/Conv2d_" + std::to_string(i) + "_depthwise";
        const int64_t stride = (i == 2 || i == 4 || i == 6 || i == 12) ? 2 : 1;
        const torch::Tensor var = weight(m, n + "/BatchNorm/moving_variance", 1, src).to(torch::kFloat64);
        const torch::Tensor gamma = weight(m, n + "/BatchNorm/gamma", 1, src).to(torch::kFloat64);
        dw[i - 1] = DepthwiseBN{make_depthwise(weight(m, n + "/depthwise_weights", 4, src), stride),
                                chan(weight(m, n + "/BatchNorm/moving_mean", 1, src)),
                                chan((gamma / torch::sqrt(var + eps)).to(torch::kFloat32)),
                                chan(weight(m, n + "/BatchNorm/beta", 1, src))};
        pw[i - 1] = pointwise("MobilenetV1", i, 1);
    }
    for (int i = 0; i < 8; ++i) pred[i] = pointwise("Prediction", i, i % 2 == 1 ? 2 : 1);
    for (int i = 0; i < 6; ++i) {
        const std::string n = "Prediction/BoxPredictor_" + std::to_string(i);
        box_enc[i] = make_conv(weight(m, n + "/BoxEncodingPredictor/weights", 4, src),
                               weight(m, n + "/BoxEncodingPredictor/biases", 1, src), 1);
        cls[i] = make_conv(weight(m, n + "/ClassPredictor/weights", 4, src),
                           weight(m, n + "/ClassPredictor/biases", 1, src), 1);
    }
    anchors = weight(m, "Output/extra_dim", 3, src).reshape({-1, 4}).contiguous();
}

std::pair<torch::Tensor, torch::Tensor> SsdFaceDetector::Impl::forward(const torch::Tensor& rgb) const {
    torch::Tensor x = rgb / 127.5f - 1.0f;
    x = conv0(x);
    torch::Tensor conv11;
    for (int i = 0; i < 13; ++i) {
        x = pw[i](dw[i](x));
        if (i + 1 == 11) conv11 = x;
    }
    std::vector<torch::Tensor> feats(6);
    torch::Tensor c = pred[0](x), c1 = pred[1](c);
    torch::Tensor c3 = pred[3](pred[2](c1));
    torch::Tensor c5 = pred[5](pred[4](c3));
    torch::Tensor c7 = pred[7](pred[6](c5));
    feats = {conv11, x, c1, c3, c5, c7};
    std::vector<torch::Tensor> enc, cl;
    for (int i = 0; i < 6; ++i) {  // NHWC order before the reshape, as TF.js
        enc.push_back(box_enc[i](feats[i]).permute({0, 2, 3, 1}).reshape({-1, 4}));
        cl.push_back(cls[i](feats[i]).permute({0, 2, 3, 1}).reshape({-1, 3}));
    }
    const torch::Tensor e = torch::cat(enc, 0), k = torch::cat(cl, 0);
    // decodeBoxesLayer
    const torch::Tensor a0 = anchors.select(1, 0), a1 = anchors.select(1, 1);
    const torch::Tensor a2 = anchors.select(1, 2), a3 = anchors.select(1, 3);
    const torch::Tensor s0 = a2 - a0, s1 = a3 - a1;
    const torch::Tensor ctr0 = a0 + s0 / 2, ctr1 = a1 + s1 / 2;
    const torch::Tensor div0 = torch::exp(e.select(1, 2) / 5) * s0 / 2;
    const torch::Tensor add0 = (e.select(1, 0) / 10) * s0 + ctr0;
    const torch::Tensor div1 = torch::exp(e.select(1, 3) / 5) * s1 / 2;
    const torch::Tensor add1 = (e.select(1, 1) / 10) * s1 + ctr1;
    const torch::Tensor boxes = torch::stack({add0 - div0, add1 - div1, add0 + div0, add1 + div1}, 1);
    const torch::Tensor scores = torch::sigmoid(k.select(1, 1));
    return {boxes.contiguous(), scores.contiguous()};
}

SsdFaceDetector::SsdFaceDetector(const fs::path& dir) : impl_(std::make_shared<const Impl>(dir)) {}

std::vector<FaceBox> SsdFaceDetector::detect(const cv::Mat& bgr, float min_score) const {
    check_image(bgr, "SsdFaceDetector");
    torch::NoGradGuard no_grad;
    const int W = bgr.cols, H = bgr.rows, side = std::max(W, H);
    // face-api's padToSquare (black at the bottom/right), resized to 512 x 512
    const ResizeSource square{cv::Rect(0, 0, W, H), cv::Point(0, 0), cv::Size(side, side)};
    const auto [boxes_t, scores_t] =
        impl_->forward(resize_bilinear_rgb(bgr, square, cv::Size(kDetectorInput, kDetectorInput)));
    // face-api's nonMaxSuppression (ssdMobilenetv1/nonMaxSuppression.ts): greedy, IoU 0.5, at most 100.
    const std::vector<int64_t> selected =
        non_max_suppression(boxes_t, scores_t, {NmsFlavour::TfjsCore, 0.5, min_score, 100});
    // Relative box in the padded square -> image pixels (SsdMobilenetv1.locateFaces + Box.rescale).
    const float* bx = boxes_t.data_ptr<float>();
    const float* sc = scores_t.data_ptr<float>();
    const double scale = double(kDetectorInput) / side;
    const double pad_x = double(kDetectorInput) / std::round(W * scale);
    const double pad_y = double(kDetectorInput) / std::round(H * scale);
    std::vector<FaceBox> out;
    for (int64_t i : selected) {
        const float* b = bx + 4 * i;
        const double top = std::max(0.0, double(b[0])) * pad_y, bottom = std::min(1.0, double(b[2])) * pad_y;
        const double left = std::max(0.0, double(b[1])) * pad_x, right = std::min(1.0, double(b[3])) * pad_x;
        out.push_back(
            {cv::Rect2f(float(left * W), float(top * H), float((right - left) * W), float((bottom - top) * H)), sc[i]});
    }
    return out;
}

}  // namespace ned::facenet
