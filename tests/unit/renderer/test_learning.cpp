// The renderer learns (issue 23): `ned train-renderer`'s training step (train_window: NED's G loss of LSGAN and
// discriminator feature matching, the D and mouth-D steps, Adam) on a tiny renderer and synthetic frames whose
// target image is a fixed function of their conditioning; after a few seconds of steps the generator renders
// frames it never saw clearly closer to their targets than it did untrained. Torch-only (NED_NETS_ONLY layer).
#include <gtest/gtest.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <vector>

#include "ned/dist/dist.hpp"
#include "ned/renderer/networks.hpp"
#include "renderer/train_step.hpp"

using namespace ned;
using namespace ned::renderer;
using namespace ned::renderer::train_detail;

namespace {

constexpr int S = 64;

/// A synthetic frame: the face mask is a disc; inside it two rectangles of random places and sizes (drawn from
/// `gen`; the second over the first). The conditioning tells the regions apart: NMFC channels = [first rectangle's
/// visible part, second rectangle, face mask], shape image = the same, eyes image empty. The target ("real") paints
/// every region in its own fixed colour (the actor's appearance), -1 outside the mask (as the aligned faces, zero
/// outside the mask). Instance norm keeps where the regions are, so the generator can learn the map.
FrameData synthetic_frame(torch::Generator& gen) {
    const auto yy = torch::arange(S, torch::kFloat).view({S, 1}).expand({S, S});
    const auto xx = torch::arange(S, torch::kFloat).view({1, S}).expand({S, S});
    const auto mask = ((yy - S / 2).pow(2) + (xx - S / 2).pow(2) < (S / 2 - 2) * (S / 2 - 2)).to(torch::kFloat);
    torch::Tensor rect[2];
    for (auto& r : rect) {
        const auto p = torch::rand({4}, gen);
        const float x0 = 6 + p[0].item<float>() * 30, y0 = 6 + p[1].item<float>() * 30;
        const float w = 14 + p[2].item<float>() * 16, h = 14 + p[3].item<float>() * 16;
        r = ((xx >= x0) & (xx < x0 + w) & (yy >= y0) & (yy < y0 + h)).to(torch::kFloat) * mask;
    }
    const auto r0 = rect[0] * (1 - rect[1]), r1 = rect[1], bg = mask - r0 - r1;
    const auto nmfc = torch::stack({r0, r1, mask});
    FrameData f;
    f.cond = torch::cat({nmfc, torch::zeros({3, S, S}), nmfc});  // [9,S,S] in [0,1]
    auto colour = [](float b, float g, float r) { return torch::tensor({b, g, r}).view({3, 1, 1}); };
    f.real =
        colour(-0.2f, 0.5f, -0.6f) * bg + colour(0.8f, -0.7f, 0.3f) * r0 + colour(-0.8f, -0.2f, 0.9f) * r1 - (1 - mask);
    f.mask = mask.unsqueeze(0);
    f.mouth = {S / 2, S * 2 / 3};
    return f;
}

/// A clip of 3 frames (two of history, one generated: one window as at a clip start in train_renderer).
std::vector<FrameData> synthetic_clip(torch::Generator& gen) {
    std::vector<FrameData> c;
    for (int t = 0; t < 3; ++t) c.push_back(synthetic_frame(gen));
    return c;
}

/// Mean |fake - real| inside the masks over the generated frame of every clip, the previous outputs zero (a clip
/// start), as train_renderer's validation measures the held-out frames.
double masked_l1(Generator& G, const std::vector<std::vector<FrameData>>& clips) {
    torch::NoGradGuard ng;
    double sum = 0, n = 0;
    for (const auto& c : clips) {
        const auto cond = torch::cat({c[0].cond, c[1].cond, c[2].cond}).unsqueeze(0);
        const auto fake = G->forward(cond, torch::zeros({1, 6, S, S}), c[2].mask.unsqueeze(0))[0];
        const auto m = c[2].mask.expand_as(fake) > 0.5;
        sum += (fake - c[2].real).abs().masked_select(m).sum().item<double>();
        n += m.sum().item<double>();
    }
    return sum / n;
}

}  // namespace

