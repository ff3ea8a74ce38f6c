// Training losses of NED's renderer: see include/ned/renderer/losses.hpp.
#include "ned/renderer/losses.hpp"

#include <algorithm>

#include "ned/core/error.hpp"
#include "ned/core/safetensors.hpp"
#include "ned/core/torch_util.hpp"

namespace ned::renderer {

namespace nn = torch::nn;

torch::Tensor lsgan_loss(const DiscriminatorOutput& pred, bool target_real) {
    NED_CHECK(!pred.empty(), "lsgan_loss: no discriminator output");
    torch::Tensor loss;
    for (const auto& scale : pred) {
        const torch::Tensor p = scale.back().to(torch::kFloat);  // reduced in float32 (mixed precision)
        const torch::Tensor l = (p - (target_real ? 1.0 : 0.0)).pow(2).mean();
        loss = loss.defined() ? loss + l : l;
    }
    return loss;
}

torch::Tensor feature_matching_loss(const DiscriminatorOutput& fake, const DiscriminatorOutput& real,
                                    const DiscriminatorConfig& cfg, double lambda_feat) {
    NED_CHECK(fake.size() == real.size() && !fake.empty(), "feature_matching_loss: scale counts differ");
    const double w = (1.0 / cfg.num_D) * (4.0 / (cfg.n_layers + 1)) * lambda_feat;
    torch::Tensor loss;
    for (size_t i = 0; i < std::min<size_t>(fake.size(), cfg.num_D); ++i)
        for (size_t j = 0; j + 1 < fake[i].size(); ++j) {
            const torch::Tensor l =
                torch::l1_loss(fake[i][j].to(torch::kFloat), real[i][j].detach().to(torch::kFloat)) * w;
            loss = loss.defined() ? loss + l : l;
        }
    return loss;
}

namespace {
// torchvision vgg19 features: (index, in, out) of the convolutions in features[0:30]
struct VggConv {
    int index, in, out;
};
const VggConv kVggConvs[] = {{0, 3, 64},     {2, 64, 64},    {5, 64, 128},   {7, 128, 128},  {10, 128, 256},
                             {12, 256, 256}, {14, 256, 256}, {16, 256, 256}, {19, 256, 512}, {21, 512, 512},
                             {23, 512, 512}, {25, 512, 512}, {28, 512, 512}};
// the slices end after relu1_1 (index 1), relu2_1 (6), relu3_1 (11), relu4_1 (20), relu5_1 (29)
const int kSliceEnds[] = {1, 6, 11, 20, 29};
}  // namespace

Vgg19FeaturesImpl::Vgg19FeaturesImpl() {
    features = nn::ModuleDict();
    for (const auto& c : kVggConvs)
        features->update({{std::to_string(c.index), nn::Conv2d(nn::Conv2dOptions(c.in, c.out, 3).padding(1)).ptr()}});
    register_module("features", features);
}

std::vector<torch::Tensor> Vgg19FeaturesImpl::forward(const torch::Tensor& x) {
    std::vector<torch::Tensor> out;
    torch::Tensor h = x;
    size_t slice = 0;
    for (int i = 0; i <= kSliceEnds[4]; ++i) {
        const std::string key = std::to_string(i);
        if (features->contains(key))
            h = features[key]->as<nn::Conv2d>()->forward(h);
        else if (i == 4 || i == 9 || i == 18 || i == 27)
            h = torch::max_pool2d(h, 2, 2);
        else
            h = torch::relu(h);
        if (i == kSliceEnds[slice]) {
            out.push_back(h);
            ++slice;
        }
    }
    return out;
}

Vgg19Features load_vgg19(const std::string& path, const torch::Device& device) {
    const st::File f = st::load_model(
        path, "ned.vgg19", 1, "convert torchvision's VGG19 weights with scripts/convert_vgg19.py (docs/models.md)");
    Vgg19Features vgg;
    load_module(*vgg, f, "", /*strict=*/true);
    for (auto& p : vgg->parameters()) p.set_requires_grad(false);
    vgg->to(device);
    vgg->eval();
    return vgg;
}

torch::Tensor vgg_loss(Vgg19Features& vgg, const torch::Tensor& x, const torch::Tensor& y) {
    static const double w[5] = {1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0};
    // in the network's type (bf16 when mixed-precision training converted the frozen VGG), reduced in float32
    const auto dtype = vgg->features->parameters().front().scalar_type();
    const auto fx = vgg->forward(x.to(dtype));
    std::vector<torch::Tensor> fy;
    {
        torch::NoGradGuard ng;
        fy = vgg->forward(y.to(dtype));
    }
    torch::Tensor loss;
    for (size_t i = 0; i < fx.size(); ++i) {
        const torch::Tensor l = torch::l1_loss(fx[i].to(torch::kFloat), fy[i].to(torch::kFloat)) * w[i];
        loss = loss.defined() ? loss + l : l;
    }
    return loss;
}

std::pair<int, int> roi_origin(int cx, int cy, int size, int roi) {
    const int h = roi / 2;
    cx = std::clamp(cx, h, size - h);
    cy = std::clamp(cy, h, size - h);
    return {cx - h, cy - h};
}

std::pair<int, int> mouth_center(const std::vector<std::pair<float, float>>& pts) {
    NED_CHECK(!pts.empty(), "mouth_center: no landmarks");
    auto median = [](std::vector<double> v) {
        std::sort(v.begin(), v.end());
        const size_t n = v.size();
        return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    };
    std::vector<double> xs, ys;
    for (const auto& p : pts) {
        xs.push_back(p.first);
        ys.push_back(p.second);
    }
    return {static_cast<int>(median(xs)), static_cast<int>(median(ys))};  // int() truncates toward zero
}

int mouth_roi_size(int S) { return std::min(S, std::max(8, (72 * S / 256) / 2 * 2)); }

torch::Tensor crop_roi(const torch::Tensor& x, const std::vector<std::pair<int, int>>& centers, int roi) {
    NED_CHECK(x.dim() == 4 && static_cast<size_t>(x.size(0)) == centers.size() && x.size(2) == x.size(3),
              "crop_roi: x must be [B,C,S,S] with one centre per sample, got ", x.sizes());
    std::vector<torch::Tensor> crops;
    for (size_t b = 0; b < centers.size(); ++b) {
        const auto [x0, y0] = roi_origin(centers[b].first, centers[b].second, static_cast<int>(x.size(2)), roi);
        crops.push_back(x[b].narrow(1, y0, roi).narrow(2, x0, roi));
    }
    return torch::stack(crops, 0);
}

}  // namespace ned::renderer
