// ned::dist: rendezvous from the environment, and the collectives of two ranks run as two threads of this
// process over Gloo on 127.0.0.1.
#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "ned/core/error.hpp"
#include "ned/dist/dist.hpp"
#include "support/test_support.hpp"

using namespace ned;
using namespace ned::dist;

using ned::test::free_port;

TEST(DistEnv, TorchrunSlurmAndSingle) {
    std::map<std::string, std::string> none;
    Env e = detect_env(none);
    EXPECT_FALSE(e.distributed());
    EXPECT_EQ(e.source, "single");

    std::map<std::string, std::string> tr = {
        {"RANK", "3"}, {"WORLD_SIZE", "8"}, {"LOCAL_RANK", "1"}, {"MASTER_ADDR", "10.1.2.3"}, {"MASTER_PORT", "29999"}};
    e = detect_env(tr);
    EXPECT_EQ(e.source, "torchrun");
    EXPECT_EQ(e.rank, 3);
    EXPECT_EQ(e.world, 8);
    EXPECT_EQ(e.local_rank, 1);
    EXPECT_EQ(e.master_addr, "10.1.2.3");
    EXPECT_EQ(e.master_port, 29999);

    std::map<std::string, std::string> sl = {{"SLURM_PROCID", "5"},
                                             {"SLURM_NTASKS", "8"},
                                             {"SLURM_LOCALID", "1"},
                                             {"SLURM_JOB_NODELIST", "gpu[03-04,09],login1"}};
    e = detect_env(sl);
    EXPECT_EQ(e.source, "slurm");
    EXPECT_EQ(e.rank, 5);
    EXPECT_EQ(e.world, 8);
    EXPECT_EQ(e.local_rank, 1);
    EXPECT_EQ(e.master_addr, "gpu03");
    EXPECT_EQ(e.master_port, 29500);
    // torchrun variables win over Slurm's (torchrun inside an allocation)
    tr.insert(sl.begin(), sl.end());
    EXPECT_EQ(detect_env(tr).source, "torchrun");

    std::map<std::string, std::string> bad = {{"RANK", "2"}, {"WORLD_SIZE", "2"}};
    EXPECT_THROW(detect_env(bad), InputError);
    bad = {{"RANK", "x"}, {"WORLD_SIZE", "2"}};
    EXPECT_THROW(detect_env(bad), InputError);
    std::map<std::string, std::string> one = {{"SLURM_NTASKS", "1"}, {"SLURM_PROCID", "0"}};
    EXPECT_FALSE(detect_env(one).distributed());
}

TEST(DistEnv, FirstHostOfSlurmNodeLists) {
    EXPECT_EQ(first_host("node7"), "node7");
    EXPECT_EQ(first_host("a,b,c"), "a");
    EXPECT_EQ(first_host("gpu[03-05,09]"), "gpu03");
    EXPECT_EQ(first_host("rack[1-2]-n[5-6],x"), "rack1-n[5-6]");  // only the first bracket is expanded
    EXPECT_EQ(first_host("n[12]"), "n12");
    EXPECT_THROW(first_host("n[1-2"), InputError);
}

TEST(DistGloo, TwoRanksBroadcastAverageAndSum) {
    const int port = free_port();
    Options o;
    o.timeout = std::chrono::milliseconds(20000);
    o.bucket_bytes = 16;  // several buckets
    auto rank_fn = [&](int rank) {
        Env e;
        e.rank = rank;
        e.world = 2;
        e.source = "torchrun";
        e.master_port = port;
        auto ctx = Context::create(e, o, torch::kCPU);
        EXPECT_EQ(ctx->backend(), "gloo");
        // broadcast: rank 0's values everywhere
        auto w = torch::full({3}, static_cast<float>(rank + 10));
        ctx->broadcast({w});
        // gradients: rank r has grad r+1 -> mean 1.5; a parameter without a gradient stays so
        auto p = torch::zeros({5}, torch::requires_grad());
        auto q = torch::zeros({2}, torch::requires_grad());
        auto none = torch::zeros({4}, torch::requires_grad());
        ((p * static_cast<float>(rank + 1)).sum() + (q * static_cast<float>(2 * rank)).sum()).backward();
        std::vector<double> scalars{static_cast<double>(rank), 7.0};
        ctx->average_gradients({p, none, q}, &scalars);
        const double s = ctx->sum(rank + 1.0);
        ctx->barrier();
        return std::make_tuple(w, p.grad().clone(), q.grad().clone(), none.grad().defined(), scalars, s);
    };
    auto f1 = std::async(std::launch::async, rank_fn, 1);
    auto r0 = rank_fn(0);
    auto r1 = f1.get();
    for (const auto& r : {r0, r1}) {
        EXPECT_TRUE(torch::equal(std::get<0>(r), torch::full({3}, 10.f)));
        EXPECT_TRUE(torch::allclose(std::get<1>(r), torch::full({5}, 1.5f)));
        EXPECT_TRUE(torch::allclose(std::get<2>(r), torch::full({2}, 1.0f)));
        EXPECT_FALSE(std::get<3>(r));
        EXPECT_DOUBLE_EQ(std::get<4>(r)[0], 0.5);
        EXPECT_DOUBLE_EQ(std::get<4>(r)[1], 7.0);
        EXPECT_DOUBLE_EQ(std::get<5>(r), 3.0);
    }
}

