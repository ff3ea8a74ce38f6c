// Benchmark of the neural renderer's generator at NED's size (ngf 64, 9 blocks, 256x256, random weights
// with NED's init): forward per frame in fp32 and bf16 (and channels-last variants), and the PSNR between
// the fp32 and bf16 outputs inside the mask (the images `ned render` would write, 8-bit).
// Then one training step (a window of 4 generated frames at batch 1: G forwards, image D and mouth D on real
// and fake, VGG19 with random weights, G and D backward; no optimiser update) at NED's size and at ngf 16, in fp32
// and in mixed bf16 (float32 weights cast per convolution, as `train-renderer --precision bf16`).
// Usage: bench_renderer [threads=all] [reps=3] [size=256] [train=1]
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <thread>

#include "ned/core/torch_util.hpp"
#include "ned/renderer/losses.hpp"
#include "ned/renderer/networks.hpp"
#include "ned/renderer/render.hpp"

using namespace ned;
using namespace ned::renderer;
using clk = std::chrono::steady_clock;

namespace {

double psnr_u8(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& mask) {
    // the 8-bit images as NED's tensor2im makes them, compared inside the mask
    auto to8 = [](const torch::Tensor& x) { return ((x + 1) / 2 * 255).clamp(0, 255).floor(); };
    const auto m = mask.expand_as(a) > 0.5;
    const auto d = (to8(a) - to8(b)).masked_select(m);
    const double mse = d.pow(2).mean().item<double>();
    return mse == 0 ? INFINITY : 10 * std::log10(255.0 * 255.0 / mse);
}

// ct: the type of the forward and backward passes (float32 parameters; bf16 = `train-renderer --precision bf16`,
// casting as train_detail::window_losses does; the frozen VGG converted to ct)
// Returns wall seconds; *cpu gets the process's CPU seconds over the step (with 1 thread a load-independent
// measure on a shared machine).
double train_step_seconds(int ngf, int S, Vgg19Features& vgg, torch::ScalarType ct, double* cpu) {
    GeneratorConfig gc;
    gc.ngf = ngf;
    Generator g(gc);
    DiscriminatorConfig dc;
    dc.ndf = std::min(64, ngf);
    MultiscaleDiscriminator d(dc), dm(dc);
    const int W = 4;
    const auto t0 = clk::now();
    const std::clock_t c0 = std::clock();
    torch::Tensor prev = torch::zeros({1, 6, S, S});
    std::vector<torch::Tensor> fakes, reals, conds;
    for (int t = 0; t < W; ++t) {
        const auto cond = torch::rand({1, 27, S, S});
        const auto f =
            g->forward(cond.to(ct), prev.detach().to(ct), torch::ones({1, 1, S, S}).to(ct)).to(torch::kFloat);
        prev = torch::cat({prev.narrow(1, 3, 3), f.detach()}, 1);
        fakes.push_back(f);
        reals.push_back(torch::rand({1, 3, S, S}) * 2 - 1);
        conds.push_back(cond.narrow(1, 18, 9));
    }
    const auto fake = torch::cat(fakes), real = torch::cat(reals), cond = torch::cat(conds);
    const auto rab = torch::cat({cond, real}, 1).to(ct), fab = torch::cat({cond, fake}, 1).to(ct);
    const std::vector<std::pair<int, int>> mouths(W, {S / 2, S * 3 / 4});
    const int roi = mouth_roi_size(S);
    const auto pr = d->forward(rab), pf = d->forward(fab.detach()), pg = d->forward(fab);
    const auto mr = dm->forward(crop_roi(rab, mouths, roi)), mf = dm->forward(crop_roi(fab, mouths, roi).detach()),
               mg = dm->forward(crop_roi(fab, mouths, roi));
    const auto lg = lsgan_loss(pg, true) + feature_matching_loss(pg, pr, dc) + vgg_loss(vgg, fake, real) * 10.0 +
                    lsgan_loss(mg, true) + feature_matching_loss(mg, mr, dc);
    const auto ld =
        (lsgan_loss(pr, true) + lsgan_loss(pf, false)) * 0.5 + (lsgan_loss(mr, true) + lsgan_loss(mf, false)) * 0.5;
    lg.backward();
    ld.backward();
    *cpu = static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
    return std::chrono::duration<double>(clk::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
    const int threads = argc > 1 ? std::atoi(argv[1]) : 0;
    const int reps = argc > 2 ? std::atoi(argv[2]) : 3;
    const int S = argc > 3 ? std::atoi(argv[3]) : 256;
    const bool train = argc > 4 ? std::atoi(argv[4]) != 0 : true;
    set_torch_threads(threads);
    torch::manual_seed(0);
    Generator g;
    init_weights(*g);
    g->eval();
    const auto cond = torch::rand({1, 27, S, S});
    const auto prev = torch::rand({1, 6, S, S}) * 2 - 1;
    auto mask = torch::zeros({1, 1, S, S});
    mask.narrow(2, S / 8, 3 * S / 4).narrow(3, S / 8, 3 * S / 4).fill_(1);
    std::printf("generator %lld parameters, %dx%d, %d threads, %s\n", static_cast<long long>(parameter_count(*g)), S, S,
                threads > 0 ? threads : static_cast<int>(std::thread::hardware_concurrency()),
                torch::hasMKLDNN() ? "oneDNN available" : "no oneDNN");

    torch::NoGradGuard ng;
    torch::Tensor out32;
    double t32 = 0;
    for (auto dtype : {torch::kFloat, torch::kBFloat16}) {
        for (bool cl : {false, true}) {
            g->to(dtype);
            auto mf = cl ? torch::MemoryFormat::ChannelsLast : torch::MemoryFormat::Contiguous;
            for (auto& p : g->parameters())
                if (p.dim() == 4) p.set_data(p.contiguous(mf));
            const auto c = cond.to(dtype).contiguous(mf), pr = prev.to(dtype).contiguous(mf), m = mask.to(dtype);
            torch::Tensor out = g->forward(c, pr, m);  // warm-up
            double best = 1e30, sum = 0;
            for (int r = 0; r < reps; ++r) {
                const auto t0 = clk::now();
                out = g->forward(c, pr, m);
                const double s = std::chrono::duration<double>(clk::now() - t0).count();
                best = std::min(best, s);
                sum += s;
            }
            out = out.to(torch::kFloat).contiguous();
            const char* name = dtype == torch::kFloat ? "fp32" : "bf16";
            if (dtype == torch::kFloat && !cl) {
                out32 = out;
                t32 = best;
                std::printf("%s%s: best %.3f s/frame, mean %.3f s\n", name, cl ? " channels-last" : "", best,
                            sum / reps);
            } else {
                std::printf(
                    "%s%s: best %.3f s/frame, mean %.3f s, %.2fx fp32, PSNR vs fp32 (8-bit, in mask) %.1f dB, "
                    "max |diff| %.4f\n",
                    name, cl ? " channels-last" : "", best, sum / reps, t32 / best, psnr_u8(out, out32, mask),
                    (out - out32).abs().max().item<float>());
            }
        }
    }
    if (train) {
        torch::GradMode::set_enabled(true);
        for (int ngf : {16, 64})
            for (auto ct : {torch::kFloat, torch::kBFloat16}) {
                Vgg19Features vgg;
                for (auto& p : vgg->parameters()) p.set_requires_grad(false);
                vgg->to(ct);
                double cpu = 0;
                const double wall = train_step_seconds(ngf, S, vgg, ct, &cpu);
                std::printf(
                    "training step (window of 4 frames, batch 1, G+D+Dm+VGG forward and backward) ngf %d %s: "
                    "%.2f s wall, %.2f s CPU\n",
                    ngf, ct == torch::kFloat ? "fp32" : "bf16 mixed", wall, cpu);
            }
    }
    return 0;
}
