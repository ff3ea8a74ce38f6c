// `ned train-renderer` on a synthetic clip with a tiny renderer: a run killed mid-epoch and resumed ends with
// the same weights as an uninterrupted run (same seed, same data, one thread), and exit codes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "ned/core/safetensors.hpp"
#include "ned/core/cpu_features.hpp"
#include "support/test_support.hpp"
#include "unit/renderer/synthetic_workdir.hpp"

namespace fs = std::filesystem;
using ned::test::run_ned;

namespace {

std::vector<std::string> args(const std::string& work, const std::string& out) {
    return {"train-renderer", work,  "--out",          out,   "--ngf",          "4",   "--ndf",
            "4",              "--no-vgg", "--epochs",   "2",   "--clip-frames",  "3",   "--val-frames",
            "4",              "--seed",  "5",           "--save-minutes", "0",    "--threads", "1", "-q",
            "--subsequence",  "8",       "--batch-size", "1"};
}

float max_abs_diff(const ned::st::File& a, const ned::st::File& b) {
    float m = 0;
    for (const auto& [name, t] : a.tensors) {
        const auto& u = b.at(name);
        const float* x = t.ptr<float>();
        const float* y = u.ptr<float>();
        for (int64_t i = 0; i < t.numel(); ++i) m = std::max(m, std::abs(x[i] - y[i]));
    }
    return m;
}

}  // namespace

TEST(CliTrainRenderer, KilledAndResumedRunEqualsAnUninterruptedOne) {
    ned::test::TempDir dir;
    const std::string work = dir / "work";
    fs::create_directories(work);
    std::vector<int64_t> frames;
    for (int t = 0; t < 40; ++t) frames.push_back(t);
    ned::test::write_synthetic_workdir(work, 40, frames, false, {}, /*with_video=*/true);

    auto r = run_ned(args(work, dir / "a"));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("2 epochs"), std::string::npos) << r.out;

    auto killed = args(work, dir / "b");
    killed.insert(killed.end(), {"--stop-after-steps", "7"});  // mid-epoch 2 (5 steps per epoch here)
    r = run_ned(killed);
    EXPECT_NE(r.exit_code, 0) << "the run was stopped abruptly";
    ASSERT_TRUE(fs::exists(dir / "b/state.safetensors"));
    EXPECT_TRUE(fs::exists(dir / "b/epoch_01.safetensors"));
    EXPECT_FALSE(fs::exists(dir / "b/epoch_02.safetensors"));

    r = run_ned(args(work, dir / "b"));
    EXPECT_EQ(r.exit_code, 2) << "a previous run needs --resume or -y";
    auto resume = args(work, dir / "b");
    resume.push_back("--resume");
    r = run_ned(resume);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto a = ned::st::load(dir / "a/epoch_02.safetensors");
    const auto b = ned::st::load(dir / "b/epoch_02.safetensors");
    EXPECT_EQ(a.tensors.size(), b.tensors.size());
    EXPECT_EQ(max_abs_diff(a, b), 0.f) << "same seed, same data, one thread: the same weights";

    auto novgg = args(work, dir / "c");
    novgg.erase(std::find(novgg.begin(), novgg.end(), "--no-vgg"));
    r = run_ned(novgg);
    EXPECT_EQ(r.exit_code, 3);
    EXPECT_NE(r.err.find("convert_vgg19.py"), std::string::npos) << r.err;
}

// Mixed-precision training (issue 11): bf16 on the CPU runs, its losses are finite, its checkpoints hold float32
// weights (the master weights) that `ned render` loads; fp16 is refused on the CPU (exit 2: CUDA only).
TEST(CliTrainRenderer, Bf16TrainingWritesFloat32CheckpointsAndFp16NeedsCuda) {
    ned::test::TempDir dir;
    const std::string work = dir / "work";
    fs::create_directories(work);
    std::vector<int64_t> frames;
    for (int t = 0; t < 24; ++t) frames.push_back(t);
    ned::test::write_synthetic_workdir(work, 24, frames, false, {}, /*with_video=*/true);

    auto bf16 = args(work, dir / "bf16");
    bf16.insert(bf16.end(), {"--precision", "bf16"});
    // Where bf16 would be emulated (no AVX512-BF16/AMX, or oneDNN capped below it) it is refused up front with
    // one line and nothing written; the caps make every CPU show that case.
    auto r = run_ned(bf16, {{"ONEDNN_MAX_CPU_ISA", "AVX2"}});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("no native bf16"), std::string::npos) << r.err;
    EXPECT_EQ(ned::test::count_lines(r.err), 1) << r.err;
    EXPECT_FALSE(fs::exists(dir / "bf16/losses.jsonl"));
    if (!ned::cpu::native_bf16()) GTEST_SKIP() << "this CPU has no native bf16: the bf16 run itself is refused";
    r = run_ned(bf16);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    int lines = 0;
    {
        std::ifstream is(dir / "bf16/losses.jsonl");
        std::string line;
        while (std::getline(is, line)) {
            const auto j = nlohmann::json::parse(line);
            ++lines;
            for (const char* k : {"G_GAN", "G_GAN_Feat", "Gm_GAN", "Gm_GAN_Feat", "D_real", "D_fake", "Dm_real", "Dm_fake",
                                  "val_psnr"})
                EXPECT_TRUE(std::isfinite(j.at(k).get<double>())) << k << " in " << line;
        }
    }
    EXPECT_EQ(lines, 2);
    for (const char* f : {"renderer.safetensors", "epoch_02.safetensors", "state.safetensors"}) {
        const auto file = ned::st::load(dir / (std::string("bf16/") + f));
        for (const auto& [name, t] : file.tensors)
            EXPECT_EQ(t.dtype, ned::st::DType::F32) << f << ": " << name;
    }
    EXPECT_EQ(ned::st::load(dir / "bf16/state.safetensors").meta("precision"), "bf16");
    // the fp32 run of the same seed differs (the bf16 path really ran) but not by much
    r = run_ned(args(work, dir / "fp32"));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const float d = max_abs_diff(ned::st::load(dir / "fp32/renderer.safetensors"), ned::st::load(dir / "bf16/renderer.safetensors"));
    EXPECT_GT(d, 0.f);
    r = run_ned({"render", work, "--renderer", dir / "bf16/renderer.safetensors", "-q", "-y", "--threads", "1"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(fs::exists(fs::path(work) / "faces_aligned/000000.png"));

    auto fp16 = args(work, dir / "fp16");
    fp16.insert(fp16.end(), {"--precision", "fp16"});
    r = run_ned(fp16);
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("CUDA"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(dir / "fp16/state.safetensors"));
}
