#pragma once
// NED's neural face renderer (a Head2Head++ derivative; foivospar/NED renderer/models/networks.py,
// ned-reference §3.3-3.4) as native LibTorch modules whose parameter names equal NED's state-dict names.
//
// Generator G (ngf = 64, 3 downsamplings, 9 ResNet blocks at NED's size: 70,834,755 parameters)
//   model_down_seg : ReflPad3, Conv7 27->ngf, IN, ReLU, 3 x [Conv3 s2 p1 (zero pad), IN, ReLU], 5 ResnetBlocks
//   model_down_img : the same on the 6-channel previous outputs
//   model_res_img  : 4 ResnetBlocks on the sum of both
//   model_up_img   : 3 x [ConvTranspose3 s2 p1 op1, IN, ReLU]
//   model_final_img: ReflPad3, Conv7 ngf->3, Tanh
//   out = tanh * mask - (1 - mask)    (background exactly -1)
// ResnetBlock: x + [ReflPad1, Conv3, IN, ReLU, ReflPad1, Conv3, IN] (names conv_block.1 / conv_block.5).
// IN = instance norm without affine, per-instance statistics always (NED never calls eval()), eps 1e-5,
// computed so that a constant channel gives exactly 0 (see instance_norm below).
//
// Discriminators (image D and mouth D are the same network): NED's MultiscaleDiscriminator with num_D = 2,
// n_layers = 3, ndf = 64, intermediate features kept. Input 12 channels = [nmfc, eyes, shape] of frame t
// (9) + RGB (3). Names scale{i}_layer{j}.0.weight; scale num_D-1 sees the full resolution, scale 0 the
// AvgPool2d(3, s2, p1, count_include_pad=False) downsampled input.
#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace ned::renderer {

/// Instance norm without affine parameters: (x - mean) / sqrt(var + eps) per sample and channel over H,W
/// (biased variance), for x [B,C,H,W]. The input is first shifted by its top-left sample per channel, which
/// leaves the result unchanged mathematically but makes the output of a constant channel exactly 0 (its
/// true value; PyTorch's InstanceNorm2d returns amplified rounding noise there). Reduced-precision inputs
/// (bf16, fp16) are normalised in float32 and cast back.
torch::Tensor instance_norm(const torch::Tensor& x, double eps = 1e-5);

/// Module wrapper of instance_norm (no parameters, no buffers: NED's running statistics are unused).
struct InstanceNormImpl : torch::nn::Module {
    explicit InstanceNormImpl(double eps = 1e-5) : eps(eps) {}
    torch::Tensor forward(const torch::Tensor& x) { return instance_norm(x, eps); }
    double eps;
};
TORCH_MODULE(InstanceNorm);

/// Reflection padding of `pad` pixels on each side of [B,C,H,W] (torch's ReflectionPad2d, which LibTorch 1.13
/// does not implement for bfloat16 on the CPU; this one works for every dtype).
torch::Tensor reflection_pad(const torch::Tensor& x, int64_t pad);

struct ReflectionPadImpl : torch::nn::Module {
    explicit ReflectionPadImpl(int64_t pad) : pad(pad) {}
    torch::Tensor forward(const torch::Tensor& x) { return reflection_pad(x, pad); }
    int64_t pad;
};
TORCH_MODULE(ReflectionPad);

/// torch::nn::Conv2d (same options, parameters and names) that runs in its input's floating type: when the
/// input is bf16 or fp16 and the parameters float32 (mixed-precision training: float32 master weights), weight and
/// bias are cast for this call. The casts are differentiable, so the gradients land in float32 on the parameters.
/// With equal types (float32 training, a generator converted for `ned render --precision bf16`) it is nn::Conv2d.
struct MixedConv2dImpl : torch::nn::Conv2dImpl {
    using torch::nn::Conv2dImpl::Conv2dImpl;
    torch::Tensor forward(const torch::Tensor& x);
};
TORCH_MODULE(MixedConv2d);

/// ConvTranspose2d(k 3, stride 2, padding 1, output_padding 1) as four ordinary convolutions, one per output
/// phase (1x1, 1x2, 2x1, 2x2 taps of the 3x3 kernel), interleaved with pixel_shuffle: the same sums as
/// torch's transposed convolution, which LibTorch 1.13 cannot run in bfloat16 on the CPU (its oneDNN path
/// rejects the weight). weight [in,out,3,3] as ConvTranspose2d stores it.
torch::Tensor conv_transpose_s2(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias);

