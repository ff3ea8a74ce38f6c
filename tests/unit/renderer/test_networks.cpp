// NED's renderer networks: sizes, names, shapes, the constant-channel instance norm, masking.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include <set>

#include "ned/core/error.hpp"
#include "ned/renderer/networks.hpp"
#include "unit/renderer/synthetic_renderer.hpp"

using namespace ned::renderer;

namespace {

std::map<std::string, std::vector<int64_t>> shapes_of(const torch::nn::Module& m) {
    std::map<std::string, std::vector<int64_t>> out;
    for (const auto& p : m.named_parameters(true)) out[p.key()] = p.value().sizes().vec();
    return out;
}

}  // namespace

TEST(RendererNetworks, GeneratorAtNedSizeHas70834755Parameters) {
    EXPECT_EQ(generator_parameter_count(GeneratorConfig{}), 70834755);
    Generator g;  // builds the real module (~280 MB of float32)
    EXPECT_EQ(parameter_count(*g), 70834755);
    EXPECT_TRUE(g->buffers(true).empty()) << "no running statistics";
}

TEST(RendererNetworks, GeneratorNamesAndShapesAreNeds) {
    Generator g;
    const auto s = shapes_of(*g);
    // ned-reference §3.3 (state-dict names of renderer/models/networks.py::Generator)
    EXPECT_EQ(s.at("model_down_seg.1.weight"), (std::vector<int64_t>{64, 27, 7, 7}));
    EXPECT_EQ(s.at("model_down_seg.1.bias"), (std::vector<int64_t>{64}));
    EXPECT_EQ(s.at("model_down_seg.4.weight"), (std::vector<int64_t>{128, 64, 3, 3}));
    EXPECT_EQ(s.at("model_down_seg.7.weight"), (std::vector<int64_t>{256, 128, 3, 3}));
    EXPECT_EQ(s.at("model_down_seg.10.weight"), (std::vector<int64_t>{512, 256, 3, 3}));
    EXPECT_EQ(s.at("model_down_img.1.weight"), (std::vector<int64_t>{64, 6, 7, 7}));
    for (int b = 13; b <= 17; ++b)
        for (const char* net : {"model_down_seg.", "model_down_img."})
            for (int c : {1, 5}) {
                const std::string n = net + std::to_string(b) + ".conv_block." + std::to_string(c);
                EXPECT_EQ(s.at(n + ".weight"), (std::vector<int64_t>{512, 512, 3, 3})) << n;
                EXPECT_EQ(s.at(n + ".bias"), (std::vector<int64_t>{512})) << n;
            }
    for (int b = 0; b < 4; ++b)
        for (int c : {1, 5})
            EXPECT_EQ(s.at("model_res_img." + std::to_string(b) + ".conv_block." + std::to_string(c) + ".weight"),
                      (std::vector<int64_t>{512, 512, 3, 3}));
    EXPECT_EQ(s.at("model_up_img.0.weight"), (std::vector<int64_t>{512, 256, 3, 3}));  // ConvTranspose: [in,out,k,k]
    EXPECT_EQ(s.at("model_up_img.3.weight"), (std::vector<int64_t>{256, 128, 3, 3}));
    EXPECT_EQ(s.at("model_up_img.6.weight"), (std::vector<int64_t>{128, 64, 3, 3}));
    EXPECT_EQ(s.at("model_final_img.1.weight"), (std::vector<int64_t>{3, 64, 7, 7}));
    // 4 + 5x2 convolutions per encoder, 4x2 after the sum, 3 transposed, 1 final; weight + bias each
    EXPECT_EQ(s.size(), size_t{2 * (2 * 14 + 8 + 3 + 1)});
}

TEST(RendererNetworks, DiscriminatorNamesShapesAndFeatures) {
    MultiscaleDiscriminator d;
    const auto s = shapes_of(*d);
    const std::vector<std::vector<int64_t>> w = {
        {64, 12, 4, 4}, {128, 64, 4, 4}, {256, 128, 4, 4}, {512, 256, 4, 4}, {1, 512, 4, 4}};
    int64_t per_scale = 0;
    for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 5; ++j) {
            const std::string n = "scale" + std::to_string(i) + "_layer" + std::to_string(j) + ".0.";
            EXPECT_EQ(s.at(n + "weight"), w[j]) << n;
            EXPECT_EQ(s.at(n + "bias"), (std::vector<int64_t>{w[j][0]})) << n;
            if (i == 0) per_scale += w[j][0] * w[j][1] * 16 + w[j][0];
        }
    EXPECT_EQ(s.size(), size_t{20});
    EXPECT_EQ(parameter_count(*d), 2 * per_scale);
    EXPECT_EQ(per_scale, 2773953);

    // Small D (same layer structure) on a 72x72 mouth crop and a 64x64 image: 5 outputs per scale, full
    // resolution first; spatial sizes follow Conv4 p2 (s2, s2, s2, s1, s1).
    DiscriminatorConfig c;
    c.ndf = 4;
    MultiscaleDiscriminator small(c);
    const auto out = small->forward(torch::rand({2, 12, 72, 72}));
    ASSERT_EQ(out.size(), size_t{2});
    const std::vector<int64_t> full = {37, 19, 10, 11, 12}, half = {19, 10, 6, 7, 8};
    for (int j = 0; j < 5; ++j) {
        EXPECT_EQ(out[0][j].size(2), full[j]) << j;
        EXPECT_EQ(out[1][j].size(2), half[j]) << j;
    }
    EXPECT_EQ(out[0][4].size(1), 1);
    EXPECT_EQ(out[0][3].size(1), 32);
}

