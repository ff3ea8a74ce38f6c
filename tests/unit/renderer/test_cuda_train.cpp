// One whole training window (train_window: G step, D step, optimisers, fp16 loss scale) on CUDA in fp32, bf16 and
// fp16 (label "gpu": the names hold "Cuda"; skipped without a GPU): finite losses that agree with float32 within
// bf16 rounding, float32 master weights that move. test_cuda.cpp compares the networks and gradients themselves.
#include <gtest/gtest.h>

#include <ATen/Context.h>

#include <cmath>
#include <cstdio>

#include "ned/core/adam.hpp"
#include "ned/dist/dist.hpp"
#include "ned/renderer/losses.hpp"
#include "ned/renderer/networks.hpp"
#include "renderer/train_step.hpp"
#include "support/no_tf32.hpp"

using namespace ned;
using namespace ned::renderer;
using namespace ned::renderer::train_detail;

namespace {

GeneratorConfig small_config() {
    GeneratorConfig gc;
    gc.ngf = 8;
    gc.n_downsample = 2;
    gc.n_blocks = 2;
    return gc;
}

}  // namespace

// One training window of a small renderer (ngf/ndf 8, 64x64, VGG19 with random weights) on CUDA in each precision:
// the loss terms of bf16 and fp16 agree with float32 within the bf16 bound of test_mixed_precision.cpp (fp16 keeps 11
// significant bits, more than bf16's 8), and train_window (G step, D step, fp16 loss scale) keeps everything finite.
TEST(RendererCuda, TrainWindowInFp32Bf16AndFp16) {
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
    test::NoTf32 exact;
    const torch::Device cuda(torch::kCUDA, 0);
    const int S = 64, W = 2;
    torch::manual_seed(13);
    Clips c;
    c.length = W + 2;
    std::vector<FrameData> clip;
    for (size_t t = 0; t < c.length; ++t) {
        FrameData f;
        f.cond = torch::rand({9, S, S});
        f.real = torch::rand({3, S, S}) * 2 - 1;
        f.mask = torch::zeros({1, S, S});
        f.mask.narrow(1, 6, S - 12).narrow(2, 6, S - 12).fill_(1);
        f.mouth = {S / 2, S * 2 / 3};
        clip.push_back(f);
    }
    c.clips.push_back(clip);
    std::vector<double> ref;
    for (auto ct : {torch::kFloat, torch::kBFloat16, torch::kHalf}) {
        const char* name = ct == torch::kFloat ? "fp32" : ct == torch::kHalf ? "fp16" : "bf16";
        torch::manual_seed(17);  // the same weights in every precision
        Trainer tr;
        tr.device = cuda;
        tr.compute = ct;
        tr.scaleG.enabled = tr.scaleD.enabled = ct == torch::kHalf;
        DiscriminatorConfig dc;
        dc.ndf = 8;
        tr.G = Generator(small_config());
        init_weights(*tr.G);
        tr.D = MultiscaleDiscriminator(dc);
        init_weights(*tr.D);
        tr.Dm = MultiscaleDiscriminator(dc);
        init_weights(*tr.Dm);
        tr.vgg = Vgg19Features();
        for (auto& p : tr.vgg->parameters()) p.set_requires_grad(false);
        for (torch::nn::Module* m :
             {static_cast<torch::nn::Module*>(tr.G.get()), static_cast<torch::nn::Module*>(tr.D.get()),
              static_cast<torch::nn::Module*>(tr.Dm.get()), static_cast<torch::nn::Module*>(tr.vgg.get())})
            m->to(cuda);
        if (ct != torch::kFloat) tr.vgg->to(ct);
        make_optimisers(tr, 2e-4);
        make_reducers(tr, dist::Context::single());

        std::vector<double> terms;
        {
            torch::Tensor prev = torch::zeros({1, 6, S, S}, torch::TensorOptions().device(cuda));
            const WindowLosses w = window_losses(tr, c, 2, W, prev, S);
            for (const auto& t : w.terms) {
                EXPECT_EQ(t.scalar_type(), torch::kFloat) << name;
                terms.push_back(t.item<double>());
            }
        }
        if (ct == torch::kFloat) {
            ref = terms;
        } else {
            const double bound = 3 * (10 + 13) * std::ldexp(1.0, -8);  // as the bf16 test on the CPU
            for (int k = 0; k < kNumLosses; ++k) {
                const double rel = std::abs(terms[k] - ref[k]) / std::max(std::abs(ref[k]), 1e-12);
                EXPECT_LE(rel, bound) << name << " " << kLossNames[k] << ": " << terms[k] << " vs " << ref[k];
            }
        }
        const auto before = tr.G->parameters()[0].detach().clone();
        torch::Tensor prev = torch::zeros({1, 6, S, S}, torch::TensorOptions().device(cuda));
        const auto l = train_window(tr, c, 2, W, prev, 1.0, S);
        for (int k = 0; k < kNumLosses; ++k) EXPECT_TRUE(std::isfinite(l[k])) << name << " " << kLossNames[k];
        EXPECT_FALSE(torch::equal(before, tr.G->parameters()[0].detach())) << name << ": G took no step";
        for (const auto& p : tr.G->parameters()) {
            EXPECT_EQ(p.scalar_type(), torch::kFloat) << name << ": master weights stay float32";
            EXPECT_TRUE(torch::isfinite(p).all().item<bool>()) << name;
        }
        if (ct == torch::kHalf) EXPECT_EQ(tr.scaleG.scale, 65536.0) << "no overflow at the initial scale";
        std::printf("%s: G_GAN %.4f G_VGG %.4f D_real %.4f\n", name, l[0], l[2], l[5]);
    }
}
