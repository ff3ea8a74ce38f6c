// ned::training state helpers: rank 0's state on every rank, the divergence check, epoch names, checkpoints written
// together.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <limits>
#include <stdexcept>

#include "ned/core/error.hpp"
#include "ned/training/state.hpp"
#include "support/test_support.hpp"

using namespace ned;
namespace fs = std::filesystem;

TEST(TrainingState, EpochFileNames) {
    EXPECT_EQ(training::epoch_file(7, ".safetensors"), "epoch_07.safetensors");
    EXPECT_EQ(training::epoch_file(12, ".optim.safetensors"), "epoch_12.optim.safetensors");
    EXPECT_EQ(training::epoch_file(123, ".jpg"), "epoch_123.jpg");
}

TEST(TrainingState, FirstNonFiniteNamesTheWeightOrTheMoment) {
    torch::nn::Linear a(2, 2), b(2, 2);
    Adam oa(Adam::named_parameters(*a, "a."), 1e-3, 0.5, 0.999), ob(Adam::named_parameters(*b, "b."), 1e-3, 0.5, 0.999);
    EXPECT_EQ(training::first_non_finite({&oa, &ob}), "");
    {
        torch::NoGradGuard ng;
        b->bias[0] = std::numeric_limits<float>::quiet_NaN();
    }
    EXPECT_EQ(training::first_non_finite({&oa, &ob}), "weight b.bias");
    auto x = torch::ones({1, 2});
    a(x).sum().backward();
    oa.step();
    oa.exp_avg_sq()[0].fill_(std::numeric_limits<float>::infinity());
    EXPECT_EQ(training::first_non_finite({&oa, &ob}), "an Adam moment") << "a's moment comes before b's weight";
}

TEST(TrainingState, WriteTogetherRemovesEveryFileWhenOneFails) {
    test::TempDir dir;
    const fs::path a = dir / "a", b = dir / "b";
    EXPECT_THROW(training::write_together({a, b},
                                          [&] {
                                              std::ofstream(a) << "a";
                                              throw IoError("disk full");
                                          }),
                 IoError);
    EXPECT_FALSE(fs::exists(a));
    training::write_together({a, b}, [&] {
        std::ofstream(a) << "a";
        std::ofstream(b) << "b";
    });
    EXPECT_TRUE(fs::exists(a) && fs::exists(b));
}

TEST(TrainingState, SingleProcessJobKeepsItsState) {
    auto ctx = training::job(nullptr);
    ASSERT_TRUE(ctx);
    EXPECT_EQ(ctx->world(), 1);
    EXPECT_EQ(training::rank0_value(*ctx, 7), 7);
}

TEST(TrainingState, BroadcastGivesEveryRankRank0sWeightsMomentsStepsAndScalars) {
    const int port = test::free_port();
    dist::Options o;
    o.timeout = std::chrono::milliseconds(20000);
    auto rank_fn = [&](int rank) {
        dist::Env e;
        e.rank = rank;
        e.world = 2;
        e.source = "torchrun";
        e.master_port = port;
        auto ctx = dist::Context::create(e, o, torch::kCPU);
        torch::manual_seed(100 + rank);  // different weights per rank
        torch::nn::Linear lin(3, 2);
        torch::nn::BatchNorm1d bn(2);  // a buffer
        Adam opt(Adam::named_parameters(*lin), 1e-3, 0.5, 0.999);
        lin(torch::ones({1, 3})).sum().backward();
        for (int i = 0; i <= rank; ++i) opt.step();  // rank 0: 1 step, rank 1: 2 steps
        {
            torch::NoGradGuard ng;
            bn->running_mean.fill_(rank + 1.0);
        }
        std::vector<double> scalars{0.5 + rank, 7.0 * (rank + 1)};
        EXPECT_EQ(training::rank0_value(*ctx, rank == 0 ? 3 : 99), 3);
        training::broadcast_state(*ctx, {lin.get(), bn.get()}, {&opt}, scalars);
        std::vector<torch::Tensor> out = {lin->weight.detach().clone(), bn->running_mean.clone(),
                                          opt.exp_avg()[0].clone(),
                                          torch::tensor({static_cast<double>(opt.steps), scalars[0], scalars[1]})};
        ctx->barrier();
        return out;
    };
    auto f0 = std::async(std::launch::async, rank_fn, 0);
    auto f1 = std::async(std::launch::async, rank_fn, 1);
    const auto r0 = f0.get(), r1 = f1.get();
    for (size_t i = 0; i < r0.size(); ++i) EXPECT_TRUE(torch::equal(r0[i], r1[i])) << "tensor " << i;
    EXPECT_EQ(r1[1][0].item<float>(), 1.0f) << "rank 0's buffer";
    EXPECT_EQ(r1[3][0].item<double>(), 1.0) << "rank 0's step count";
    EXPECT_EQ(r1[3][1].item<double>(), 0.5);
    EXPECT_EQ(r1[3][2].item<double>(), 7.0);
}
