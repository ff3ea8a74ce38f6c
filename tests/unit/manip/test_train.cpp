#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "ned/core/error.hpp"
#include "ned/core/safetensors.hpp"
#include "ned/manip/manipulate.hpp"
#include "ned/manip/train.hpp"
#include "synth.hpp"
#include "support/test_support.hpp"

using namespace ned;
using namespace ned::manip;
namespace fs = std::filesystem;

TEST(ManipLosses, MouthLossIsMinusTwoForIdenticalJawTracks) {
    torch::manual_seed(0);
    auto x = torch::randn({4, 10, 51});
    EXPECT_NEAR(mouth_loss(x, x, x).item<double>(), -2.0, 1e-5);
    // Pearson: invariant to positive affine maps of the jaw track, -1 for a flipped one.
    auto y = x.clone();
    y.select(2, 0).mul_(3).add_(1);
    EXPECT_NEAR(mouth_loss(x, y, x).item<double>(), -2.0, 1e-5);
    auto f = x.clone();
    f.select(2, 0).mul_(-1);
    EXPECT_NEAR(jaw_correlation(x, f).item<double>(), -1.0, 1e-5);
    EXPECT_NEAR(mouth_loss(x, f, x).item<double>(), 2.0, 1e-5);
}

TEST(ManipLosses, MouthLossGradientPullsFakeJawTowardsReal) {
    torch::manual_seed(1);
    auto real = torch::randn({8, 10, 51});
    auto fake = (real + 0.8 * torch::randn({8, 10, 51})).requires_grad_(true);
    auto loss = mouth_loss(real, fake, real);
    loss.backward();
    // Non-jaw channels get no gradient; a small step against the gradient raises the correlation.
    EXPECT_EQ(fake.grad().slice(2, 1).abs().max().item<float>(), 0.f);
    auto stepped = (fake - 0.01 * fake.grad()).detach();
    EXPECT_LT(mouth_loss(real, stepped, real).item<double>(), loss.item<double>());
    EXPECT_GT(jaw_correlation(real, stepped).item<double>(), jaw_correlation(real, fake.detach()).item<double>());
}

TEST(ManipLosses, LsganLoss) {
    auto l = torch::tensor({1.0f, 0.0f, 3.0f});
    EXPECT_NEAR(adv_loss(l, 1).item<double>(), (0 + 1 + 4) / 3.0, 1e-6);
    EXPECT_NEAR(adv_loss(l, 0).item<double>(), (1 + 0 + 9) / 3.0, 1e-6);
}

namespace {
// Two domains: "neutral" (offset 0) and "happy" (exp[0:4] offset +1.2, exp[4] -0.8).
const std::vector<float> kHappy = {1.2f, 1.2f, 1.2f, 1.2f, -0.8f};

void write_dataset(const std::string& dir, int files_per_domain, int T) {
    fs::create_directories(dir + "/neutral");
    fs::create_directories(dir + "/happy");
    fs::create_directories(dir + "/contempt");  // not one of NED's 7: skipped
    for (int i = 0; i < files_per_domain; ++i) {
        recon::save_reconstruction(dir + "/neutral/n" + std::to_string(i) + ".safetensors",
                                   test::synth_recon(T, {}, 100 + i));
        recon::save_reconstruction(dir + "/happy/h" + std::to_string(i) + ".safetensors",
                                   test::synth_recon(T, kHappy, 200 + i));
    }
}

TrainOptions tiny_options(const std::string& data, const std::string& out) {
    TrainOptions o;
    o.dataset = data;
    o.out_dir = out;
    o.epochs = 2;
    o.decay_epochs = 1;
    o.iters_per_epoch = 3;
    o.batch_size = 8;
    o.net = NetConfig{16, 8, 8};
    o.seed = 11;
    o.val_fraction = 0.25;
    return o;
}

std::map<std::string, st::Tensor> tensors_of(const std::string& path) { return st::load(path).tensors; }
}  // namespace

