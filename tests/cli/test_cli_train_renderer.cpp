// `ned train-renderer` on a synthetic clip with a tiny renderer: a run killed mid-epoch and resumed ends with
// the same weights as an uninterrupted run (same seed, same data, one thread), and exit codes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "ned/core/safetensors.hpp"
#include "ned/core/cpu_features.hpp"
#include "support/test_support.hpp"
#include "unit/renderer/synthetic_workdir.hpp"

namespace fs = std::filesystem;
using ned::test::run_ned;

namespace {

std::vector<std::string> args(const std::string& work, const std::string& out) {
    return {"train-renderer",
            work,
            "--out",
            out,
            "--ngf",
            "4",
            "--ndf",
            "4",
            "--no-vgg",
            "--epochs",
            "2",
            "--clip-frames",
            "3",
            "--val-frames",
            "4",
            "--seed",
            "5",
            "--save-minutes",
            "0",
            "--threads",
            "1",
            "-q",
            "--subsequence",
            "8",
            "--batch-size",
            "1"};
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

/// Lines of stderr other than the --no-vgg warning (refusals must be one line).
int error_lines(const std::string& err) {
    int n = 0;
    size_t pos = 0;
    while (pos < err.size()) {
        const size_t end = err.find('\n', pos);
        const std::string line = err.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
        if (!line.empty() && line.find("--no-vgg: training without") == std::string::npos) ++n;
        if (end == std::string::npos) break;
        pos = end + 1;
    }
    return n;
}

/// A prepared work folder of `frames` frames (all valid), with its source video.
std::string synthetic_actor(const std::string& work, int frames) {
    fs::create_directories(work);
    std::vector<int64_t> all;
    for (int t = 0; t < frames; ++t) all.push_back(t);
    ned::test::write_synthetic_workdir(work, frames, all, false, {}, /*with_video=*/true);
    return work;
}

}  // namespace

TEST(CliTrainRenderer, KilledAndResumedRunEqualsAnUninterruptedOne) {
    ned::test::TempDir dir;
    const std::string work = synthetic_actor(dir / "work", 40);

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
    const std::string work = synthetic_actor(dir / "work", 24);

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
            for (const char* k :
                 {"G_GAN", "G_GAN_Feat", "Gm_GAN", "Gm_GAN_Feat", "D_real", "D_fake", "Dm_real", "Dm_fake", "val_psnr"})
                EXPECT_TRUE(std::isfinite(j.at(k).get<double>())) << k << " in " << line;
        }
    }
    EXPECT_EQ(lines, 2);
    for (const char* f : {"renderer.safetensors", "epoch_02.safetensors", "state.safetensors"}) {
        const auto file = ned::st::load(dir / (std::string("bf16/") + f));
        for (const auto& [name, t] : file.tensors) EXPECT_EQ(t.dtype, ned::st::DType::F32) << f << ": " << name;
    }
    EXPECT_EQ(ned::st::load(dir / "bf16/state.safetensors").meta("precision"), "bf16");
    // the fp32 run of the same seed differs (the bf16 path really ran) but not by much
    r = run_ned(args(work, dir / "fp32"));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const float d = max_abs_diff(ned::st::load(dir / "fp32/renderer.safetensors"),
                                 ned::st::load(dir / "bf16/renderer.safetensors"));
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

