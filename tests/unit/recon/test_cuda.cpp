// DECA's encoders and detail decoder, and the landmark fit, on CUDA against the CPU. Skipped where LibTorch sees
// no GPU. (FLAME itself: Flame.CudaMatchesCpu in test_flame.cpp.)
//
// Bound: float32 (u = 2^-24), TF32 off for the comparison. A convolution's outputs are dot products of K terms,
// each with a worst-case relative error of K u; ResNet-50's longest path has 53 convolutions with K <= 4608
// (512 x 3 x 3), and eval-mode batch norm and ReLU do not amplify relative errors, so the codes agree within
// 53 * 4608 u = 0.0146 relative (norm-wise) in the worst case; the detail decoder (6 convolutions, K <= 1152 after
// a 181 -> 8192 linear layer) within (6 * 1152 + 181) u = 4.2e-4. A tensor left on the wrong device or a wrong
// kernel gives O(1).
#include <gtest/gtest.h>

#include <ATen/Context.h>

#include <cmath>
#include <cstdio>
#include <tuple>

#include "ned/recon/deca.hpp"
#include "support/no_tf32.hpp"

using namespace ned;
using namespace ned::recon;

namespace {
double rel(const torch::Tensor& got, const torch::Tensor& want) {
    const auto g = got.to(torch::kCPU, torch::kDouble), w = want.to(torch::kDouble);
    return ((g - w).norm() / w.norm().clamp_min(1e-30)).item<double>();
}
}  // namespace

TEST(DecaCuda, EncodeAndDecodeDetailMatchTheCpu) {
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
    test::NoTf32 exact;
    torch::manual_seed(3);
    DecaModel cpu;
    cpu.E_flame->eval();
    cpu.E_detail->eval();
    cpu.D_detail->eval();
    DecaModel gpu;  // the same weights, moved by the model's own to()
    {
        torch::NoGradGuard ng;
        auto copy = [](torch::nn::Module& dst, const torch::nn::Module& src) {
            auto d = dst.named_parameters(), s = src.named_parameters();
            for (auto& kv : d) kv.value().copy_(s[kv.key()]);
            auto db = dst.named_buffers(), sb = src.named_buffers();
            for (auto& kv : db) kv.value().copy_(sb[kv.key()]);
        };
        copy(*gpu.E_flame, *cpu.E_flame);
        copy(*gpu.E_detail, *cpu.E_detail);
        copy(*gpu.D_detail, *cpu.D_detail);
    }
    gpu.E_flame->eval();
    gpu.E_detail->eval();
    gpu.D_detail->eval();
    gpu.to(torch::kCUDA);
    const auto images = torch::rand({3, 3, kDecaImageSize, kDecaImageSize});
    const DecaCodes a = cpu.encode(images), b = gpu.encode(images);  // images on the CPU: encode moves them
    EXPECT_TRUE(b.exp.is_cuda());
    const double bound = 53 * 4608 * std::ldexp(1.0, -24);
    for (const auto& [name, x, y] : {std::make_tuple("shape", a.shape, b.shape), std::make_tuple("exp", a.exp, b.exp),
                                     std::make_tuple("pose", a.pose, b.pose), std::make_tuple("cam", a.cam, b.cam),
                                     std::make_tuple("detail", a.detail, b.detail)}) {
        const double r = rel(y, x);
        std::printf("%-6s rel diff %.3g (bound %.3g)\n", name, r, bound);
        EXPECT_LE(r, bound) << name;
    }
    torch::NoGradGuard ng;
    const auto da = cpu.decode_detail(a.detail, a.exp, a.pose.slice(1, 3, 6)),
               db = gpu.decode_detail(b.detail, b.exp, b.pose.slice(1, 3, 6));
    EXPECT_TRUE(db.is_cuda());
    EXPECT_LE(rel(db, da), bound + (6 * 1152 + 181) * std::ldexp(1.0, -24));
}