TEST(RendererNetworks, InstanceNormOfAConstantChannelIsExactlyZero) {
    // Values that are not exactly representable as sums: the naive mean of 65536 copies is not the value.
    for (auto dtype : {torch::kFloat, torch::kDouble, torch::kBFloat16}) {
        auto x = torch::randn({2, 5, 64, 64}, torch::TensorOptions().dtype(dtype));
        x[0][1].fill_(0.1234567);
        x[1][3].fill_(-37.77);
        x[1][4].fill_(0.0);
        const auto y = instance_norm(x).to(torch::kDouble);
        EXPECT_EQ(y[0][1].abs().max().item<double>(), 0.0) << dtype;
        EXPECT_EQ(y[1][3].abs().max().item<double>(), 0.0) << dtype;
        EXPECT_EQ(y[1][4].abs().max().item<double>(), 0.0) << dtype;
        EXPECT_GT(y[0][0].abs().max().item<double>(), 0.5) << dtype;
    }
}

TEST(RendererNetworks, InstanceNormMatchesTheDefinition) {
    auto x = (torch::randn({2, 3, 16, 16}, torch::kDouble) * 3 + 5).requires_grad_(true);
    const auto y = instance_norm(x);
    const auto mean = x.mean({2, 3}, true);
    const auto var = (x - mean).pow(2).mean({2, 3}, true);
    const auto ref = (x - mean) / torch::sqrt(var + 1e-5);
    EXPECT_LT((y - ref).abs().max().item<double>(), 1e-12);
    // gradients agree too (training uses the same function)
    const auto w = torch::randn_like(x);
    const auto g1 = torch::autograd::grad({(y * w).sum()}, {x})[0];
    const auto g2 = torch::autograd::grad({(ref * w).sum()}, {x})[0];
    EXPECT_LT((g1 - g2).abs().max().item<double>(), 1e-10);
    // float32: within float rounding of the double result
    const auto yf = instance_norm(x.detach().to(torch::kFloat)).to(torch::kDouble);
    EXPECT_LT((yf - ref.detach()).abs().max().item<double>(), 1e-5);
}

TEST(RendererNetworks, ZeroPreviousOutputsGiveExactlyZeroFeatures) {
    // First frame of a segment: the previous-output branch sees zeros; with the exact instance norm its
    // features are exactly 0 whatever its weights, so the output does not depend on that branch.
    torch::NoGradGuard ng;
    torch::manual_seed(3);
    Generator g(ned::test::small_generator_config());
    const auto prev = torch::zeros({1, 6, 32, 32});
    EXPECT_EQ(g->model_down_img->forward(prev).abs().max().item<float>(), 0.f);
    const auto cond = torch::rand({1, 27, 32, 32});
    const auto mask = torch::ones({1, 1, 32, 32});
    const auto a = g->forward(cond, prev, mask);
    for (auto& p : g->model_down_img->parameters()) p.normal_(0, 1);
    const auto b = g->forward(cond, prev, mask);
    EXPECT_TRUE(torch::equal(a, b));
}

TEST(RendererNetworks, OutputIsMinusOneOutsideTheMask) {
    torch::NoGradGuard ng;
    torch::manual_seed(4);
    Generator g(ned::test::small_generator_config());
    init_weights(*g);
    auto mask = torch::zeros({2, 1, 32, 32});
    mask.narrow(2, 8, 16).narrow(3, 4, 20).fill_(1);
    const auto out = g->forward(torch::rand({2, 27, 32, 32}), torch::rand({2, 6, 32, 32}) * 2 - 1, mask);
    EXPECT_EQ(out.sizes(), (std::vector<int64_t>{2, 3, 32, 32}));
    const auto bg = out.masked_select((mask == 0).expand_as(out));
    EXPECT_TRUE(torch::all(bg == -1).item<bool>());
    EXPECT_LE(out.abs().max().item<float>(), 1.f);
    const auto fg = out.masked_select((mask == 1).expand_as(out));
    EXPECT_GT((fg + 1).abs().max().item<float>(), 0.f);  // the face itself is generated
}