// Hostile numbers (issue: 457 hostile cases): every floating option is finite and in range, a value typed is never
// replaced by the default; one line naming the option, exit 2, nothing written.
TEST(CliTrainRenderer, NonFiniteOrOutOfRangeOptionsAreExit2AndWriteNothing) {
    ned::test::TempDir dir;
    const std::string out = dir / "run";
    const std::vector<std::pair<std::string, std::string>> bad = {{"--lr", "inf"},
                                                                  {"--lr", "nan"},
                                                                  {"--lr", "-1"},
                                                                  {"--lr", "0"},
                                                                  {"--lr", "1e308"},
                                                                  {"--save-minutes", "nan"},
                                                                  {"--save-minutes", "-1"},
                                                                  {"--save-minutes", "inf"},
                                                                  {"--dist-timeout", "nan"},
                                                                  {"--dist-timeout", "inf"},
                                                                  {"--dist-bucket-mb", "nan"},
                                                                  {"--dist-bucket-mb", "inf"},
                                                                  {"--clip-frames", "100"},
                                                                  {"--ngf", "100000"}};
    for (const auto& [opt, value] : bad) {
        const auto r = run_ned({"train-renderer", dir.path(), "--out", out, "--no-vgg", opt, value});
        EXPECT_EQ(r.exit_code, 2) << opt << " " << value << ": " << r.err;
        EXPECT_EQ(error_lines(r.err), 1) << r.err;
        EXPECT_NE(r.err.find(opt), std::string::npos) << r.err;
        EXPECT_FALSE(fs::exists(out)) << opt << " " << value;
    }
    // --vgg and --no-vgg exclude each other (the weights were silently ignored)
    const auto r =
        run_ned({"train-renderer", dir.path(), "--out", out, "--vgg", dir / "missing.safetensors", "--no-vgg"});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_EQ(error_lines(r.err), 1) << r.err;
    EXPECT_NE(r.err.find("--no-vgg"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(out));
}

// A refused run leaves no --out behind: the folder is created only after the inputs have been checked, and a
// failure after that (a source video that moved) removes what the run created -- and only that.
TEST(CliTrainRenderer, RefusedRunsLeaveNoOutputFolder) {
    ned::test::TempDir dir;
    const std::string work = synthetic_actor(dir / "work", 16);
    const std::string out = dir / "run";
    auto refused = [&](std::vector<std::string> args, int code, const std::string& what, const std::string& target) {
        args.insert(args.end(), {"--no-vgg", "--ngf", "4", "--ndf", "4", "--threads", "1"});
        const auto r = run_ned(args);
        EXPECT_EQ(r.exit_code, code) << what << ": " << r.err;
        EXPECT_EQ(error_lines(r.err), 1) << what << ": " << r.err;
        EXPECT_FALSE(fs::exists(target)) << what << " left " << target;
    };
    // --out is a file, or below one: exit 2 naming it (was "internal error: filesystem error", exit 1)
    { std::ofstream(dir / "file.txt") << "not a folder\n"; }
    auto r = run_ned({"train-renderer", work, "--out", dir / "file.txt", "--no-vgg"});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("file.txt"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("not a folder"), std::string::npos) << r.err;
    r = run_ned({"train-renderer", work, "--out", dir / "file.txt/run", "--no-vgg"});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("file.txt"), std::string::npos) << r.err;
    EXPECT_EQ(error_lines(r.err), 1) << r.err;

    // a "video" that is not one
    { std::ofstream(dir / "bad.mp4") << "not a video\n"; }
    refused({"train-renderer", dir / "bad.mp4", "--out", out}, 2, "bad actor video", out);
    // a work folder without conditioning/ (not prepared with render-inputs)
    const std::string bare = dir / "bare";
    fs::create_directories(bare);
    fs::copy_file(fs::path(work) / "track.safetensors", fs::path(bare) / "track.safetensors");
    refused({"train-renderer", bare, "--out", out}, 2, "unprepared work folder", out);
    // a bad --init-from
    { std::ofstream(dir / "init.safetensors") << "garbage"; }
    refused({"train-renderer", work, "--out", out, "--init-from", dir / "init.safetensors"}, 3, "bad --init-from", out);
    // missing parents are created, and removed again
    { std::ofstream(dir / "init.safetensors") << "garbage"; }
    refused({"train-renderer", work, "--out", dir / "a/b/run", "--init-from", dir / "init.safetensors"}, 3,
            "bad --init-from, nested --out", dir / "a");
    if (!torch::cuda::is_available())
        refused({"train-renderer", work, "--out", out, "--device", "cuda"}, 1, "--device cuda without a GPU", out);
    // the source video moved: found only when the frames are prepared, after --out was created
    fs::rename(fs::path(work) / "clip.mp4", dir / "moved.mp4");
    refused({"train-renderer", work, "--out", out}, 2, "moved source video", out);
    refused({"train-renderer", work, "--out", dir / "a/b/run"}, 2, "moved source video, nested --out", dir / "a");
    // an existing --out keeps the user's files; only what this run added goes
    fs::create_directories(out);
    { std::ofstream(fs::path(out) / "notes.txt") << "mine\n"; }
    refused({"train-renderer", work, "--out", out}, 2, "moved source video, existing --out", fs::path(out) / "cache");
    EXPECT_FALSE(fs::exists(fs::path(out) / "preview"));
    EXPECT_TRUE(fs::exists(fs::path(out) / "notes.txt"));
}

// A run that diverges stops (exit 1, one line naming the epoch and step and suggesting a lower --lr) and never
// writes a file with a NaN: a fresh run leaves no --out, a resumed one keeps its last good checkpoints. (Before,
// `--lr inf` wrote renderer.safetensors with every weight NaN and logged "validation PSNR 99 dB".) The divergence is
// made by weights of 3e38 in the generator's first convolution: its sums overflow to inf, the instance norm makes
// NaN of them at the first step.
TEST(CliTrainRenderer, DivergingRunStopsWithoutWritingNonFiniteFiles) {
    ned::test::TempDir dir;
    const std::string work = synthetic_actor(dir / "work", 24);
    auto poison = [](const std::string& path, const std::string& tensor) {
        ned::st::File f = ned::st::load(path);
        ned::st::Tensor& t = f.tensors.at(tensor);
        float* v = t.ptr<float>();
        for (int64_t i = 0; i < t.numel(); ++i) v[i] = 3e38f;
        ned::st::save(path, f);
    };
    const std::string init = dir / "init.safetensors";
    fs::copy_file(fs::path(work) / "renderer.safetensors", init);
    poison(init, "generator.model_down_seg.1.weight");
    auto a = args(work, dir / "fresh");
    a.insert(a.end(), {"--init-from", init});
    auto r = run_ned(a);
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_NE(r.err.find("diverged in epoch 1 (step 1)"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("lower --lr"), std::string::npos) << r.err;
    EXPECT_EQ(error_lines(r.err), 1) << r.err;
    EXPECT_FALSE(fs::exists(dir / "fresh")) << "nothing of value was saved: the folder this run created goes";

    // one good epoch, then a resumed run whose state went bad: its checkpoints stay as they were
    a = args(work, dir / "run");
    a[std::find(a.begin(), a.end(), "--epochs") - a.begin() + 1] = "1";
    r = run_ned(a);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto before = ned::st::load(dir / "run/renderer.safetensors");
    poison(dir / "run/state.safetensors", "generator.model_down_seg.1.weight");
    a = args(work, dir / "run");
    a.push_back("--resume");
    r = run_ned(a);
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_NE(r.err.find("diverged in epoch 2"), std::string::npos) << r.err;
    EXPECT_EQ(error_lines(r.err), 1) << r.err;
    EXPECT_FALSE(fs::exists(dir / "run/epoch_02.safetensors"));
    const auto after = ned::st::load(dir / "run/renderer.safetensors");
    EXPECT_EQ(max_abs_diff(before, after), 0.f);
    for (const char* f : {"renderer.safetensors", "epoch_01.safetensors"})
        EXPECT_EQ(ned::st::first_non_finite(ned::st::load(dir / (std::string("run/") + f))), "") << f;
}
