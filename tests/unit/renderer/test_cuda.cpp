// The neural renderer on CUDA against the CPU: the generator in fp32, bf16 and fp16, and the gradients of one
// training window (G, D, mouth D, VGG; forward and backward) in fp32, bf16 and fp16 with float32 master weights,
// and the fp16 loss scale on GPU gradients. Skipped where LibTorch sees no GPU. (test_cuda_train.cpp runs the
// whole train_window step.)
//
// Bounds (the argument of test_mixed_precision.cpp): a convolution in a reduced type rounds its input, weights
// and output, 3u per layer with u = 2^-8 (bf16) or 2^-11 (fp16), the products summed in float32; instance norm,
// losses and optimiser in float32; errors grow at most linearly along a path of n convolutions. The generator
// here has n = 1 + 2 + 2 + 2 + 2 + 1 = 10 on its longest path, a window's loss goes through G then VGG
// (10 + 13 = 23) and its gradients through twice that. fp32 on the GPU (TF32 off) differs from the CPU by
// summation order only: n K u with K <= 576 and u = 2^-24, ~3.4e-4 over 10 layers; bound 1e-3.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "ned/renderer/losses.hpp"
#include "ned/renderer/networks.hpp"
#include "renderer/train_step.hpp"
#include "support/no_tf32.hpp"
#include "unit/renderer/small_trainer.hpp"

using namespace ned;
using namespace ned::renderer;
using namespace ned::renderer::train_detail;

namespace {

double rel(const torch::Tensor& got, const torch::Tensor& want) {
    const auto g = got.to(torch::kCPU, torch::kDouble), w = want.to(torch::kCPU, torch::kDouble);
    return ((g - w).norm() / w.norm().clamp_min(1e-30)).item<double>();
}

using test::rel_error;
using test::window_grads;

}  // namespace

TEST(RendererCuda, GeneratorInFp32Bf16AndFp16MatchesTheCpu) {
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
    test::NoTf32 exact;
    torch::NoGradGuard ng;
    torch::manual_seed(5);
    Generator g(test::small_trainer_generator());
    init_weights(*g);
    const auto cond = torch::rand({2, 27, 64, 64}), prev = torch::rand({2, 6, 64, 64}) * 2 - 1;
    auto mask = torch::zeros({2, 1, 64, 64});
    mask.narrow(2, 8, 48).narrow(3, 8, 48).fill_(1);
    const auto want = g->forward(cond, prev, mask);
    const torch::Device cuda(torch::kCUDA);
    struct Case {
        torch::ScalarType t;
        double bound;
        const char* name;
    };
    for (const Case& c :
         {Case{torch::kFloat, 1e-3, "fp32"}, Case{torch::kBFloat16, 3 * 10 * std::ldexp(1.0, -8), "bf16"},
          Case{torch::kHalf, 3 * 10 * std::ldexp(1.0, -11), "fp16"}}) {
        g->to(cuda, c.t);
        const auto got = g->forward(cond.to(cuda, c.t), prev.to(cuda, c.t), mask.to(cuda, c.t));
        EXPECT_TRUE(got.is_cuda());
        EXPECT_EQ(got.scalar_type(), c.t);
        const double r = rel(got, want);
        std::printf("generator %s on CUDA vs fp32 CPU: rel %.3g (bound %.3g)\n", c.name, r, c.bound);
        EXPECT_LE(r, c.bound) << c.name;
        EXPECT_GT(r, 0.0) << c.name << ": identical to the CPU (did it run on the GPU?)";
        EXPECT_TRUE(
            torch::all(got.to(torch::kCPU, torch::kFloat).masked_select(mask.expand_as(want) == 0) == -1).item<bool>())
            << c.name << ": the background stays -1";
        g->to(torch::kCPU, torch::kFloat);
    }
}

TEST(RendererCuda, WindowGradientsInFp32Bf16AndFp16MatchTheCpu) {
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
    test::NoTf32 exact;
    torch::manual_seed(11);
    const int S = 64, B = 2;
    Trainer tr = test::small_trainer();
    const Clips c = test::random_clips(B, S);
    const torch::Tensor prev = torch::rand({B, 6, S, S}) * 2 - 1;
    tr.compute = torch::kFloat;
    const test::WindowGrads ref = window_grads(tr, c, prev, S, 1.0);  // fp32 on the CPU

    const torch::Device cuda(torch::kCUDA);
    tr.device = cuda;
    tr.G->to(cuda);
    tr.D->to(cuda);
    tr.Dm->to(cuda);
    struct Case {
        torch::ScalarType t;
        double u, scale;
        const char* name;
    };
    const int path = 10 + 13;
    for (const Case& k : {Case{torch::kFloat, 0, 1, "fp32"}, Case{torch::kBFloat16, std::ldexp(1.0, -8), 1, "bf16"},
                          Case{torch::kHalf, std::ldexp(1.0, -11), 1024, "fp16"}}) {
        tr.compute = k.t;
        tr.vgg->to(cuda, k.t);  // frozen: converted once, as train_renderer does
        const test::WindowGrads got = window_grads(tr, c, prev, S, k.scale);
        const double term_bound = k.u > 0 ? 3 * path * k.u : 1e-3, grad_bound = k.u > 0 ? 6 * path * k.u : 1e-3;
        double worst = 0;
        for (size_t i = 0; i < ref.terms.size(); ++i)
            worst = std::max(worst, std::abs(got.terms[i] - ref.terms[i]) / std::max(std::abs(ref.terms[i]), 1e-12));
        const double eg = rel_error(got.g, ref.g), ed = rel_error(got.d, ref.d);
        std::printf(
            "window %s on CUDA vs fp32 CPU: loss terms rel %.3g (bound %.3g), grads G %.3g D %.3g (bound %.3g)\n",
            k.name, worst, term_bound, eg, ed, grad_bound);
        EXPECT_LE(worst, term_bound) << k.name;
        EXPECT_LE(eg, grad_bound) << k.name;
        EXPECT_LE(ed, grad_bound) << k.name;
        for (const auto& p : tr.G->parameters())
            EXPECT_EQ(p.scalar_type(), torch::kFloat) << "master weights stay float32";
    }
}

TEST(RendererCuda, LossScaleFindsOverflowInGpuGradients) {
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
    LossScaler s;
    s.enabled = true;
    s.scale = 1024;
    auto p = torch::zeros({3}, torch::TensorOptions().device(torch::kCUDA).requires_grad(true));
    p.mutable_grad() = torch::full({3}, 2048.0f, torch::TensorOptions().device(torch::kCUDA));
    EXPECT_TRUE(s.unscale({p}));
    EXPECT_TRUE(torch::equal(p.grad().cpu(), torch::full({3}, 2.0f)));
    p.mutable_grad() = torch::tensor({1.0f, INFINITY, 0.0f}).to(torch::kCUDA);
    EXPECT_FALSE(s.unscale({p}));
    s.update(false);
    EXPECT_EQ(s.scale, 512);
}
