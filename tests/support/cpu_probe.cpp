// ned_cpu_probe: prints which CPU kernels LibTorch uses here, for scripts/test_capped.sh. It runs one float32
// convolution large enough for oneDNN, one SGEMM through the BLAS and one bf16 convolution, so that with
// ONEDNN_VERBOSE=1 / MKL_VERBOSE=1 set the libraries print the instruction set they dispatched to; the script
// checks those lines against the caps it set (ATEN_CPU_CAPABILITY, ONEDNN_MAX_CPU_ISA, MKL_ENABLE_INSTRUCTIONS).
#include <torch/torch.h>

#include <cstdio>

#include "ned/core/cpu_features.hpp"

int main() {
    torch::NoGradGuard ng;
    const auto& f = ned::cpu::features();
    std::printf("cpu %s\n", f.model.c_str());
    std::printf("extensions %s\n", ned::cpu::extensions_string(f).c_str());
    std::printf("aten_capability %s\n", ned::cpu::aten_capability().c_str());
    std::printf("onednn_cap %s\n", ned::cpu::onednn_isa_cap().empty() ? "none" : ned::cpu::onednn_isa_cap().c_str());
    std::printf("native_bf16 %d\n", ned::cpu::native_bf16() ? 1 : 0);
    std::fflush(stdout);
    const auto x = torch::randn({1, 64, 64, 64}), w = torch::randn({64, 64, 3, 3});
    const auto y = torch::conv2d(x, w);
    const auto a = torch::randn({256, 256});
    const auto m = torch::mm(a, a);
    const auto yb = torch::conv2d(x.to(torch::kBFloat16), w.to(torch::kBFloat16));
    std::printf("checksum %.3f %.3f %.3f\n", y.sum().item<double>(), m.sum().item<double>(),
                yb.to(torch::kFloat).sum().item<double>());
    return 0;
}
