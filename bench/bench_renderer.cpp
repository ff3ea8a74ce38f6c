// Benchmark of the neural renderer's generator at NED's size (ngf 64, 9 blocks, 256x256, random weights
// with NED's init): forward per frame in fp32 and bf16 (and channels-last variants), and the PSNR between
// the fp32 and bf16 outputs inside the mask (the images `ned render` would write, 8-bit).
// Usage: bench_renderer [threads=all] [reps=3] [size=256]
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "ned/core/torch_util.hpp"
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

}  // namespace

int main(int argc, char** argv) {
    const int threads = argc > 1 ? std::atoi(argv[1]) : 0;
    const int reps = argc > 2 ? std::atoi(argv[2]) : 3;
    const int S = argc > 3 ? std::atoi(argv[3]) : 256;
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
                std::printf("%s%s: best %.3f s/frame, mean %.3f s\n", name, cl ? " channels-last" : "", best, sum / reps);
            } else {
                std::printf("%s%s: best %.3f s/frame, mean %.3f s, %.2fx fp32, PSNR vs fp32 (8-bit, in mask) %.1f dB, "
                            "max |diff| %.4f\n",
                            name, cl ? " channels-last" : "", best, sum / reps, t32 / best, psnr_u8(out, out32, mask),
                            (out - out32).abs().max().item<float>());
            }
        }
    }
    return 0;
}
