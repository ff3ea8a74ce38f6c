#pragma once
// DECA's networks as native torch::nn modules (ned-reference §4.2-§4.3), loaded by name from the file
// written by scripts/convert_deca.py (format "ned.deca", version 1, DECA's own parameter names prefixed
// with E_flame. / E_detail. / D_detail.). Torch-only (NED_NETS_ONLY layer); DECA's 224x224 crop (§1.6), which
// needs OpenCV, is in deca_image.hpp.
//
//   E_flame : ResNet-50 (fc removed, AvgPool2d(7)) -> 2048 -> Linear 2048->1024 -> ReLU -> Linear 1024->236
//             split shape 100 | tex 50 | exp 50 | pose 6 | cam 3 | light 27 (-> [9,3])
//   E_detail: same encoder -> 128 detail code
//   D_detail: latent concat(jaw pose(3), exp(50), detail(128)) = 181 -> [B,1,256,256] UV displacement
//             (tanh * 0.01, BatchNorm eps 0.8)
// Networks run in eval mode (BatchNorm running statistics). Input images are RGB in [0,1], no
// mean/std normalisation (DECA's TestData).
#include <torch/torch.h>

#include <string>

#include "ned/core/safetensors.hpp"

namespace ned::recon {

constexpr int kDecaImageSize = 224;
constexpr int kDecaCodeDims = 236;
constexpr int kDecaDetailDims = 128;
constexpr int kDecaDetailLatent = 181;

/// torchvision-style ResNet Bottleneck (stride on conv2), names as DECA's resnet.py.
struct BottleneckImpl : torch::nn::Module {
    BottleneckImpl(int64_t inplanes, int64_t planes, int64_t stride, bool downsample);
    torch::Tensor forward(torch::Tensor x);
    torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
    torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
    torch::nn::Sequential downsample{nullptr};  ///< "downsample.0" conv 1x1, "downsample.1" BN
};
TORCH_MODULE(Bottleneck);

/// DECA's ResNet-50 without fc: [B,3,224,224] -> [B,2048]. Parameter names conv1, bn1, layer1..4.
struct ResNet50Impl : torch::nn::Module {
    ResNet50Impl();
    torch::Tensor forward(torch::Tensor x);
    torch::nn::Conv2d conv1{nullptr};
    torch::nn::BatchNorm2d bn1{nullptr};
    torch::nn::Sequential layer1{nullptr}, layer2{nullptr}, layer3{nullptr}, layer4{nullptr};
};
TORCH_MODULE(ResNet50);

/// DECA's ResnetEncoder: "encoder.*" (ResNet50) + "layers.0" Linear 2048->1024, ReLU, "layers.2" Linear 1024->out.
struct ResnetEncoderImpl : torch::nn::Module {
    explicit ResnetEncoderImpl(int64_t outsize);
    torch::Tensor forward(torch::Tensor x);
    ResNet50 encoder{nullptr};
    torch::nn::Sequential layers{nullptr};
};
TORCH_MODULE(ResnetEncoder);

/// DECA's decoders.Generator: "l1.0" Linear latent->128*8*8, "conv_blocks.{0..22}".
struct DetailGeneratorImpl : torch::nn::Module {
    explicit DetailGeneratorImpl(int64_t latent_dim = kDecaDetailLatent, int64_t out_channels = 1,
                                 double out_scale = 0.01);
    torch::Tensor forward(torch::Tensor latent);
    torch::nn::Sequential l1{nullptr}, conv_blocks{nullptr};
    double out_scale;
};
TORCH_MODULE(DetailGenerator);

/// DECA's codes for a batch of crops (float32 on the model's device).
struct DecaCodes {
    torch::Tensor shape;   ///< [B,100]
    torch::Tensor tex;     ///< [B,50]
    torch::Tensor exp;     ///< [B,50]
    torch::Tensor pose;    ///< [B,6] global axis-angle, jaw axis-angle
    torch::Tensor cam;     ///< [B,3] s, tx, ty
    torch::Tensor light;   ///< [B,9,3]
    torch::Tensor detail;  ///< [B,128] (undefined when encode() was asked not to run E_detail)
};

/// E_flame + E_detail + D_detail.
class DecaModel {
public:
    DecaModel();
    /// Load a ned.deca file; missing/invalid -> ModelError naming the file and pointing to docs/models.md.
    static DecaModel load(const std::string& path, torch::Device device = torch::kCPU);
    /// Load from a parsed file (strict: every parameter must be present with the right shape).
    static DecaModel from_file(const st::File& file, torch::Device device = torch::kCPU);

    void to(torch::Device device);
    torch::Device device() const { return device_; }

    /// images [B,3,224,224] RGB in [0,1] (any device) -> codes. with_detail=false skips E_detail.
    DecaCodes encode(const torch::Tensor& images, bool with_detail = true);
    /// D_detail(concat(jaw_pose, exp, detail)) -> [B,1,256,256] UV displacement (already * 0.01).
    torch::Tensor decode_detail(const torch::Tensor& detail, const torch::Tensor& exp, const torch::Tensor& jaw_pose);

    ResnetEncoder E_flame{nullptr};
    ResnetEncoder E_detail{nullptr};
    DetailGenerator D_detail{nullptr};
    std::string path;

private:
    torch::Device device_ = torch::kCPU;
};

}  // namespace ned::recon
