// The shared Adam (ned/core/adam.hpp) against LibTorch's own torch::optim::Adam, and its saved state.
#include <gtest/gtest.h>

#include "ned/core/adam.hpp"
#include "ned/core/error.hpp"

using namespace ned;

namespace {
// a small least-squares problem whose gradient changes every step
torch::Tensor loss_of(const torch::Tensor& w, const torch::Tensor& b, int step) {
    torch::manual_seed(100 + step);
    const auto x = torch::randn({8, 5}), y = torch::randn({8, 3});
    return (torch::matmul(x, w) + b - y).pow(2).mean();
}
}  // namespace

// LibTorch 1.13's torch::optim::Adam does the same float operations in the same order (mul_, add_, addcmul_,
// sqrt / sqrt(bc2) + eps, addcdiv_), so the weights agree exactly, not merely within a tolerance.
TEST(Adam, MatchesLibTorchAdamExactly) {
    torch::manual_seed(1);
    auto w0 = torch::randn({5, 3}), b0 = torch::randn({3});
    auto w1 = w0.clone().requires_grad_(), b1 = b0.clone().requires_grad_();
    auto w2 = w0.clone().requires_grad_(), b2 = b0.clone().requires_grad_();
    Adam ours({{"w", w1}, {"b", b1}}, 2e-3, 0.5, 0.999);
    torch::optim::Adam ref(std::vector<torch::Tensor>{w2, b2},
                           torch::optim::AdamOptions(2e-3).betas({0.5, 0.999}).eps(1e-8));
    for (int s = 0; s < 20; ++s) {
        ours.zero_grad();
        loss_of(w1, b1, s).backward();
        ours.step();
        ref.zero_grad();
        loss_of(w2, b2, s).backward();
        ref.step();
    }
    EXPECT_TRUE(torch::equal(w1, w2));
    EXPECT_TRUE(torch::equal(b1, b2));
    EXPECT_EQ(ours.steps, 20);
    EXPECT_FALSE(torch::equal(w1, w0)) << "the weights moved";
}

TEST(Adam, SavedStateContinuesTheSameRun) {
    torch::manual_seed(2);
    auto w0 = torch::randn({5, 3}), b0 = torch::randn({3});
    auto wa = w0.clone().requires_grad_(), ba = b0.clone().requires_grad_();
    Adam a({{"w", wa}, {"b", ba}}, 1e-2, 0.0, 0.99);
    for (int s = 0; s < 10; ++s) {
        a.zero_grad();
        loss_of(wa, ba, s).backward();
        a.step();
        if (s == 4) {
            // save after 5 steps, continue in a fresh optimiser
            st::File f;
            a.save(f, "optim.");
            EXPECT_TRUE(f.has("optim.w.exp_avg") && f.has("optim.b.exp_avg_sq"));
            EXPECT_EQ(f.meta("optim.steps"), "5");
            auto wb = wa.detach().clone().requires_grad_(), bb = ba.detach().clone().requires_grad_();
            Adam b({{"w", wb}, {"b", bb}}, 0.5, 0.0, 0.99);
            b.load(f, "optim.");
            EXPECT_EQ(b.lr, 1e-2) << "the learning rate is restored exactly (hexadecimal float)";
            for (int t = 5; t < 10; ++t) {
                b.zero_grad();
                loss_of(wb, bb, t).backward();
                b.step();
            }
            for (int t = 5; t < 10; ++t) {
                a.zero_grad();
                loss_of(wa, ba, t).backward();
                a.step();
            }
            EXPECT_TRUE(torch::equal(wa, wb));
            EXPECT_TRUE(torch::equal(ba, bb));
            // a state without one of the tensors, or with another shape, is refused with its name
            st::File g = f;
            g.tensors.erase("optim.b.exp_avg");
            EXPECT_THROW(b.load(g, "optim."), InputError);
            auto wc = torch::zeros({4, 3}, torch::requires_grad());
            Adam c({{"w", wc}, {"b", bb}}, 1e-2, 0.0, 0.99);
            EXPECT_THROW(c.load(f, "optim."), InputError);
            return;
        }
    }
}

TEST(Adam, ParametersWithoutGradientStay) {
    auto p = torch::ones({3}, torch::requires_grad()), q = torch::ones({2}, torch::requires_grad());
    Adam a({{"p", p}, {"q", q}}, 0.1, 0.9, 0.999);
    (p * 2).sum().backward();
    a.step();
    EXPECT_TRUE(torch::equal(q, torch::ones({2})));
    // first step: m/(1-b1) = g, sqrt(v/(1-b2)) = |g|, so every element moves by lr (up to eps)
    EXPECT_NEAR(p[0].item<float>(), 1 - 0.1, 1e-6);
}