TEST(DistGloo, RendezvousTimesOutWithAClearMessage) {
    Env e;
    e.rank = 0;
    e.world = 2;  // the second rank never comes
    e.source = "torchrun";
    e.master_port = free_port();
    Options o;
    o.timeout = std::chrono::milliseconds(1500);
    const auto t0 = std::chrono::steady_clock::now();
    try {
        Context::create(e, o, torch::kCPU);
        ADD_FAILURE() << "rendezvous without the other rank succeeded";
    } catch (const Error& err) {
        const std::string m = err.what();
        EXPECT_NE(m.find("rendezvous"), std::string::npos) << m;
        EXPECT_NE(m.find("127.0.0.1"), std::string::npos) << m;
    }
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 30.0);
}

// GradReducer (all-reduce overlapping the backward pass) against average_gradients (after the backward pass)
// on a small network whose two ranks see different data, with buckets of a few parameters, weights 1/2 each
// and, in a second step, weights 1 and 0 for a rank without data (no backward pass at all).
// With two ranks the all-reduce adds two floats (a + b == b + a exactly) and the weights are powers of two,
// so both ways give bit-identical gradients: the test compares exactly.
TEST(DistGloo, OverlappedReducerEqualsAverageAfterBackward) {
    const int port = free_port();
    Options o;
    o.timeout = std::chrono::milliseconds(20000);
    o.bucket_bytes = 600;  // several buckets, several parameters in some
    auto rank_fn = [&](int rank) {
        Env e;
        e.rank = rank;
        e.world = 2;
        e.source = "torchrun";
        e.master_port = port;
        auto ctx = Context::create(e, o, torch::kCPU);
        torch::manual_seed(3);  // the same network on both ranks
        torch::nn::Sequential net(torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 8, 3)), torch::nn::ReLU(),
                                  torch::nn::Conv2d(torch::nn::Conv2dOptions(8, 8, 3)), torch::nn::ReLU(),
                                  torch::nn::Flatten(), torch::nn::Linear(8 * 4 * 4, 5));
        auto unused = torch::zeros({7}, torch::requires_grad());  // gets no gradient: counts as zero
        std::vector<torch::Tensor> params = net->parameters();
        params.push_back(unused);
        torch::manual_seed(10 + rank);  // each rank its own data
        const auto x = torch::randn({2, 3, 8, 8}), y = torch::randn({2, 5});
        auto loss = [&] { return (net->forward(x) - y).pow(2).mean() + (net->forward(x * 0.5).sum() * 1e-3); };
        // reference: backward, then average
        for (auto& p : params) p.mutable_grad() = torch::Tensor();
        loss().backward();
        ctx->average_gradients(params);
        std::vector<torch::Tensor> ref;
        for (auto& p : params) ref.push_back(p.grad().defined() ? p.grad().clone() : torch::zeros_like(p));
        // overlapped
        GradReducer red(ctx, params);
        EXPECT_GE(red.buckets(), 3u);
        for (auto& p : params) p.mutable_grad() = torch::Tensor();
        red.prepare(0.5);
        const auto l = loss();
        std::vector<double> scalars{l.item<double>()};
        l.backward();
        red.finish(&scalars);
        std::vector<torch::Tensor> got;
        for (auto& p : params) got.push_back(p.grad().clone());
        // second step: rank 1 has no data this time
        for (auto& p : params) p.mutable_grad().zero_();
        red.prepare(rank == 0 ? 1.0 : 0.0);
        if (rank == 0) loss().backward();
        red.finish();
        std::vector<torch::Tensor> solo;
        for (auto& p : params) solo.push_back(p.grad().clone());
        // rank 0's own gradient of this step, for comparison
        std::vector<torch::Tensor> own;
        if (rank == 0) {
            for (auto& p : params) p.mutable_grad() = torch::Tensor();
            loss().backward();
            for (auto& p : params) own.push_back(p.grad().defined() ? p.grad().clone() : torch::zeros_like(p));
        }
        const double s = ctx->sum(scalars[0]);  // both ranks hold the same averaged loss
        return std::make_tuple(ref, got, solo, own, scalars[0], s, l.item<double>());
    };
    auto f1 = std::async(std::launch::async, rank_fn, 1);
    auto r0 = rank_fn(0);
    auto r1 = f1.get();
    const auto& own0 = std::get<3>(r0);
    for (const auto& r : {r0, r1}) {
        const auto &ref = std::get<0>(r), &got = std::get<1>(r), &solo = std::get<2>(r);
        ASSERT_EQ(ref.size(), got.size());
        for (size_t i = 0; i < ref.size(); ++i) {
            EXPECT_TRUE(torch::equal(ref[i], got[i])) << "parameter " << i;
            EXPECT_TRUE(torch::equal(solo[i], own0[i])) << "parameter " << i << ": weight 1 on rank 0, 0 on rank 1";
        }
        EXPECT_TRUE(torch::equal(got.back(), torch::zeros({7}))) << "a parameter without gradients gets zeros";
        EXPECT_DOUBLE_EQ(std::get<5>(r), 2 * std::get<4>(r));
        EXPECT_DOUBLE_EQ(std::get<4>(r), 0.5 * std::get<6>(r0) + 0.5 * std::get<6>(r1));
    }
    EXPECT_FALSE(torch::equal(std::get<1>(r0)[0] * 2, own0[0])) << "the ranks' data differ";
}

