#pragma once
// A small renderer training set-up for the precision and CUDA tests (torch-only): the networks of one run and a
// batch of random clips. Seed torch first: the weights come from its global generator (NED's init).
#include <torch/torch.h>

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
    const auto disc = ((yy - S / 2).pow(2) + (xx - S / 2).pow(2) < (S / 2 - 4) * (S / 2 - 4)).to(torch::kFloat).unsqueeze(0);
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

}  // namespace ned::test
