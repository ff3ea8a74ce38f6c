#pragma once
// A small renderer training set-up for the precision and CUDA tests (torch-only): the networks of one run and a
// batch of random clips. Seed torch first: the weights come from its global generator (NED's init).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "ned/renderer/losses.hpp"
#include "ned/renderer/networks.hpp"
#include "renderer/train_step.hpp"

namespace ned::test {

/// ngf 8, 2 downsamplings, 2 blocks: 10 convolutions on the generator's longest path.
inline renderer::GeneratorConfig small_trainer_generator() {
    renderer::GeneratorConfig gc;
    gc.ngf = 8;
    gc.n_downsample = 2;
    gc.n_blocks = 2;
    return gc;
}

/// G (small_trainer_generator), D and mouth D (ndf 8) with NED's init, and a frozen VGG19 with random weights, on
/// the CPU in float32; no optimisers or reducers.
inline renderer::train_detail::Trainer small_trainer() {
    renderer::DiscriminatorConfig dc;
    dc.ndf = 8;
    renderer::train_detail::Trainer tr;
    tr.G = renderer::Generator(small_trainer_generator());
    renderer::init_weights(*tr.G);
    tr.D = renderer::MultiscaleDiscriminator(dc);
    renderer::init_weights(*tr.D);
    tr.Dm = renderer::MultiscaleDiscriminator(dc);
    renderer::init_weights(*tr.Dm);
    tr.vgg = renderer::Vgg19Features();
    for (auto& p : tr.vgg->parameters()) p.set_requires_grad(false);
    return tr;
}

/// B clips of 3 frames of S x S random conditioning and real images, a disc mask, the mouth near the centre.
inline renderer::train_detail::Clips random_clips(int B, int S) {
    renderer::train_detail::Clips c;
    c.length = 3;
    const auto yy = torch::arange(S).view({S, 1}).expand({S, S}), xx = torch::arange(S).view({1, S}).expand({S, S});
    const auto disc =
        ((yy - S / 2).pow(2) + (xx - S / 2).pow(2) < (S / 2 - 4) * (S / 2 - 4)).to(torch::kFloat).unsqueeze(0);
    for (int b = 0; b < B; ++b) {
        std::vector<renderer::train_detail::FrameData> clip;
        for (int t = 0; t < 3; ++t) {
            renderer::train_detail::FrameData f;
            f.cond = torch::rand({9, S, S});
            f.real = torch::rand({3, S, S}) * 2 - 1;
            f.mask = disc.clone();
            f.mouth = {S / 2 + b, S * 2 / 3};
            clip.push_back(f);
        }
        c.clips.push_back(clip);
    }
    return c;
}

/// The loss terms of one window (frames [2, 3) of every clip) and the gradients of the G loss w.r.t. G and of the
/// D loss w.r.t. D and Dm, on the CPU in the parameters' type (float32 master weights: not converted, so callers
/// can check it). `scale` multiplies the losses before the backward pass (fp16: keeps small gradients from
/// underflowing, as the loss scaler does) and is divided out again. Checks that the losses are float32.
struct WindowGrads {
    std::vector<double> terms;
    std::vector<torch::Tensor> g, d;
};
inline WindowGrads window_grads(renderer::train_detail::Trainer& tr, const renderer::train_detail::Clips& c,
                                const torch::Tensor& prev0, int S, double scale = 1.0) {
    torch::Tensor prev = prev0.clone().to(tr.device);
    const renderer::train_detail::WindowLosses w = renderer::train_detail::window_losses(tr, c, 2, 1, prev, S);
    WindowGrads out;
    for (const auto& t : w.terms) {
        EXPECT_EQ(t.scalar_type(), torch::kFloat) << "losses are reduced in float32";
        out.terms.push_back(t.item<double>());
    }
    std::vector<torch::Tensor> gp = tr.G->parameters(), dp = tr.D->parameters();
    for (auto& p : tr.Dm->parameters()) dp.push_back(p);
    for (auto& g : torch::autograd::grad({w.loss_g * scale}, gp, {}, /*retain_graph=*/true))
        out.g.push_back(g.to(torch::kCPU) / scale);
    for (auto& g : torch::autograd::grad({w.loss_d * scale}, dp)) out.d.push_back(g.to(torch::kCPU) / scale);
    return out;
}

/// || a - b || / || b || over all tensors together; checks that `a` is float32 (the master weights' gradients).
inline double rel_error(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
    double num = 0, den = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        EXPECT_EQ(a[i].scalar_type(), torch::kFloat) << "gradients land in float32 on the master weights";
        num += (a[i].to(torch::kDouble) - b[i].to(torch::kDouble)).pow(2).sum().item<double>();
        den += b[i].to(torch::kDouble).pow(2).sum().item<double>();
    }
    return std::sqrt(num / den);
}

}  // namespace ned::test