// With one process the reducer installs no hooks and only applies the weight.
TEST(DistGloo, ReducerOfASingleProcessScales) {
    auto p = torch::ones({3}, torch::requires_grad());
    GradReducer red(Context::single(), {p});
    red.prepare(0.25);
    (p * 4).sum().backward();
    std::vector<double> s{8.0};
    red.finish(&s);
    EXPECT_TRUE(torch::equal(p.grad(), torch::ones({3})));
    EXPECT_DOUBLE_EQ(s[0], 2.0);
}

// The reducer's counters: with every parameter getting a gradient, every bucket's all-reduce starts inside the
// backward pass (none is left for finish()); a backward pass while the reducer is not prepared (another step's,
// e.g. a G step reaching D's parameters) is ignored and counted, and does not change the next step's sums; two
// backward passes in one step are an error (the second gradient would be lost), reported after the collectives.
TEST(DistGloo, ReducerLaunchesDuringBackwardAndIgnoresOtherSteps) {
    const int port = free_port();
    Options o;
    o.timeout = std::chrono::milliseconds(20000);
    o.bucket_bytes = 100;  // 3 buckets of 2 parameters
    auto rank_fn = [&](int rank) {
        Env e;
        e.rank = rank;
        e.world = 2;
        e.source = "torchrun";
        e.master_port = port;
        auto ctx = Context::create(e, o, torch::kCPU);
        torch::manual_seed(4);
        torch::nn::Sequential net(torch::nn::Linear(6, 8), torch::nn::Tanh(), torch::nn::Linear(8, 8),
                                  torch::nn::Tanh(), torch::nn::Linear(8, 3));
        const auto params = net->parameters();
        torch::manual_seed(20 + rank);
        const auto x = torch::randn({4, 6});
        auto loss = [&] { return net->forward(x).pow(2).mean(); };
        GradReducer red(ctx, params);
        const size_t nb = red.buckets();
        // a backward pass outside any step: ignored
        loss().backward();
        const auto st0 = red.stats();
        // a step
        for (auto& p : params) p.mutable_grad() = torch::Tensor();
        red.prepare(0.5);
        loss().backward();
        red.finish();
        const auto st1 = red.stats();
        std::vector<torch::Tensor> got;
        for (auto& p : params) got.push_back(p.grad().clone());
        // the same gradients averaged after the backward pass
        for (auto& p : params) p.mutable_grad() = torch::Tensor();
        loss().backward();  // ignored by the reducer again
        ctx->average_gradients(params);
        std::vector<torch::Tensor> ref;
        for (auto& p : params) ref.push_back(p.grad().clone());
        // two backward passes in one step
        red.prepare(0.5);
        loss().backward();
        loss().backward();
        std::string error;
        try {
            red.finish();
        } catch (const std::exception& ex) {
            error = ex.what();
        }
        return std::make_tuple(nb, st0, st1, red.stats(), got, ref, error);
    };
    auto f1 = std::async(std::launch::async, rank_fn, 1);
    auto r0 = rank_fn(0);
    auto r1 = f1.get();
    for (const auto& r : {r0, r1}) {
        const size_t nb = std::get<0>(r);
        const auto &st0 = std::get<1>(r), &st1 = std::get<2>(r), &st2 = std::get<3>(r);
        EXPECT_GE(nb, 3u);
        EXPECT_EQ(st0.ignored_hooks, 6) << "6 parameters fired outside a step";
        EXPECT_EQ(st0.launched_in_backward + st0.launched_in_finish, 0);
        EXPECT_EQ(st1.steps, 1);
        EXPECT_EQ(st1.launched_in_backward, static_cast<int64_t>(nb)) << "every bucket starts during the backward pass";
        EXPECT_EQ(st1.launched_in_finish, 0);
        EXPECT_EQ(st2.ignored_hooks, 12);
        EXPECT_EQ(st2.steps, 2);
        for (size_t i = 0; i < std::get<4>(r).size(); ++i)
            EXPECT_TRUE(torch::equal(std::get<4>(r)[i], std::get<5>(r)[i])) << "parameter " << i;
        EXPECT_NE(std::get<6>(r).find("arrived twice"), std::string::npos) << std::get<6>(r);
    }
}
