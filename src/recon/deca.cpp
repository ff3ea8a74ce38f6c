#include "ned/recon/deca.hpp"

#include <algorithm>
#include <cmath>

#include "ned/core/error.hpp"
#include "ned/core/torch_util.hpp"

namespace ned::recon {
namespace nn = torch::nn;
namespace {
constexpr const char* kFormat = "ned.deca";
constexpr const char* kDocsHint = " (see docs/models.md for how to obtain and convert DECA's deca_model.tar)";
// scripts/convert_deca.py's CONVERTER_VERSION; files without the key come from version 1, which wrote 0-d
// tensors (num_batches_tracked) as shape [1].
constexpr int kConverterVersion = 2;

std::string converter_hint(const st::File& f) {
    const std::string v = f.meta("converter_version", "1");
    int n = 0;
    try {
        n = std::stoi(v);
    } catch (const std::exception&) {
        n = 0;
    }
    if (n >= kConverterVersion) return kDocsHint;
    return cat(" (this file was written by scripts/convert_deca.py version ", v, "; the current converter is version ",
               kConverterVersion, ": convert deca_model.tar again with it, see docs/models.md)");
}

nn::Conv2d conv(int64_t in, int64_t out, int64_t k, int64_t stride, int64_t pad, bool bias) {
    return nn::Conv2d(nn::Conv2dOptions(in, out, k).stride(stride).padding(pad).bias(bias));
}

nn::Sequential make_layer(int64_t& inplanes, int64_t planes, int64_t blocks, int64_t stride) {
    nn::Sequential seq;
    const bool ds = stride != 1 || inplanes != planes * 4;
    seq->push_back(Bottleneck(inplanes, planes, stride, ds));
    inplanes = planes * 4;
    for (int64_t i = 1; i < blocks; ++i) seq->push_back(Bottleneck(inplanes, planes, 1, false));
    return seq;
}
}  // namespace

BottleneckImpl::BottleneckImpl(int64_t inplanes, int64_t planes, int64_t stride, bool ds) {
    conv1 = register_module("conv1", conv(inplanes, planes, 1, 1, 0, false));
    bn1 = register_module("bn1", nn::BatchNorm2d(planes));
    conv2 = register_module("conv2", conv(planes, planes, 3, stride, 1, false));
    bn2 = register_module("bn2", nn::BatchNorm2d(planes));
    conv3 = register_module("conv3", conv(planes, planes * 4, 1, 1, 0, false));
    bn3 = register_module("bn3", nn::BatchNorm2d(planes * 4));
    if (ds) {
        downsample = register_module(
            "downsample", nn::Sequential(conv(inplanes, planes * 4, 1, stride, 0, false), nn::BatchNorm2d(planes * 4)));
    }
}

torch::Tensor BottleneckImpl::forward(torch::Tensor x) {
    auto out = torch::relu(bn1(conv1(x)));
    out = torch::relu(bn2(conv2(out)));
    out = bn3(conv3(out));
    out += downsample ? downsample->forward(x) : x;
    return torch::relu(out);
}

ResNet50Impl::ResNet50Impl() {
    conv1 = register_module("conv1", conv(3, 64, 7, 2, 3, false));
    bn1 = register_module("bn1", nn::BatchNorm2d(64));
    int64_t inplanes = 64;
    layer1 = register_module("layer1", make_layer(inplanes, 64, 3, 1));
    layer2 = register_module("layer2", make_layer(inplanes, 128, 4, 2));
    layer3 = register_module("layer3", make_layer(inplanes, 256, 6, 2));
    layer4 = register_module("layer4", make_layer(inplanes, 512, 3, 2));
}

torch::Tensor ResNet50Impl::forward(torch::Tensor x) {
    x = torch::relu(bn1(conv1(x)));
    x = torch::max_pool2d(x, 3, 2, 1);
    x = layer4->forward(layer3->forward(layer2->forward(layer1->forward(x))));
    x = torch::avg_pool2d(x, 7, 1);  // AvgPool2d(7, stride=1): 7x7 -> 1x1 for 224 input
    return x.reshape({x.size(0), -1});
}

ResnetEncoderImpl::ResnetEncoderImpl(int64_t outsize) {
    encoder = register_module("encoder", ResNet50());
    layers = register_module("layers", nn::Sequential(nn::Linear(2048, 1024), nn::ReLU(), nn::Linear(1024, outsize)));
}

torch::Tensor ResnetEncoderImpl::forward(torch::Tensor x) { return layers->forward(encoder->forward(x)); }

DetailGeneratorImpl::DetailGeneratorImpl(int64_t latent_dim, int64_t out_channels, double scale) : out_scale(scale) {
    l1 = register_module("l1", nn::Sequential(nn::Linear(latent_dim, 128 * 8 * 8)));
    auto up = [] {
        return nn::Upsample(
            nn::UpsampleOptions().scale_factor(std::vector<double>{2, 2}).mode(torch::kBilinear).align_corners(false));
    };
    auto bn = [](int64_t c) { return nn::BatchNorm2d(nn::BatchNorm2dOptions(c).eps(0.8)); };
    auto lrelu = [] { return nn::LeakyReLU(nn::LeakyReLUOptions().negative_slope(0.2)); };
    nn::Sequential s;
    s->push_back(nn::BatchNorm2d(128));  // 0 (default eps 1e-5)
    const int64_t ch[] = {128, 128, 64, 64, 32, 16};
    for (int i = 0; i < 5; ++i) {  // 1..20: Up, Conv, BN(eps 0.8), LReLU
        s->push_back(up());
        s->push_back(conv(ch[i], ch[i + 1], 3, 1, 1, true));
        s->push_back(bn(ch[i + 1]));
        s->push_back(lrelu());
    }
    s->push_back(conv(16, out_channels, 3, 1, 1, true));  // 21
    s->push_back(nn::Tanh());                             // 22
    conv_blocks = register_module("conv_blocks", s);
}

torch::Tensor DetailGeneratorImpl::forward(torch::Tensor latent) {
    auto x = l1->forward(latent).view({latent.size(0), 128, 8, 8});
    return conv_blocks->forward(x) * out_scale;
}

DecaModel::DecaModel() : E_flame(kDecaCodeDims), E_detail(kDecaDetailDims), D_detail(kDecaDetailLatent, 1, 0.01) {
    E_flame->eval();
    E_detail->eval();
    D_detail->eval();
}

DecaModel DecaModel::load(const std::string& path, torch::Device device) {
    if (path.empty()) throw ModelError(cat("no DECA model file given", kDocsHint));
    const st::File f =
        st::load_model(path, kFormat, 1, cat("(expected a file written by scripts/convert_deca.py)", kDocsHint));
    auto m = from_file(f, device);
    m.path = path;
    return m;
}

DecaModel DecaModel::from_file(const st::File& f, torch::Device device) {
    DecaModel m;
    try {
        load_module(*m.E_flame, f, "E_flame.");
        load_module(*m.E_detail, f, "E_detail.");
        load_module(*m.D_detail, f, "D_detail.");
    } catch (const ModelError& e) {
        throw ModelError(cat(e.what(), converter_hint(f)));
    }
    m.path = f.path;
    m.to(device);
    return m;
}

void DecaModel::to(torch::Device device) {
    device_ = device;
    E_flame->to(device);
    E_detail->to(device);
    D_detail->to(device);
}

DecaCodes DecaModel::encode(const torch::Tensor& images, bool with_detail) {
    NED_CHECK(images.dim() == 4 && images.size(1) == 3 && images.size(2) == kDecaImageSize &&
                  images.size(3) == kDecaImageSize,
              "DECA encode expects [B,3,224,224] images, got ", images.sizes());
    torch::NoGradGuard ng;
    auto x = images.to(device_, torch::kFloat32);
    // On the CPU the two ResNet-50s run in slices of kCpuSlice images: a batch of 8 was slower per image than one
    // of 1 (90 vs 81 ms, LibTorch 2.11, 2 cores) because its activations (layer1: 8 x 3.2 MB) no longer stay in
    // the caches between layers; slices of 2 were the fastest (docs/performance.md). Every image's codes are
    // independent of the others' (eval-mode batch norm), so slicing changes nothing but the kernels' rounding.
    constexpr int64_t kCpuSlice = 2;
    auto run = [&](ResnetEncoder& net) {
        if (x.is_cuda() || x.size(0) <= kCpuSlice) return net->forward(x);
        std::vector<torch::Tensor> parts;
        for (int64_t b = 0; b < x.size(0); b += kCpuSlice)
            parts.push_back(net->forward(x.slice(0, b, std::min(b + kCpuSlice, x.size(0)))));
        return torch::cat(parts);
    };
    auto p = run(E_flame);
    DecaCodes c;
    const int64_t B = x.size(0);
    int64_t o = 0;
    auto take = [&](int64_t n) {
        auto t = p.slice(1, o, o + n).contiguous();
        o += n;
        return t;
    };
    c.shape = take(100);
    c.tex = take(50);
    c.exp = take(50);
    c.pose = take(6);
    c.cam = take(3);
    c.light = take(27).view({B, 9, 3});
    if (with_detail) c.detail = run(E_detail);
    return c;
}

torch::Tensor DecaModel::decode_detail(const torch::Tensor& detail, const torch::Tensor& exp,
                                       const torch::Tensor& jaw_pose) {
    NED_CHECK(detail.dim() == 2 && detail.size(1) == kDecaDetailDims && exp.dim() == 2 && exp.size(1) == 50 &&
                  jaw_pose.dim() == 2 && jaw_pose.size(1) == 3,
              "DECA decode_detail expects detail [B,128], exp [B,50], jaw_pose [B,3], got ", detail.sizes(), ", ",
              exp.sizes(), ", ", jaw_pose.sizes());
    torch::NoGradGuard ng;
    auto o = torch::TensorOptions().device(device_).dtype(torch::kFloat32);
    auto latent = torch::cat({jaw_pose.to(o), exp.to(o), detail.to(o)}, 1);
    return D_detail->forward(latent);
}

}  // namespace ned::recon
