// Mixed-precision training of the renderer (`train-renderer --precision bf16`, issue 11): float32 master weights,
// the forward and backward passes of G, D, Dm and VGG in bfloat16 (weights cast per operation), losses reduced in
// float32; and the dynamic loss scale used with fp16 on CUDA.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "ned/renderer/losses.hpp"
#include "ned/renderer/networks.hpp"
#include "renderer/train_step.hpp"
#include "unit/renderer/small_trainer.hpp"

using namespace ned;
using namespace ned::renderer;
using namespace ned::renderer::train_detail;

namespace {

using test::rel_error;
using test::window_grads;

}  // namespace

// A small renderer (ngf 8, 2 downsamplings, 2 blocks: 10 convolutions on G's longest path), D and Dm (ndf 8: 5
// convolutions), and a randomly initialised VGG19 (13 convolutions, 3 pools), on two clips of 64x64 random
// conditioning, one generated frame. The same weights and inputs run once in float32 and once in bfloat16.
//
// Bound: bfloat16 keeps 8 significant bits, so every rounding has a relative error of at most u = 2^-8. A
// convolution in bf16 rounds its input, its weights and its output (3u, the products are summed in float32);
// instance norm, the losses and the optimiser run in float32. The error of a chain of n such layers, each
// normalised (instance norm) or bounded (ReLU, tanh), grows at most linearly: 3nu to first order. The longest
// forward path to a loss is G then VGG (10 + 13 = 23 convolutions): loss terms within 3 * 23 * u = 0.27
// relative; the backward pass goes through the same layers again (twice the path): gradients within
// 6 * 23 * u = 0.54 relative (norm-wise over all parameters). These are worst-case bounds; the measured errors
// are printed. The test also requires a difference (the bf16 path really ran) and float32 gradients.
TEST(RendererMixedPrecision, Bf16WindowLossesAndGradientsAgreeWithFp32WithinBf16Rounding) {
    torch::manual_seed(11);
    const int S = 64, B = 2;
    Trainer tr = test::small_trainer();
    const Clips c = test::random_clips(B, S);
    const torch::Tensor prev = torch::rand({B, 6, S, S}) * 2 - 1;

    tr.compute = torch::kFloat;
    const test::WindowGrads ref = window_grads(tr, c, prev, S);
    tr.compute = torch::kBFloat16;
    tr.vgg->to(torch::kBFloat16);  // frozen: converted once (train_renderer does the same)
    const test::WindowGrads bf = window_grads(tr, c, prev, S);

    const double u = std::ldexp(1.0, -8);
    const int path = 10 + 13;
    double worst_term = 0;
    for (size_t k = 0; k < ref.terms.size(); ++k) {
        const double rel = std::abs(bf.terms[k] - ref.terms[k]) / std::max(std::abs(ref.terms[k]), 1e-12);
        std::printf("%-12s fp32 %.6f  bf16 %.6f  rel %.2e\n", kLossNames[k], ref.terms[k], bf.terms[k], rel);
        EXPECT_LE(rel, 3 * path * u) << kLossNames[k];
        worst_term = std::max(worst_term, rel);
    }
    const double eg = rel_error(bf.g, ref.g), ed = rel_error(bf.d, ref.d);
    std::printf("gradients: G rel %.3e, D+Dm rel %.3e (bounds %.3f); worst loss term rel %.2e (bound %.3f)\n", eg, ed,
                6 * path * u, worst_term, 3 * path * u);
    EXPECT_LE(eg, 6 * path * u);
    EXPECT_LE(ed, 6 * path * u);
    EXPECT_GT(eg, 0.0) << "identical gradients: the bf16 path did not run";
    EXPECT_GT(worst_term, 0.0);
    for (const auto& p : tr.G->parameters()) EXPECT_EQ(p.scalar_type(), torch::kFloat) << "master weights stay float32";
}

// The dynamic loss scale of fp16 training (torch.cuda.amp.GradScaler's rules): gradients are divided by the
// scale; a step with an inf or NaN gradient is skipped and halves the scale; `growth_interval` finite steps in
// a row double it.
TEST(RendererMixedPrecision, DynamicLossScaleSkipsInfHalvesAndGrows) {
    LossScaler s;
    s.enabled = true;
    s.scale = 1024;
    s.growth_interval = 3;
    auto p = torch::zeros({3}, torch::requires_grad());
    p.mutable_grad() = torch::full({3}, 2048.0f);
    EXPECT_TRUE(s.unscale({p}));
    EXPECT_TRUE(torch::equal(p.grad(), torch::full({3}, 2.0f)));
    s.update(true);
    s.update(true);
    EXPECT_EQ(s.scale, 1024);
    s.update(true);
    EXPECT_EQ(s.scale, 2048) << "3 good steps double the scale";
    p.mutable_grad() = torch::tensor({1.0f, INFINITY, 0.0f});
    EXPECT_FALSE(s.unscale({p}));
    s.update(false);
    EXPECT_EQ(s.scale, 1024) << "an overflow halves it";
    p.mutable_grad() = torch::tensor({1.0f, NAN, 0.0f});
    EXPECT_FALSE(s.unscale({p}));
    s.update(false);
    EXPECT_EQ(s.scale, 512);
    s.update(true);
    s.update(true);
    EXPECT_EQ(s.scale, 512) << "the good-step count restarts after an overflow";
    LossScaler off;  // bf16 and fp32: no scaling
    p.mutable_grad() = torch::tensor({1.0f, INFINITY, 0.0f});
    EXPECT_EQ(off.factor(), 1.0);
    EXPECT_TRUE(off.unscale({p})) << "disabled: no check (the loss check stops a diverged run)";
}
