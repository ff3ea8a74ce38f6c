// FSGAN U-Net face segmentation as used by NED (ned-reference §1.5).
#include "ned/analysis/segmentation.hpp"

#include <opencv2/imgproc.hpp>

#include "ned/core/error.hpp"
#include "ned/core/log.hpp"
#include "ned/core/safetensors.hpp"
#include "ned/core/torch_mat.hpp"
#include "ned/face/face_mask.hpp"

namespace ned::analysis {
namespace nn = torch::nn;

UnetConv2Impl::UnetConv2Impl(int64_t in, int64_t out, bool batchnorm) {
    auto block = [&](int64_t cin) {
        nn::Sequential s;
        s->push_back(nn::Conv2d(nn::Conv2dOptions(cin, out, 3).stride(1).padding(1)));
        if (batchnorm) s->push_back(nn::BatchNorm2d(out));
        s->push_back(nn::ReLU());
        return s;
    };
    conv1 = register_module("conv1", block(in));
    conv2 = register_module("conv2", block(out));
}

torch::Tensor UnetConv2Impl::forward(torch::Tensor x) { return conv2->forward(conv1->forward(x)); }

UnetUpImpl::UnetUpImpl(int64_t in, int64_t out) {
    // FSGAN declares nn.Conv1d(in, out, kernel_size=(1,1)): weight [out,in,1,1], acting as a 1x1 Conv2d.
    conv1d = register_module("conv1d", nn::Conv2d(nn::Conv2dOptions(in, out, 1)));
    conv = register_module("conv", UnetConv2(in, out, false));
}

torch::Tensor UnetUpImpl::forward(torch::Tensor skip, torch::Tensor below) {
    namespace F = torch::nn::functional;
    auto up = F::interpolate(below, F::InterpolateFuncOptions()
                                        .scale_factor(std::vector<double>{2.0, 2.0})
                                        .mode(torch::kBilinear)
                                        .align_corners(true));
    up = conv1d->forward(up);
    const int64_t offset = up.size(2) - skip.size(2);
    if (offset != 0) {
        const int64_t p = offset / 2;
        skip = F::pad(skip, F::PadFuncOptions({p, p, p, p}));
    }
    return conv->forward(torch::cat({skip, up}, 1));
}

UNetImpl::UNetImpl(int64_t n_classes, int64_t in_channels) {
    conv1 = register_module("conv1", UnetConv2(in_channels, 64, true));
    conv2 = register_module("conv2", UnetConv2(64, 128, true));
    conv3 = register_module("conv3", UnetConv2(128, 256, true));
    conv4 = register_module("conv4", UnetConv2(256, 512, true));
    center = register_module("center", UnetConv2(512, 1024, true));
    up_concat4 = register_module("up_concat4", UnetUp(1024, 512));
    up_concat3 = register_module("up_concat3", UnetUp(512, 256));
    up_concat2 = register_module("up_concat2", UnetUp(256, 128));
    up_concat1 = register_module("up_concat1", UnetUp(128, 64));
    final = register_module("final", nn::Conv2d(nn::Conv2dOptions(64, n_classes, 1)));
}

torch::Tensor UNetImpl::forward(torch::Tensor x) {
    namespace F = torch::nn::functional;
    auto pool = [](const torch::Tensor& t) { return F::max_pool2d(t, F::MaxPool2dFuncOptions(2)); };
    auto c1 = conv1->forward(x);
    auto c2 = conv2->forward(pool(c1));
    auto c3 = conv3->forward(pool(c2));
    auto c4 = conv4->forward(pool(c3));
    auto c = center->forward(pool(c4));
    auto u4 = up_concat4->forward(c4, c);
    auto u3 = up_concat3->forward(c3, u4);
    auto u2 = up_concat2->forward(c2, u3);
    auto u1 = up_concat1->forward(c1, u2);
    return final->forward(u1);
}

cv::Mat face_mask_from_logits(const torch::Tensor& logits, int erosion_kernel, float erosion_threshold) {
    NED_CHECK(logits.dim() == 4 && logits.size(0) == 1 && logits.size(1) >= 2,
              "segmentation logits must be [1,C>=2,H,W], got ", logits.sizes());
    const auto face = (logits[0].argmax(0) == 1).to(torch::kU8).mul(255).contiguous().cpu();
    cv::Mat m(static_cast<int>(face.size(0)), static_cast<int>(face.size(1)), CV_8U, face.data_ptr<uint8_t>());
    return face::postprocess_face_mask(m.clone(), erosion_kernel, erosion_threshold);
}

FaceSegmenter::FaceSegmenter(const std::string& path) : net_(UNet(3)) {
    const std::string hint =
        "(make it with scripts/convert_fsgan_unet.py from FSGAN's lfw_figaro_unet_256_2_0_segmentation_v1.pth)";
    const st::File f = st::load_model(path, "ned.fsgan_unet", 1, hint);
    try {
        load_module(*net_, f, "", true);
    } catch (const ModelError& e) {
        throw ModelError(cat(e.what(), " ", hint));
    }
    net_->train();  // NED's quirk: BatchNorm with per-image statistics
    NED_LOG_INFO("[analyze] segmentation model {}", path);
}

FaceSegmenter::FaceSegmenter(UNet net) : net_(std::move(net)) { net_->train(); }

cv::Mat FaceSegmenter::segment(const cv::Mat& crop_bgr) {
    NED_CHECK(crop_bgr.type() == CV_8UC3 && crop_bgr.rows % 16 == 0 && crop_bgr.cols % 16 == 0,
              "segment() expects a CV_8UC3 crop with sides divisible by 16, got ", crop_bgr.cols, "x", crop_bgr.rows);
    cv::Mat rgb;
    cv::cvtColor(crop_bgr, rgb, cv::COLOR_BGR2RGB);
    const torch::Tensor x = mat_to_tensor(rgb, 1.0 / 255.0).unsqueeze(0);
    torch::Tensor logits;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        torch::NoGradGuard no_grad;
        logits = net_->forward(x);
    }
    return face_mask_from_logits(logits);
}

}  // namespace ned::analysis
