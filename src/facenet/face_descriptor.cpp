// face-api's FaceRecognitionNet (@vladmandic/face-api 1.7.15, src/faceRecognitionNet: dlib's ResNet-29 descriptor).
// TF's 'SAME' padding (the odd pixel at the bottom/right) is applied explicitly (tf_ops.hpp).
#include "ned/facenet/face_descriptor.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include <torch/torch.h>

#include "facenet/face_input.hpp"
#include "facenet/tf_ops.hpp"
#include "ned/core/error.hpp"
#include "ned/facenet/tfjs_weights.hpp"

namespace ned::facenet {

namespace fs = std::filesystem;
namespace F = torch::nn::functional;

constexpr int kDescriptorInput = 150;

struct FaceDescriptor::Impl {
    struct ConvScale {  // conv + bias, then scale layer (x * weights + biases)
        Conv conv;
        torch::Tensor sw, sb;
        torch::Tensor operator()(const torch::Tensor& x) const { return conv(x) * sw + sb; }
    };
    struct Residual {
        ConvScale c1, c2;
        bool down = false;
    };
    ConvScale conv32_down;
    std::vector<Residual> blocks;
    torch::Tensor fc;  // [256, 128]

    explicit Impl(const fs::path& dir);
    torch::Tensor forward(const torch::Tensor& rgb) const;
};

FaceDescriptor::Impl::Impl(const fs::path& dir) {
    const fs::path src = dir / "face_recognition_model-weights_manifest.json";
    const WeightMap m = load_tfjs_weights(src);
    auto cs = [&](const std::string& p, int64_t stride, bool same) {
        return ConvScale{
            make_conv(weight(m, p + "/conv/filters", 4, src), weight(m, p + "/conv/bias", 1, src), stride, same),
            chan(weight(m, p + "/scale/weights", 1, src)), chan(weight(m, p + "/scale/biases", 1, src))};
    };
    conv32_down = cs("conv32_down", 2, false);
    const std::pair<const char*, bool> names[] = {
        {"conv32_1", false},  {"conv32_2", false},       {"conv32_3", false},    {"conv64_down", true},
        {"conv64_1", false},  {"conv64_2", false},       {"conv64_3", false},    {"conv128_down", true},
        {"conv128_1", false}, {"conv128_2", false},      {"conv256_down", true}, {"conv256_1", false},
        {"conv256_2", false}, {"conv256_down_out", true}};
    for (const auto& [name, down] : names) {
        const std::string p = name;
        blocks.push_back({cs(p + "/conv1", down ? 2 : 1, !down), cs(p + "/conv2", 1, true), down});
    }
    fc = weight(m, "fc", 2, src).contiguous();
}

torch::Tensor FaceDescriptor::Impl::forward(const torch::Tensor& rgb) const {
    torch::Tensor x = torch::relu(conv32_down(normalize_face(rgb)));
    x = F::max_pool2d(x, F::MaxPool2dFuncOptions(3).stride(2));
    for (const auto& b : blocks) {
        torch::Tensor out = b.c2(torch::relu(b.c1(x)));
        if (!b.down) {
            x = torch::relu(out + x);
            continue;
        }
        torch::Tensor pooled = F::avg_pool2d(x, F::AvgPool2dFuncOptions(2).stride(2));
        if (pooled.size(2) != out.size(2) || pooled.size(3) != out.size(3))
            out = F::pad(out, F::PadFuncOptions({0, 1, 0, 1}));  // one zero row (bottom) and column (right)
        if (pooled.size(1) != out.size(1)) pooled = torch::cat({pooled, torch::zeros_like(pooled)}, 1);
        x = torch::relu(pooled + out);
    }
    return torch::matmul(x.mean({2, 3}), fc);
}

FaceDescriptor::FaceDescriptor(const fs::path& dir) : impl_(std::make_shared<const Impl>(dir)) {}

std::array<float, 128> FaceDescriptor::describe(const cv::Mat& bgr, const cv::Rect2f& box) const {
    const cv::Rect r = face_crop(bgr, box, "FaceDescriptor");
    torch::NoGradGuard no_grad;
    const torch::Tensor d = impl_->forward(centered_face_input(bgr, r, kDescriptorInput)).contiguous();
    NED_CHECK(d.numel() == 128, "descriptor size ", d.numel());
    std::array<float, 128> out{};
    std::copy(d.data_ptr<float>(), d.data_ptr<float>() + 128, out.begin());
    return out;
}

float FaceDescriptor::distance(const std::array<float, 128>& a, const std::array<float, 128>& b) {
    double s = 0;
    for (size_t i = 0; i < a.size(); ++i) s += double(a[i] - b[i]) * double(a[i] - b[i]);
    return float(std::sqrt(s));
}

cv::Rect2f descriptor_box(const std::vector<cv::Point2f>& lm) {
    if (lm.size() != 68) throw InputError(cat("descriptor_box: expected 68 landmarks, got ", lm.size()));
    auto centre = [&](int a, int b) {  // face-api's getCenterPoint of positions [a, b)
        double x = 0, y = 0;
        for (int i = a; i < b; ++i) x += lm[i].x, y += lm[i].y;
        return cv::Point2d(x / (b - a), y / (b - a));
    };
    const cv::Point2d le = centre(36, 42), re = centre(42, 48), mouth = centre(48, 68);
    const double eye_to_mouth = (cv::norm(mouth - le) + cv::norm(mouth - re)) / 2;
    const double size = std::floor(eye_to_mouth / 0.45);
    const cv::Point2d ref = (le + re + mouth) / 3.0;
    const double x = std::floor(std::max(0.0, ref.x - 0.5 * size));
    const double y = std::floor(std::max(0.0, ref.y - 0.43 * size));
    return cv::Rect2f(float(x), float(y), float(size), float(size));
}

}  // namespace ned::facenet