TEST(ManipTrain, ListDatasetFolderAndCsv) {
    test::TempDir dir;
    write_dataset(dir / "data", 2, 15);
    auto files = list_dataset(dir / "data");
    ASSERT_EQ(files.size(), 4u);
    EXPECT_EQ(files[0].label, emotion_index("happy"));
    EXPECT_EQ(files[3].label, emotion_index("neutral"));
    {
        std::ofstream csv(dir / "m.csv");
        csv << "path,emotion\n# comment\ndata/neutral/n0.safetensors,neutral\n"
            << (dir / "data/happy/h1.safetensors") << ",Sad\n";
    }
    auto c = list_dataset(dir / "m.csv");
    ASSERT_EQ(c.size(), 2u);
    EXPECT_EQ(c[1].label, emotion_index("neutral"));
    EXPECT_EQ(c[0].label, emotion_index("sad"));
    {
        std::ofstream bad(dir / "bad.csv");
        bad << "data/neutral/n0.safetensors,bored\n";
    }
    EXPECT_THROW(list_dataset(dir / "bad.csv"), InputError);
    EXPECT_THROW(list_dataset(dir / "nothing"), InputError);
    auto ws = load_windows(files);
    EXPECT_EQ(ws.size(), 4 * (15 - 9));
    EXPECT_EQ(ws.windows({0, 5}).sizes(), (std::vector<int64_t>{2, 10, 51}));
}

TEST(ManipTrain, SameSeedSameWeightsAndResumeContinuesBitForBit) {
    torch::set_num_threads(1);
    test::TempDir dir;
    write_dataset(dir / "data", 2, 20);
    auto o = tiny_options(dir / "data", dir / "a");
    auto ra = train_manipulator(o);
    ASSERT_EQ(ra.epochs.size(), 2u);
    EXPECT_TRUE(std::isfinite(ra.epochs[1].val_g));
    EXPECT_TRUE(fs::exists(dir / "a/epoch_01.safetensors"));
    EXPECT_FALSE(fs::exists(dir / "a/epoch_01.optim.safetensors"));  // only the latest optimiser state is kept
    EXPECT_TRUE(fs::exists(dir / "a/epoch_02.optim.safetensors"));
    EXPECT_DOUBLE_EQ(ra.epochs[1].lr, 1e-4);  // decay applies after the epoch
    // Existing checkpoints are not overwritten without -y / --resume.
    EXPECT_THROW(train_manipulator(o), InputError);
    {
        auto y = o;  // -y: a fresh one-epoch run drops the stale optimiser state and loss log of the old run
        y.overwrite = true;
        y.epochs = 1;
        y.decay_epochs = 0;
        y.iters_per_epoch = 1;
        train_manipulator(y);
        EXPECT_FALSE(fs::exists(dir / "a/epoch_02.optim.safetensors"));
        EXPECT_TRUE(fs::exists(dir / "a/epoch_01.optim.safetensors"));
        std::ifstream log(dir / "a/losses.jsonl");
        std::string line;
        int lines = 0;
        while (std::getline(log, line)) ++lines;
        EXPECT_EQ(lines, 1);
        auto again = o;  // restore run "a" (2 epochs, fresh) for the comparisons below
        again.overwrite = true;
        train_manipulator(again);
    }

    o.out_dir = dir / "b";
    train_manipulator(o);
    const auto a = tensors_of(dir / "a/manipulator.safetensors");
    const auto b = tensors_of(dir / "b/manipulator.safetensors");
    ASSERT_EQ(a.size(), b.size());
    for (const auto& [name, t] : a) ASSERT_EQ(t.data, b.at(name).data) << name;

    // A different seed gives different weights.
    o.out_dir = dir / "c";
    o.seed = 12;
    train_manipulator(o);
    EXPECT_NE(tensors_of(dir / "c/manipulator.safetensors").at("generator.seq2.4.weight").data,
              a.at("generator.seq2.4.weight").data);

    // One epoch, then --resume for the second: same weights as two epochs in one go.
    o.seed = 11;
    o.out_dir = dir / "d";
    o.epochs = 1;
    o.decay_epochs = 0;
    train_manipulator(o);
    o.epochs = 2;
    o.decay_epochs = 1;
    o.resume = true;
    auto rd = train_manipulator(o);
    ASSERT_EQ(rd.epochs.size(), 1u);
    EXPECT_EQ(rd.epochs[0].epoch, 2);
    const auto d = tensors_of(dir / "d/manipulator.safetensors");
    for (const auto& [name, t] : a) ASSERT_EQ(t.data, d.at(name).data) << name;

    // --init-from starts from another checkpoint (fine-tuning).
    TrainOptions f = tiny_options(dir / "data", dir / "e");
    f.init_from = dir / "a/manipulator.safetensors";
    f.epochs = 1;
    f.decay_epochs = 0;
    f.iters_per_epoch = 1;
    train_manipulator(f);
    torch::set_num_threads(2);
}

