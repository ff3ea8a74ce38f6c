// Benchmark of the emotion manipulator with NED's full-size networks (random weights):
//   training iterations/s at batch 64 (2 D steps + 2 G steps, as train_manipulator does) and
//   `manipulate` frames/s on a 300-frame reconstruction (label mode).
// Usage: bench_manip [threads=2] [train_iters=3] [frames=300]
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "ned/core/torch_util.hpp"
#include "ned/manip/manipulate.hpp"
#include "ned/manip/train.hpp"

using namespace ned;
using namespace ned::manip;
using clk = std::chrono::steady_clock;

int main(int argc, char** argv) {
    const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
    const int iters = argc > 2 ? std::atoi(argv[2]) : 3;
    const int frames = argc > 3 ? std::atoi(argv[3]) : 300;
    set_torch_threads(threads);
    torch::manual_seed(0);
    Nets nets;
    nets.he_init();

    // ---- reference point: one G forward at batch 64 (reference doc: 124-170 ms on a quiet host) ----
    const int B = 64;
    {
        torch::NoGradGuard ng;
        auto x = torch::randn({B, 10, 51}) * 0.3, s = torch::randn({B, 16});
        nets.generator->forward(x, s);
        double gbest = 1e30;
        for (int rep = 0; rep < 3; ++rep) {
            const auto t0 = clk::now();
            nets.generator->forward(x, s);
            gbest = std::min(gbest, std::chrono::duration<double>(clk::now() - t0).count());
        }
        std::printf("G forward, batch %d: best %.3f s\n", B, gbest);
    }

    // ---- training iteration, batch 64 ----
    auto adam = [](torch::nn::Module& m) {
        return torch::optim::Adam(m.parameters(), torch::optim::AdamOptions(1e-4).betas({0.0, 0.99}));
    };
    auto og = adam(*nets.generator), od = adam(*nets.discriminator), oe = adam(*nets.style_encoder),
         om = adam(*nets.mapping_network);
    auto x_real = torch::randn({B, 10, 51}) * 0.3, x_ref = torch::randn({B, 10, 51}) * 0.3;
    auto y_org = torch::randint(0, 7, {B}, torch::kLong), y_trg = torch::randint(0, 7, {B}, torch::kLong);
    auto zero = [&] {
        og.zero_grad();
        od.zero_grad();
        oe.zero_grad();
        om.zero_grad();
    };
    double best = 1e30, total = 0;
    for (int it = 0; it <= iters; ++it) {
        const auto t0 = clk::now();
        auto z = torch::randn({B, 4});
        const torch::Tensor none;
        auto dl = d_loss(nets, x_real, y_org, y_trg, z, none);
        zero();
        dl.total.backward();
        od.step();
        auto dr = d_loss(nets, x_real, y_org, y_trg, none, x_ref);
        zero();
        dr.total.backward();
        od.step();
        auto gl = g_loss(nets, {}, x_real, y_org, y_trg, z, none);
        zero();
        gl.total.backward();
        og.step();
        om.step();
        oe.step();
        auto gr = g_loss(nets, {}, x_real, y_org, y_trg, none, x_ref);
        zero();
        gr.total.backward();
        og.step();
        const double s = std::chrono::duration<double>(clk::now() - t0).count();
        if (it > 0) {  // first iteration is warm-up
            best = std::min(best, s);
            total += s;
        }
    }
    std::printf("train: threads %d, batch %d: mean %.3f s/iter (%.3f it/s), best %.3f s/iter\n", threads, B,
                total / iters, iters / total, best);

    // ---- manipulate ----
    recon::Reconstruction r;
    r.fps = "30/1";
    r.valid.assign(frames, 1);
    auto& exp = r.ensure("exp");
    auto& pose = r.ensure("pose");
    for (int t = 0; t < frames; ++t) {
        for (int k = 0; k < 50; ++k) exp.row(t)[k] = 0.1f * std::sin(0.1f * t + k);
        pose.row(t)[3] = 0.1f + 0.05f * std::sin(0.3f * t);
    }
    ManipulateOptions mo;
    mo.emotions = {"happy"};
    manipulate(r, nets, mo);  // warm-up
    double mbest = 1e30;
    for (int rep = 0; rep < 3; ++rep) {
        const auto t0 = clk::now();
        manipulate(r, nets, mo);
        mbest = std::min(mbest, std::chrono::duration<double>(clk::now() - t0).count());
    }
    std::printf("manipulate: threads %d, %d frames: best %.3f s (%.0f frames/s)\n", threads, frames, mbest,
                frames / mbest);
    mo.intensity = 0.5;  // also computes the source style (E over all windows + geometric median)
    const auto t0 = clk::now();
    manipulate(r, nets, mo);
    const double si = std::chrono::duration<double>(clk::now() - t0).count();
    std::printf("manipulate --intensity 0.5: %.3f s (%.0f frames/s)\n", si, frames / si);
    return 0;
}