TEST(RendererNetworks, SmallSizesFollowNedsBlockSplit) {
    GeneratorConfig c = ned::test::small_generator_config();
    for (int n : {0, 1, 2, 3, 9}) {
        c.n_blocks = n;
        c.n_downsample = n % 2 ? 2 : 3;
        Generator g(c);
        EXPECT_EQ(parameter_count(*g), generator_parameter_count(c)) << n;
        EXPECT_EQ(static_cast<int>(g->model_res_img->size()), n / 2);
        EXPECT_EQ(static_cast<int>(g->model_down_seg->size()), 4 + 3 * c.n_downsample + n - n / 2);
        torch::NoGradGuard ng;
        EXPECT_EQ(
            g->forward(torch::rand({1, 27, 16, 16}), torch::zeros({1, 6, 16, 16}), torch::ones({1, 1, 16, 16})).size(1),
            3);
    }
    c.ngf = 0;
    EXPECT_THROW(Generator{c}, ned::Error);
}

TEST(RendererNetworks, ReflectionPadWorksInBfloat16) {
    const auto x = torch::randn({2, 3, 9, 7});
    for (int64_t p : {1, 3}) {
        const auto want = torch::reflection_pad2d(x, {p, p, p, p});
        EXPECT_TRUE(torch::equal(reflection_pad(x, p), want));
        EXPECT_TRUE(torch::equal(reflection_pad(x.to(torch::kBFloat16), p), want.to(torch::kBFloat16)));
    }
}

TEST(RendererNetworks, Bfloat16ForwardStaysCloseToFloat32) {
    torch::NoGradGuard ng;
    torch::manual_seed(5);
    Generator g(ned::test::small_generator_config());
    init_weights(*g);
    const auto cond = torch::rand({1, 27, 32, 32}), prev = torch::rand({1, 6, 32, 32}) * 2 - 1;
    auto mask = torch::zeros({1, 1, 32, 32});
    mask.narrow(2, 4, 24).narrow(3, 4, 24).fill_(1);
    const auto a = g->forward(cond, prev, mask);
    g->to(torch::kBFloat16);
    const auto b =
        g->forward(cond.to(torch::kBFloat16), prev.to(torch::kBFloat16), mask.to(torch::kBFloat16)).to(torch::kFloat);
    // Bound from the arithmetic (as in test_mixed_precision.cpp): bf16 keeps 8 significant bits (u = 2^-8); a
    // convolution in bf16 rounds its input, its weights and its output (3u; the products are summed in float32
    // by oneDNN, and by ATen's fallback where the CPU has no native bf16), instance norm runs in float32, and
    // along a path of n normalised or bounded layers the error grows at most linearly: 3 n u, norm-wise. The
    // longest path of this generator (ngf 4, 3 downsamplings, 3 blocks) has n = 1 + 3 + 2*2 + 2 + 3 + 1 = 14
    // convolutions. (A single pixel may move more: the max is printed, not bounded.) The background stays -1.
    const double u = std::ldexp(1.0, -8), bound = 3 * 14 * u;
    const double rel = ((b - a).to(torch::kDouble).norm() / a.to(torch::kDouble).norm()).item<double>();
    std::printf("bf16 vs fp32 generator output: rel %.3g (bound %.3g), max |diff| %.3g\n", rel, bound,
                (a - b).abs().max().item<double>());
    EXPECT_LE(rel, bound);
    EXPECT_GT(rel, 0.0) << "identical: the bf16 path did not run";
    EXPECT_TRUE(torch::all(b.masked_select((mask == 0).expand_as(b)) == -1).item<bool>());
}

TEST(RendererNetworks, TransposedConvolutionByPhasesEqualsTorchs) {
    torch::NoGradGuard ng;
    auto ct =
        torch::nn::ConvTranspose2d(torch::nn::ConvTranspose2dOptions(6, 4, 3).stride(2).padding(1).output_padding(1));
    const auto x = torch::randn({2, 6, 5, 7}, torch::kDouble);
    ct->to(torch::kDouble);
    const auto want = ct->forward(x);
    const auto got = conv_transpose_s2(x, ct->weight, ct->bias);
    ASSERT_EQ(got.sizes(), want.sizes());
    EXPECT_LT((got - want).abs().max().item<double>(), 1e-12);
    // the generator's layer keeps ConvTranspose2d's parameter names and runs bf16 through the phases
    UpConv up(6, 4);
    EXPECT_EQ(up->named_parameters().size(), size_t{2});
    EXPECT_TRUE(up->named_parameters().contains("weight"));
    const auto xf = torch::randn({1, 6, 8, 8});
    const auto f32 = up->forward(xf);
    up->to(torch::kBFloat16);
    const auto b16 = up->forward(xf.to(torch::kBFloat16)).to(torch::kFloat);
    EXPECT_LT((f32 - b16).abs().max().item<float>(), 0.05f);
}
