// ned::dist on CUDA tensors: the overlapped gradient all-reduce (GradReducer) over NCCL, which runs its
// collectives on its own CUDA streams while the backward pass goes on, and over Gloo with GPU tensors. Two ranks
// run as two threads of this process. Skipped without the GPUs they need: NCCL refuses two ranks on one GPU,
// so its test needs two.
//
// Reference: the same two-rank reduction over Gloo on the CPU. The network is tiny (dot products of K <= 72
// terms) and TF32 is off, so the GPU's gradients differ from the CPU's by at most ~K u = 72 * 2^-24 = 4.3e-6
// relative per layer, 3 layers deep: 1.3e-5; the all-reduce of two ranks adds two floats (exact up to one
// rounding, the same on both). Bound 2e-5 relative, norm-wise per parameter.
#include <gtest/gtest.h>

#include <future>

#include "ned/dist/dist.hpp"
#include "support/no_tf32.hpp"
#include "support/test_support.hpp"

using namespace ned;
using namespace ned::dist;

namespace {

std::vector<torch::Tensor> reduced_grads(const std::string& backend, int rank, int port, const torch::Device& dev) {
    Env e;
    e.rank = rank;
    e.world = 2;
    e.source = "torchrun";
    e.master_port = port;
    Options o;
    o.backend = backend == "nccl" ? Backend::Nccl : Backend::Gloo;
    o.timeout = std::chrono::milliseconds(60000);
    o.bucket_bytes = 600;  // several buckets: launches overlap the backward pass
    auto ctx = Context::create(e, o, dev);
    EXPECT_EQ(ctx->backend(), backend);
    torch::manual_seed(3);
    torch::nn::Sequential net(torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 8, 3)), torch::nn::ReLU(),
                              torch::nn::Conv2d(torch::nn::Conv2dOptions(8, 8, 3)), torch::nn::ReLU(),
                              torch::nn::Flatten(), torch::nn::Linear(8 * 4 * 4, 5));
    net->to(dev);
    std::vector<torch::Tensor> params = net->parameters();
    torch::manual_seed(10 + rank);
    const auto x = torch::randn({2, 3, 8, 8}).to(dev), y = torch::randn({2, 5}).to(dev);
    GradReducer red(ctx, params);
    red.prepare(0.5);
    const auto l = (net->forward(x) - y).pow(2).mean();
    std::vector<double> scalars{l.item<double>()};
    l.backward();
    red.finish(&scalars);
    std::vector<torch::Tensor> out;
    for (auto& p : params) {
        EXPECT_EQ(p.grad().device(), dev) << "gradients stay on the parameters' device";
        out.push_back(p.grad().to(torch::kCPU).clone());
    }
    ctx->barrier();
    return out;
}

std::pair<std::vector<torch::Tensor>, std::vector<torch::Tensor>> two_ranks(const std::string& backend,
                                                                            const torch::Device& d0,
                                                                            const torch::Device& d1) {
    const int port = test::free_port();
    auto f1 = std::async(std::launch::async, [&] { return reduced_grads(backend, 1, port, d1); });
    auto r0 = reduced_grads(backend, 0, port, d0);
    return {r0, f1.get()};
}

void expect_close(const std::vector<torch::Tensor>& got, const std::vector<torch::Tensor>& want) {
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
        const double r = ((got[i].to(torch::kDouble) - want[i].to(torch::kDouble)).norm() /
                          want[i].to(torch::kDouble).norm().clamp_min(1e-30))
                             .item<double>();
        EXPECT_LE(r, 2e-5) << "parameter " << i;
    }
}

}  // namespace

TEST(DistCuda, GlooReducerOnGpuTensorsMatchesTheCpu) {
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
    test::NoTf32 exact;
    const auto cpu = two_ranks("gloo", torch::kCPU, torch::kCPU);
    const auto gpu = two_ranks("gloo", torch::Device(torch::kCUDA, 0), torch::Device(torch::kCUDA, 0));
    expect_close(gpu.first, cpu.first);
    expect_close(gpu.second, cpu.second);
}

TEST(DistCuda, NcclOverlappedReducerMatchesGlooOnTheCpu) {
    if (!torch::cuda::is_available() || torch::cuda::device_count() < 2)
        GTEST_SKIP() << "NCCL needs one GPU per rank: " << torch::cuda::device_count() << " visible, 2 needed";
    test::NoTf32 exact;
    const auto cpu = two_ranks("gloo", torch::kCPU, torch::kCPU);
    const auto gpu = two_ranks("nccl", torch::Device(torch::kCUDA, 0), torch::Device(torch::kCUDA, 1));
    expect_close(gpu.first, cpu.first);
    expect_close(gpu.second, cpu.second);
}