namespace {
struct Translation {
    double progress = 0, jaw_corr = 0;
};
// A short training run on the two-domain set, then neutral -> happy on an unseen neutral sequence.
// progress = projection of the mean expression change onto the happy offset, in units of that offset
// (1 = moved exactly by the domain offset); jaw_corr = Pearson correlation of the jaw opening in/out.
Translation train_and_translate(const std::string& dir, uint64_t seed) {
    TrainOptions o;
    o.dataset = dir + "/data";
    o.out_dir = dir + "/ckpt" + std::to_string(seed);
    o.epochs = 2;
    o.decay_epochs = 0;
    o.iters_per_epoch = 60;
    o.batch_size = 16;
    o.lr = o.f_lr = 1e-3;  // a short run; NED's 1e-4 needs many more iterations
    o.net = NetConfig{64, 32, 32};
    o.seed = seed;
    o.val_fraction = 0.2;
    train_manipulator(o);
    auto nets = load_checkpoint(o.out_dir + "/manipulator.safetensors");
    auto src = test::synth_recon(120, {}, 999);
    ManipulateOptions m;
    m.emotions = {"happy"};
    auto out = manipulate(src, nets, m);
    double num = 0, den = 0;
    for (int k = 0; k < 5; ++k) {
        double mi = 0, mo = 0;
        for (int t = 0; t < 120; ++t) mi += src.at("exp").row(t)[k], mo += out.at("exp").row(t)[k];
        num += (mo - mi) / 120 * kHappy[k];
        den += kHappy[k] * kHappy[k];
    }
    std::vector<double> jaw_in, jaw_out;
    for (int t = 0; t < 120; ++t)
        jaw_in.push_back(src.at("pose").row(t)[3]), jaw_out.push_back(out.at("pose").row(t)[3]);
    return {num / den, test::pearson(jaw_in, jaw_out)};
}
}  // namespace

// What is stable across CPUs and seeds, and what is not: 120 GAN iterations at lr 1e-3 reliably move the
// expression towards the target domain and keep the jaw (the mouth loss is strong), but how far past the
// domain offset a short adversarial run overshoots depends on the seed and on BLAS rounding (seed 3 gave
// 1.22 on one CPU and 1.82 on an AVX-512 EPYC). So: three seeds; each must move clearly towards happy
// (> 0.3 of the offset) and keep the jaw (r > 0.9); the median must be of the
// order of the offset (0.6 .. 2.5) and none may run away (< 4: a diverged G moves by many offsets).
TEST(ManipTrain, LearnsToTranslateNeutralToHappyKeepingTheJaw) {
    test::TempDir dir;
    write_dataset(dir / "data", 4, 60);
    std::vector<double> progress;
    for (uint64_t seed : {3, 4, 5}) {
        const Translation r = train_and_translate(dir.path(), seed);
        std::printf("seed %llu: translation progress towards happy %.3f, jaw correlation %.3f\n",
                    static_cast<unsigned long long>(seed), r.progress, r.jaw_corr);
        RecordProperty("progress_seed" + std::to_string(seed), std::to_string(r.progress));
        EXPECT_GT(r.progress, 0.3) << "seed " << seed;
        EXPECT_LT(r.progress, 4.0) << "seed " << seed;
        EXPECT_GT(r.jaw_corr, 0.9) << "seed " << seed;
        progress.push_back(r.progress);
    }
    std::sort(progress.begin(), progress.end());
    EXPECT_GT(progress[1], 0.6);
    EXPECT_LT(progress[1], 2.5);
}