/// The generator's upsampling layer: torch's ConvTranspose2d(in, out, 3, stride 2, padding 1, output_padding 1)
/// (same parameters `weight` [in,out,3,3] and `bias`), run through conv_transpose_s2 for bfloat16 on the CPU;
/// like MixedConv2d it casts float32 parameters to a bf16/fp16 input's type for the call.
struct UpConvImpl : torch::nn::ConvTranspose2dImpl {
    UpConvImpl(int64_t in, int64_t out);
    torch::Tensor forward(const torch::Tensor& x);
};
TORCH_MODULE(UpConv);

/// Generator sizes. The defaults are NED's; the checkpoint loader reads them from the tensor shapes.
struct GeneratorConfig {
    int ngf = 64;          ///< width of the first layer
    int n_downsample = 3;  ///< strided convolutions per encoder (= transposed convolutions)
    int n_blocks = 9;      ///< ResNet blocks: n_blocks - n_blocks/2 per encoder, n_blocks/2 after the sum
    int cond_nc = 27;      ///< conditioning channels: 3 frames x [nmfc(3), eyes(3), shape(3)]
    int prev_nc = 6;       ///< previous outputs: 2 frames x RGB
    int output_nc = 3;
    int blocks_down() const { return n_blocks - n_blocks / 2; }
    int blocks_res() const { return n_blocks / 2; }
    bool operator==(const GeneratorConfig& o) const {
        return ngf == o.ngf && n_downsample == o.n_downsample && n_blocks == o.n_blocks && cond_nc == o.cond_nc &&
               prev_nc == o.prev_nc && output_nc == o.output_nc;
    }
};

struct ResnetBlockImpl : torch::nn::Module {
    explicit ResnetBlockImpl(int dim);
    torch::Tensor forward(const torch::Tensor& x) { return x + conv_block->forward(x); }
    torch::nn::Sequential conv_block{nullptr};
};
TORCH_MODULE(ResnetBlock);

struct GeneratorImpl : torch::nn::Module {
    explicit GeneratorImpl(const GeneratorConfig& cfg = {});
    /// cond [B,cond_nc,H,W] in [0,1] (frames oldest first, [nmfc, eyes, shape] per frame, RGB order),
    /// prev [B,prev_nc,H,W] in [-1,1] (previous outputs oldest first; zeros at a segment start),
    /// mask [B,1,H,W] in {0,1} (aligned face mask of the current frame). Returns [B,3,H,W] in [-1,1] with
    /// exactly -1 where mask == 0. H and W must be multiples of 2^n_downsample.
    torch::Tensor forward(const torch::Tensor& cond, const torch::Tensor& prev, const torch::Tensor& mask);
    /// The network before the mask: tanh output [B,3,H,W].
    torch::Tensor forward_unmasked(const torch::Tensor& cond, const torch::Tensor& prev);

    GeneratorConfig cfg;
    torch::nn::Sequential model_down_seg{nullptr}, model_down_img{nullptr}, model_res_img{nullptr},
        model_up_img{nullptr}, model_final_img{nullptr};
};
TORCH_MODULE(Generator);

/// Discriminator sizes (image D and mouth D). Defaults are NED's.
struct DiscriminatorConfig {
    int input_nc = 12;  ///< [nmfc, eyes, shape] of the current frame + RGB
    int ndf = 64;
    int n_layers = 3;
    int num_D = 2;
    bool operator==(const DiscriminatorConfig& o) const {
        return input_nc == o.input_nc && ndf == o.ndf && n_layers == o.n_layers && num_D == o.num_D;
    }
};

/// Per scale (full resolution first, as NED returns them) the n_layers + 2 layer outputs; the last one is
/// the patch prediction, the others are the features used by feature matching.
using DiscriminatorOutput = std::vector<std::vector<torch::Tensor>>;

struct MultiscaleDiscriminatorImpl : torch::nn::Module {
    explicit MultiscaleDiscriminatorImpl(const DiscriminatorConfig& cfg = {});
    /// x [B,input_nc,H,W]: conditioning in [0,1] then the image in [-1,1].
    DiscriminatorOutput forward(const torch::Tensor& x);

    DiscriminatorConfig cfg;
    /// layers[i][j] = NED's scale{i}_layer{j}
    std::vector<std::vector<torch::nn::Sequential>> layers;
};
TORCH_MODULE(MultiscaleDiscriminator);

/// NED's weights_init: every (transposed) convolution weight ~ N(0, 0.02); biases keep PyTorch's default.
void init_weights(torch::nn::Module& module);

/// Number of parameters (elements) of a module.
int64_t parameter_count(const torch::nn::Module& module);
/// Parameters of a generator of this size, computed from the layer shapes without building it.
int64_t generator_parameter_count(const GeneratorConfig& cfg);

}  // namespace ned::renderer
