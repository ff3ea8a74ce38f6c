#pragma once
// Training losses of NED's renderer (ned-reference §3.5; renderer/models/networks.py, head2head_model.py):
// LSGAN over the discriminator scales, feature matching on the intermediate D features, VGG19 perceptual loss
// (torchvision ImageNet weights, slices ending at relu1_1..relu5_1, weights 1/32..1, no input normalisation),
// and the 72x72 mouth crops of the mouth discriminator.
#include <torch/torch.h>

#include <string>
#include <vector>

#include "ned/renderer/networks.hpp"

namespace ned::renderer {

/// LSGAN: sum over scales of mean((pred - target)^2) on each scale's last output, target 1 (real) or 0.
/// Every loss here is computed in float32 whatever the type of the network outputs (bf16/fp16 training).
torch::Tensor lsgan_loss(const DiscriminatorOutput& pred, bool target_real);

/// NED's feature matching: sum over scales i < num_D and intermediate layers j < last of
/// (1/num_D) * (4/(n_layers+1)) * L1(fake[i][j], real[i][j].detach()) * lambda_feat.
torch::Tensor feature_matching_loss(const DiscriminatorOutput& fake, const DiscriminatorOutput& real,
                                    const DiscriminatorConfig& cfg, double lambda_feat = 10.0);

/// VGG19 `features[0:30]` with torchvision's layer indices (parameters `features.N.weight` / `.bias`,
/// N = 0 2 5 7 10 12 14 16 19 21 23 25 28). forward returns relu1_1, relu2_1, relu3_1, relu4_1, relu5_1.
struct Vgg19FeaturesImpl : torch::nn::Module {
    Vgg19FeaturesImpl();
    std::vector<torch::Tensor> forward(const torch::Tensor& x);
    torch::nn::ModuleDict features{nullptr};
};
TORCH_MODULE(Vgg19Features);

/// Load the `ned.vgg19` file (scripts/convert_vgg19.py); ModelError naming the converter otherwise. The
/// parameters are frozen (requires_grad false).
Vgg19Features load_vgg19(const std::string& path, const torch::Device& device = torch::kCPU);

/// NED's VGGLoss: sum_i w_i * L1(vgg(x)_i, vgg(y)_i.detach()), w = 1/32, 1/16, 1/8, 1/4, 1. Images in [-1,1]
/// as they are (NED does not normalise).
torch::Tensor vgg_loss(Vgg19Features& vgg, const torch::Tensor& x, const torch::Tensor& y);

/// Top-left corner (x, y) of NED's ROI of size `roi` around the integer centre (cx, cy) in a `size` x `size`
/// image: the centre is clamped to [roi/2, size - roi/2] (util.py fit_ROI_in_frame), origin = centre - roi/2.
std::pair<int, int> roi_origin(int cx, int cy, int size, int roi = 72);
/// NED's mouth centre: the integer median (numpy median, then int()) of the 20 mouth landmarks 48..67.
std::pair<int, int> mouth_center(const std::vector<std::pair<float, float>>& mouth_landmarks);
/// NED's mouth ROI (72 at 256) scaled to a crop size S and made even: 72*S/256 (at least 8, at most S).
int mouth_roi_size(int S);
/// Crops [B,C,roi,roi] from x [B,C,S,S] at per-sample integer centres (x, y), clamped as roi_origin.
torch::Tensor crop_roi(const torch::Tensor& x, const std::vector<std::pair<int, int>>& centers, int roi = 72);

}  // namespace ned::renderer
