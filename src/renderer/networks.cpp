// NED's renderer networks (ned-reference §3.3-3.4); see include/ned/renderer/networks.hpp.
#include "ned/renderer/networks.hpp"

#include <ATen/Context.h>
#include <torch/version.h>

#include "ned/core/error.hpp"

namespace ned::renderer {

namespace nn = torch::nn;

// LibTorch 2.x keeps module options in std::variant, 1.13 in c10::variant.
#if TORCH_VERSION_MAJOR >= 2
using std::get_if;
#else
using c10::get_if;
#endif

torch::Tensor instance_norm(const torch::Tensor& x, double eps) {
    NED_CHECK(x.dim() == 4, "instance_norm expects [B,C,H,W], got ", x.sizes());
    // Shift by one sample per (b, c): a constant channel becomes exactly 0, so its mean and variance are
    // exactly 0 and so is the output. Mathematically the result does not change.
    const torch::Tensor shifted = x - x.narrow(2, 0, 1).narrow(3, 0, 1);
    const bool reduced = x.scalar_type() == torch::kBFloat16 || x.scalar_type() == torch::kHalf;
    const torch::Tensor in = reduced ? shifted.to(torch::kFloat) : shifted;
    torch::Tensor out = torch::instance_norm(in, /*weight=*/{}, /*bias=*/{}, /*running_mean=*/{}, /*running_var=*/{},
                                             /*use_input_stats=*/true, /*momentum=*/0.0, eps,
                                             /*cudnn_enabled=*/at::globalContext().userEnabledCuDNN());
    return reduced ? out.to(x.scalar_type()) : out;
}

torch::Tensor reflection_pad(const torch::Tensor& x, int64_t p) {
    NED_CHECK(x.dim() == 4 && x.size(2) > p && x.size(3) > p, "reflection_pad: input ", x.sizes(), " too small for ",
              p);
    if (p == 0) return x;
    if (x.scalar_type() != torch::kBFloat16 || x.is_cuda()) return torch::reflection_pad2d(x, {p, p, p, p});
    const int64_t W = x.size(3);
    torch::Tensor h = torch::cat({x.narrow(3, 1, p).flip({3}), x, x.narrow(3, W - 1 - p, p).flip({3})}, 3);
    const int64_t H = h.size(2);
    return torch::cat({h.narrow(2, 1, p).flip({2}), h, h.narrow(2, H - 1 - p, p).flip({2})}, 2);
}

torch::Tensor conv_transpose_s2(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
    NED_CHECK(x.dim() == 4 && w.dim() == 4 && w.size(2) == 3 && w.size(3) == 3 && w.size(0) == x.size(1),
              "conv_transpose_s2: bad shapes ", x.sizes(), " ", w.sizes());
    // out[2i+a, 2j+b]: phase a = 0 uses kernel row 1 at input row i; a = 1 uses row 2 at i and row 0 at i+1.
    const torch::Tensor wt = w.transpose(0, 1);  // [out,in,3,3]
    auto taps = [&](int a, int bb) {
        const std::vector<int64_t> rows = a == 0 ? std::vector<int64_t>{1} : std::vector<int64_t>{2, 0};
        const std::vector<int64_t> cols = bb == 0 ? std::vector<int64_t>{1} : std::vector<int64_t>{2, 0};
        auto idx = [&](const std::vector<int64_t>& v) {
            return torch::tensor(v, torch::TensorOptions().dtype(torch::kLong).device(w.device()));
        };
        return wt.index_select(2, idx(rows)).index_select(3, idx(cols)).contiguous();
    };
    // zero row/column after the input (output_padding 1 makes the last phase-1 outputs read past the end)
    const torch::Tensor xp = torch::constant_pad_nd(x, {0, 1, 0, 1}, 0);
    const int64_t H = x.size(2), W = x.size(3);
    std::vector<torch::Tensor> phases;
    for (int a = 0; a < 2; ++a)
        for (int bb = 0; bb < 2; ++bb) {
            const torch::Tensor in = xp.narrow(2, 0, H + a).narrow(3, 0, W + bb);
            phases.push_back(torch::conv2d(in, taps(a, bb), b));
        }
    // [B,out,4,H,W] -> [B,out*4,H,W] in (a, b) order -> pixel_shuffle
    const torch::Tensor st = torch::stack(phases, 2);
    return torch::pixel_shuffle(st.reshape({x.size(0), w.size(1) * 4, H, W}), 2);
}

torch::Tensor MixedConv2dImpl::forward(const torch::Tensor& x) {
    if (x.scalar_type() == weight.scalar_type()) return torch::nn::Conv2dImpl::forward(x);
    NED_CHECK(get_if<torch::enumtype::kZeros>(&options.padding_mode()) != nullptr,
              "MixedConv2d: only zero padding (the renderer pads explicitly)");
    const auto* pad = get_if<torch::ExpandingArray<2>>(&options.padding());
    NED_CHECK(pad != nullptr, "MixedConv2d: padding must be given in pixels");
    return torch::conv2d(x, weight.to(x.scalar_type()), bias.defined() ? bias.to(x.scalar_type()) : torch::Tensor(),
                         torch::IntArrayRef(options.stride()), torch::IntArrayRef(*pad),
                         torch::IntArrayRef(options.dilation()), options.groups());
}

UpConvImpl::UpConvImpl(int64_t in, int64_t out)
    : torch::nn::ConvTranspose2dImpl(
          torch::nn::ConvTranspose2dOptions(in, out, 3).stride(2).padding(1).output_padding(1)) {}

torch::Tensor UpConvImpl::forward(const torch::Tensor& x) {
    const bool cast = x.scalar_type() != weight.scalar_type();  // mixed precision: float32 master weights
    const torch::Tensor w = cast ? weight.to(x.scalar_type()) : weight;
    const torch::Tensor b = cast && bias.defined() ? bias.to(x.scalar_type()) : bias;
    if (x.scalar_type() == torch::kBFloat16 && !x.is_cuda()) return conv_transpose_s2(x, w, b);
    if (!cast) return torch::nn::ConvTranspose2dImpl::forward(x);
    return torch::conv_transpose2d(x, w, b, /*stride=*/2, /*padding=*/1, /*output_padding=*/1);
}

ResnetBlockImpl::ResnetBlockImpl(int dim) {
    conv_block =
        nn::Sequential(ReflectionPad(1), MixedConv2d(nn::Conv2dOptions(dim, dim, 3)), InstanceNorm(), nn::ReLU(),
                       ReflectionPad(1), MixedConv2d(nn::Conv2dOptions(dim, dim, 3)), InstanceNorm());
    register_module("conv_block", conv_block);
}

namespace {

nn::Sequential encoder(const GeneratorConfig& c, int in_nc) {
    nn::Sequential s(ReflectionPad(3), MixedConv2d(nn::Conv2dOptions(in_nc, c.ngf, 7)), InstanceNorm(), nn::ReLU());
    for (int i = 0; i < c.n_downsample; ++i) {
        const int m = 1 << i;
        s->push_back(MixedConv2d(nn::Conv2dOptions(c.ngf * m, c.ngf * m * 2, 3).stride(2).padding(1)));
        s->push_back(InstanceNorm());
        s->push_back(nn::ReLU());
    }
    const int dim = c.ngf << c.n_downsample;
    for (int i = 0; i < c.blocks_down(); ++i) s->push_back(ResnetBlock(dim));
    return s;
}

}  // namespace

GeneratorImpl::GeneratorImpl(const GeneratorConfig& c) : cfg(c) {
    if (c.ngf <= 0 || c.n_downsample < 0 || c.n_blocks < 0 || c.cond_nc <= 0 || c.prev_nc <= 0 || c.output_nc <= 0)
        throw Error(cat("renderer generator: invalid size ngf=", c.ngf, " n_downsample=", c.n_downsample,
                        " n_blocks=", c.n_blocks));
    model_down_seg = register_module("model_down_seg", encoder(c, c.cond_nc));
    model_down_img = register_module("model_down_img", encoder(c, c.prev_nc));
    const int dim = c.ngf << c.n_downsample;
    model_res_img = nn::Sequential();
    for (int i = 0; i < c.blocks_res(); ++i) model_res_img->push_back(ResnetBlock(dim));
    register_module("model_res_img", model_res_img);
    model_up_img = nn::Sequential();
    for (int i = 0; i < c.n_downsample; ++i) {
        const int m = 1 << (c.n_downsample - i);
        model_up_img->push_back(UpConv(c.ngf * m, c.ngf * m / 2));
        model_up_img->push_back(InstanceNorm());
        model_up_img->push_back(nn::ReLU());
    }
    register_module("model_up_img", model_up_img);
    model_final_img = register_module(
        "model_final_img",
        nn::Sequential(ReflectionPad(3), MixedConv2d(nn::Conv2dOptions(c.ngf, c.output_nc, 7)), nn::Tanh()));
}

torch::Tensor GeneratorImpl::forward_unmasked(const torch::Tensor& cond, const torch::Tensor& prev) {
    NED_CHECK(cond.dim() == 4 && cond.size(1) == cfg.cond_nc, "generator: conditioning must be [B,", cfg.cond_nc,
              ",H,W], got ", cond.sizes());
    NED_CHECK(prev.dim() == 4 && prev.size(1) == cfg.prev_nc && prev.size(0) == cond.size(0) &&
                  prev.size(2) == cond.size(2) && prev.size(3) == cond.size(3),
              "generator: previous outputs must be [B,", cfg.prev_nc, ",H,W] like the conditioning, got ",
              prev.sizes());
    const int64_t div = int64_t{1} << cfg.n_downsample;
    NED_CHECK(cond.size(2) % div == 0 && cond.size(3) % div == 0, "generator: H and W must be multiples of ", div,
              ", got ", cond.sizes());
    const torch::Tensor down = model_down_seg->forward(cond) + model_down_img->forward(prev);
    // (LibTorch refuses forward() on an empty Sequential: fewer than 2 blocks, or no downsampling)
    const torch::Tensor res = model_res_img->is_empty() ? down : model_res_img->forward(down);
    const torch::Tensor up = model_up_img->is_empty() ? res : model_up_img->forward(res);
    return model_final_img->forward(up);
}

torch::Tensor GeneratorImpl::forward(const torch::Tensor& cond, const torch::Tensor& prev, const torch::Tensor& mask) {
    NED_CHECK(mask.dim() == 4 && mask.size(1) == 1 && mask.size(0) == cond.size(0) && mask.size(2) == cond.size(2) &&
                  mask.size(3) == cond.size(3),
              "generator: mask must be [B,1,H,W] like the conditioning, got ", mask.sizes());
    const torch::Tensor img = forward_unmasked(cond, prev);
    return img * mask - (1 - mask);
}

MultiscaleDiscriminatorImpl::MultiscaleDiscriminatorImpl(const DiscriminatorConfig& c) : cfg(c) {
    if (c.input_nc <= 0 || c.ndf <= 0 || c.n_layers < 1 || c.num_D < 1)
        throw Error(
            cat("renderer discriminator: invalid size ndf=", c.ndf, " n_layers=", c.n_layers, " num_D=", c.num_D));
    constexpr int kw = 4, padw = 2;  // NED: padw = ceil((kw - 1) / 2)
    auto lrelu = [] { return nn::LeakyReLU(nn::LeakyReLUOptions().negative_slope(0.2)); };
    for (int i = 0; i < c.num_D; ++i) {
        const int ndf = std::min(64, c.ndf * (1 << (c.num_D - 1 - i)));  // NED's ndf_max = 64
        std::vector<nn::Sequential> seq;
        seq.push_back(
            nn::Sequential(MixedConv2d(nn::Conv2dOptions(c.input_nc, ndf, kw).stride(2).padding(padw)), lrelu()));
        int nf = ndf;
        for (int n = 1; n < c.n_layers; ++n) {
            const int prev = nf;
            nf = std::min(nf * 2, 512);
            seq.push_back(nn::Sequential(MixedConv2d(nn::Conv2dOptions(prev, nf, kw).stride(2).padding(padw)),
                                         InstanceNorm(), lrelu()));
        }
        const int prev = nf;
        nf = std::min(nf * 2, 512);
        seq.push_back(nn::Sequential(MixedConv2d(nn::Conv2dOptions(prev, nf, kw).stride(1).padding(padw)),
                                     InstanceNorm(), lrelu()));
        seq.push_back(nn::Sequential(MixedConv2d(nn::Conv2dOptions(nf, 1, kw).stride(1).padding(padw))));
        for (size_t j = 0; j < seq.size(); ++j)
            register_module("scale" + std::to_string(i) + "_layer" + std::to_string(j), seq[j]);
        layers.push_back(std::move(seq));
    }
}

DiscriminatorOutput MultiscaleDiscriminatorImpl::forward(const torch::Tensor& x) {
    NED_CHECK(x.dim() == 4 && x.size(1) == cfg.input_nc, "discriminator: input must be [B,", cfg.input_nc,
              ",H,W], got ", x.sizes());
    DiscriminatorOutput result;
    torch::Tensor in = x;
    for (int i = 0; i < cfg.num_D; ++i) {
        auto& model = layers[cfg.num_D - 1 - i];
        std::vector<torch::Tensor> feats;
        torch::Tensor h = in;
        for (auto& layer : model) {
            h = layer->forward(h);
            feats.push_back(h);
        }
        result.push_back(std::move(feats));
        if (i != cfg.num_D - 1) {
            // in float32 for reduced types (an average; exact enough, and every LibTorch kernel has it)
            const bool reduced = in.scalar_type() == torch::kBFloat16 || in.scalar_type() == torch::kHalf;
            const torch::Tensor a = reduced ? in.to(torch::kFloat) : in;
            in = torch::avg_pool2d(a, 3, 2, 1, /*ceil_mode=*/false, /*count_include_pad=*/false).to(in.scalar_type());
        }
    }
    return result;
}

void init_weights(torch::nn::Module& module) {
    torch::NoGradGuard no_grad;
    for (auto& m : module.modules(/*include_self=*/true)) {
        if (auto* conv = m->as<nn::Conv2d>())
            conv->weight.normal_(0.0, 0.02);
        else if (auto* convt = m->as<nn::ConvTranspose2d>())
            convt->weight.normal_(0.0, 0.02);
    }
}

int64_t parameter_count(const torch::nn::Module& module) {
    int64_t n = 0;
    for (const auto& p : module.parameters(true)) n += p.numel();
    return n;
}

int64_t generator_parameter_count(const GeneratorConfig& c) {
    auto conv = [](int64_t in, int64_t out, int64_t k) { return in * out * k * k + out; };
    const int64_t dim = int64_t{c.ngf} << c.n_downsample;
    const int64_t block = 2 * conv(dim, dim, 3);
    int64_t down = 0;  // one encoder without its first convolution
    for (int i = 0; i < c.n_downsample; ++i) down += conv(int64_t{c.ngf} << i, int64_t{c.ngf} << (i + 1), 3);
    down += c.blocks_down() * block;
    int64_t up = 0;
    for (int i = 0; i < c.n_downsample; ++i) up += conv(dim >> i, dim >> (i + 1), 3);
    return conv(c.cond_nc, c.ngf, 7) + conv(c.prev_nc, c.ngf, 7) + 2 * down + c.blocks_res() * block + up +
           conv(c.ngf, c.output_nc, 7);
}

}  // namespace ned::renderer