// G: ngf 8, 2 downsamplings, 2 ResNet blocks; D and mouth D: ndf 8; no VGG (train-renderer --no-vgg); 64x64;
// Adam with NED's betas at lr 1e-3; 120 steps of 2 clips drawn in turn from 24 training clips; 16 held-out clips
// drawn from another stream. Untrained (NED's init: weights ~ N(0, 0.02), the output a tanh of small values, ~0
// inside the mask) the masked L1 is the mean |target| (~0.5). Two bounds, both properties of the learning, not of
// rounding (the GAN's path differs with the thread count and the CPU kernels; measured on 1 and 2 threads
// and under the AVX2 caps: held-out ratio 0.25-0.28 after 120 steps (~0.12-0.14 from step 50 on, the GAN's noise
// around it), ~5 s): held-out L1 below 0.5x the untrained one, and below 0.85x the L1 of the best image that
// ignores the conditioning (per pixel the median of the training targets: 0.226; measured ratio 0.56-0.61),
// so the generator renders what the conditioning says, not an average face.
TEST(RendererLearning, HeldOutLossFallsWellBelowTheUntrainedOne) {
    const auto t0 = std::chrono::steady_clock::now();
    torch::manual_seed(5);  // the weights (NED's init draws from torch's global generator)
    Trainer tr;
    DiscriminatorConfig dc;
    dc.ndf = 8;
    GeneratorConfig gc;
    gc.ngf = 8;
    gc.n_downsample = 2;
    gc.n_blocks = 2;
    tr.G = Generator(gc);
    init_weights(*tr.G);
    tr.D = MultiscaleDiscriminator(dc);
    init_weights(*tr.D);
    tr.Dm = MultiscaleDiscriminator(dc);
    init_weights(*tr.Dm);
    make_optimisers(tr, 1e-3);
    make_reducers(tr, dist::Context::single());

    auto train_gen = torch::make_generator<torch::CPUGeneratorImpl>(101);
    auto val_gen = torch::make_generator<torch::CPUGeneratorImpl>(202);
    std::vector<std::vector<FrameData>> train, held_out;
    for (int i = 0; i < 24; ++i) train.push_back(synthetic_clip(train_gen));
    for (int i = 0; i < 16; ++i) held_out.push_back(synthetic_clip(val_gen));

    const double untrained = masked_l1(tr.G, held_out), untrained_train = masked_l1(tr.G, train);
    const int steps = 120, B = 2;
    for (int s = 0; s < steps; ++s) {
        Clips c;
        c.length = 3;
        for (int b = 0; b < B; ++b) c.clips.push_back(train[(s * B + b) % train.size()]);
        torch::Tensor prev = torch::zeros({B, 6, S, S});
        const auto l = train_window(tr, c, 2, 1, prev, 1.0, S);
        for (int k = 0; k < kNumLosses; ++k) ASSERT_TRUE(std::isfinite(l[k])) << kLossNames[k] << " at step " << s;
        if ((s + 1) % 40 == 0) std::printf("step %d: held-out %.4f\n", s + 1, masked_l1(tr.G, held_out));
    }
    const double trained = masked_l1(tr.G, held_out), trained_train = masked_l1(tr.G, train);
    // a conditioning-blind renderer at its best: per pixel and channel the median of the training targets
    torch::Tensor blind;
    {
        std::vector<torch::Tensor> reals;
        for (const auto& c : train) reals.push_back(c[2].real);
        blind = std::get<0>(torch::stack(reals).median(0));
    }
    double blind_sum = 0, blind_n = 0;
    for (const auto& c : held_out) {
        const auto m = c[2].mask.expand_as(blind) > 0.5;
        blind_sum += (blind - c[2].real).abs().masked_select(m).sum().item<double>();
        blind_n += m.sum().item<double>();
    }
    const double blind_l1 = blind_sum / blind_n;
    std::printf("conditioning-blind median image: held-out %.4f\n", blind_l1);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("masked L1: held-out %.4f -> %.4f (ratio %.3f), training clips %.4f -> %.4f; %d steps, %.1f s\n",
                untrained, trained, trained / untrained, untrained_train, trained_train, steps, seconds);
    EXPECT_GT(untrained, 0.3) << "the untrained generator is not far from its targets";
    EXPECT_LT(trained, 0.5 * untrained) << "the renderer did not learn";
    EXPECT_LT(trained, 0.85 * blind_l1) << "no better than an image that ignores the conditioning";
}
