// The emotion manipulator on CUDA against the CPU (label and reference modes, through manip::manipulate, so
// every tensor the stage moves goes to the GPU). Skipped where LibTorch sees no GPU.
//
// Bound: float32 keeps 24 bits (u = 2^-24). TF32 is switched off for the comparison (cuDNN's LSTM and cuBLAS
// would otherwise round their products to 10 bits). Each LSTM step's gates are dot products of K <= 2 * 32
// terms here (input + hidden, hidden 32), each with a worst-case relative error of K u; over T = 10 steps and the
// style MLP (4 layers of at most 16 terms) errors add at most linearly: 10 * 64 u + 4 * 16 u ~ 4e-5 relative.
// Outputs are compared norm-wise with 1e-4, which also covers the different summation order of the GPU's
// reductions; a missing device move or a wrong kernel gives an O(1) difference.
#include <gtest/gtest.h>

#include <ATen/Context.h>

#include <cmath>

#include "ned/manip/manipulate.hpp"
#include "ned/manip/networks.hpp"
#include "support/no_tf32.hpp"
#include "synth.hpp"

using namespace ned;
using namespace ned::manip;

namespace {

Nets seeded_nets() {
    torch::manual_seed(5);
    Nets n(NetConfig{32, 16, 16});
    n.he_init();
    return n;
}

double rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
    double num = 0, den = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
        den += double(b[i]) * b[i];
    }
    return std::sqrt(num / std::max(den, 1e-30));
}

}  // namespace

TEST(ManipCuda, LabelAndReferenceModesMatchTheCpu) {
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
    test::NoTf32 exact;
    const auto in = test::synth_recon(40, {}, 1);
    const auto ref = test::synth_recon(30, {}, 2);
    for (int mode = 0; mode < 2; ++mode) {
        ManipulateOptions o;
        if (mode == 0) o.emotions = {"happy", "sad"};
        if (mode == 1) o.reference = &ref;
        o.intensity = 0.7;  // also runs the source's own style through E
        auto cpu_nets = seeded_nets(), gpu_nets = seeded_nets();
        o.device = "cpu";
        const auto a = manipulate(in, cpu_nets, o);
        o.device = "cuda";
        const auto b = manipulate(in, gpu_nets, o);
        EXPECT_TRUE(gpu_nets.generator->parameters()[0].is_cuda()) << "the stage moved the networks to the GPU";
        const double d = rel_diff(b.at("exp").values, a.at("exp").values);
        std::printf("mode %d: exp rel diff CUDA vs CPU %.3g\n", mode, d);
        EXPECT_LE(d, 1e-4);
        EXPECT_EQ(a.at("exp").values.size(), b.at("exp").values.size());
    }
}
