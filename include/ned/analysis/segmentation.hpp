#pragma once
// Optional face segmentation with NED's network: FSGAN v1's U-Net (UNet(n_classes=3, feature_scale=1),
// lfw_figaro_unet_256_2_0_segmentation_v1.pth; ned-reference §1.5) as a native torch::nn module. The weights
// are gated (not shipped); scripts/convert_fsgan_unet.py turns FSGAN's checkpoint into a safetensors file with
// the original state-dict names (conv1.conv1.0.weight, ..., up_concat4.conv1d.weight, final.weight).
//
// NED never calls eval() on this network, so its BatchNorm layers normalise with the statistics of the one
// input image (train mode). FaceSegmenter reproduces that: the module is run in train() mode, without grad.
#include <torch/torch.h>

#include <opencv2/core.hpp>

#include <mutex>
#include <string>

namespace ned::analysis {

/// (Conv3x3 pad1 -> [BN] -> ReLU) x 2, submodules "conv1", "conv2" (Sequential: 0 conv, 1 BN, 2 ReLU; or
/// 0 conv, 1 ReLU without BN).
struct UnetConv2Impl : torch::nn::Module {
    UnetConv2Impl(int64_t in, int64_t out, bool batchnorm);
    torch::Tensor forward(torch::Tensor x);
    torch::nn::Sequential conv1{nullptr}, conv2{nullptr};
};
TORCH_MODULE(UnetConv2);

/// Bilinear x2 upsampling (align_corners=True) -> 1x1 conv "conv1d" -> concat[skip, up] -> UnetConv2 "conv"
/// without BN.
struct UnetUpImpl : torch::nn::Module {
    UnetUpImpl(int64_t in, int64_t out);
    torch::Tensor forward(torch::Tensor skip, torch::Tensor below);
    torch::nn::Conv2d conv1d{nullptr};
    UnetConv2 conv{nullptr};
};
TORCH_MODULE(UnetUp);

/// FSGAN's UNet with feature_scale 1: filters 64,128,256,512,1024.
struct UNetImpl : torch::nn::Module {
    explicit UNetImpl(int64_t n_classes = 3, int64_t in_channels = 3);
    /// x: [N,3,H,W] float RGB in [0,1] (H, W multiples of 16) -> logits [N,n_classes,H,W].
    torch::Tensor forward(torch::Tensor x);
    UnetConv2 conv1{nullptr}, conv2{nullptr}, conv3{nullptr}, conv4{nullptr}, center{nullptr};
    UnetUp up_concat4{nullptr}, up_concat3{nullptr}, up_concat2{nullptr}, up_concat1{nullptr};
    torch::nn::Conv2d final{nullptr};
};
TORCH_MODULE(UNet);

/// Face mask from U-Net logits [1,C,H,W]: argmax over classes == 1 (face), then NED's post-processing
/// (SoftErosion k=21 thr 0.6 -> hard mask, largest 8-connected component). Returns u8 0/255 HxW.
cv::Mat face_mask_from_logits(const torch::Tensor& logits, int erosion_kernel = 21, float erosion_threshold = 0.6f);

/// Loads the converted weights and segments crops. segment() is serialised by a mutex (train-mode BN
/// updates running statistics), so one instance can be shared by worker threads.
class FaceSegmenter {
public:
    /// Throws ModelError if the file is missing, not format "ned.fsgan_unet", or a tensor is missing or
    /// has the wrong shape.
    explicit FaceSegmenter(const std::string& safetensors_path);
    /// Wrap an existing network (tests: random weights).
    explicit FaceSegmenter(UNet net);
    /// Face mask (u8 0/255, crop size) of a BGR crop; empty result (all zero) when no face pixel survives.
    cv::Mat segment(const cv::Mat& crop_bgr);

private:
    UNet net_;
    std::mutex mutex_;
};

}  // namespace ned::analysis
