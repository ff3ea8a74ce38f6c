// CLI tests of `ned train-manipulator` and `ned manipulate` (run the real binary).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "ned/manip/networks.hpp"
#include "ned/recon/reconstruction.hpp"
#include "support/test_support.hpp"

using namespace ned;
namespace fs = std::filesystem;

namespace {
recon::Reconstruction make_recon(int T, float offset, unsigned seed) {
    recon::Reconstruction r;
    r.source = "clip.mp4";
    r.fps = "25/1";
    r.method = "deca";
    r.valid.assign(T, 1);
    r.valid[T / 2] = 0;
    auto& exp = r.ensure("exp");
    auto& pose = r.ensure("pose");
    auto& cam = r.ensure("cam");
    for (int t = 0; t < T; ++t) {
        for (int k = 0; k < 50; ++k) exp.row(t)[k] = offset * (k < 3) + 0.05f * std::sin(0.3f * t + k + seed);
        for (int k = 0; k < 6; ++k) pose.row(t)[k] = 0.02f * k + 0.1f * std::sin(0.2f * t + seed);
        cam.row(t)[0] = 8.f;
    }
    return r;
}

void expect_only_exp_and_jaw_differ(const recon::Reconstruction& in, const recon::Reconstruction& out) {
    ASSERT_EQ(in.valid, out.valid);
    EXPECT_EQ(out.method, "manipulated");
    EXPECT_EQ(in.source, out.source);
    EXPECT_EQ(in.params.size(), out.params.size());
    EXPECT_EQ(in.at("cam").values, out.at("cam").values);
    bool exp_changed = false, jaw_changed = false;
    for (int64_t t = 0; t < in.num_frames(); ++t) {
        for (int k = 0; k < 6; ++k) {
            if (k == 3) {
                jaw_changed |= in.at("pose").row(t)[k] != out.at("pose").row(t)[k];
                continue;
            }
            ASSERT_EQ(in.at("pose").row(t)[k], out.at("pose").row(t)[k]) << t << " " << k;
        }
        for (int k = 0; k < 50; ++k) exp_changed |= in.at("exp").row(t)[k] != out.at("exp").row(t)[k];
        if (!in.valid[t])
            for (int k = 0; k < 50; ++k) ASSERT_EQ(in.at("exp").row(t)[k], out.at("exp").row(t)[k]);
    }
    EXPECT_TRUE(exp_changed);
    EXPECT_TRUE(jaw_changed);
}
}  // namespace

TEST(CliManip, ManipulateWithRandomCheckpointChangesOnlyExpAndJaw) {
    test::TempDir dir;
    torch::manual_seed(0);
    manip::Nets nets(manip::NetConfig{32, 16, 16});
    nets.he_init();
    manip::save_checkpoint(dir / "m.safetensors", nets);
    const auto in = make_recon(30, 0.f, 1);
    recon::save_reconstruction(dir / "in.safetensors", in);
    auto r = test::run_ned({"manipulate", dir / "in.safetensors", dir / "out.safetensors", "--checkpoint",
                            dir / "m.safetensors", "--emotion", "happy,angry", "-q"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto out = recon::load_reconstruction(dir / "out.safetensors");
    expect_only_exp_and_jaw_differ(in, out);
    EXPECT_NE(out.extra_metadata.at("manipulation").find("happy,angry"), std::string::npos);
    // Existing output without -y -> 2; reference and schedule modes work.
    r = test::run_ned({"manipulate", dir / "in.safetensors", dir / "out.safetensors", "--checkpoint",
                       dir / "m.safetensors", "--emotion", "sad", "-q"});
    EXPECT_EQ(r.exit_code, 2);
    r = test::run_ned({"manipulate", dir / "in.safetensors", dir / "ref.safetensors", "--checkpoint",
                       dir / "m.safetensors", "--reference", dir / "in.safetensors", "--intensity", "1.5", "-q"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = test::run_ned({"manipulate", dir / "in.safetensors", dir / "sch.safetensors", "--checkpoint",
                       dir / "m.safetensors", "--schedule", "0:neutral,0.5:happy@2", "-q"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    expect_only_exp_and_jaw_differ(in, recon::load_reconstruction(dir / "sch.safetensors"));
}

TEST(CliManip, BadEmotionIsExit2AndMissingCheckpointIsExit3) {
    test::TempDir dir;
    recon::save_reconstruction(dir / "in.safetensors", make_recon(12, 0.f, 2));
    torch::manual_seed(0);
    manip::save_checkpoint(dir / "m.safetensors", manip::Nets(manip::NetConfig{16, 8, 8}));
    auto r = test::run_ned({"manipulate", dir / "in.safetensors", dir / "o.safetensors", "--checkpoint",
                            dir / "m.safetensors", "--emotion", "joyful"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("joyful"), std::string::npos);
    r = test::run_ned({"manipulate", dir / "in.safetensors", dir / "o.safetensors", "--checkpoint",
                       dir / "nope.safetensors", "--emotion", "happy"});
    EXPECT_EQ(r.exit_code, 3);
    EXPECT_FALSE(fs::exists(dir / "o.safetensors"));
    r = test::run_ned({"manipulate", dir / "in.safetensors", dir / "o.safetensors", "--checkpoint",
                       dir / "m.safetensors", "--schedule", "1:happy,0:sad"});
    EXPECT_EQ(r.exit_code, 2);
}

/// A labelled dataset: two neutral and two happy reconstructions of 20 frames.
static void write_two_emotion_dataset(const std::string& data) {
    fs::create_directories(data + "/neutral");
    fs::create_directories(data + "/happy");
    for (int i = 0; i < 2; ++i) {
        recon::save_reconstruction(data + "/neutral/" + std::to_string(i) + ".safetensors", make_recon(20, 0.f, i));
        recon::save_reconstruction(data + "/happy/" + std::to_string(i) + ".safetensors", make_recon(20, 1.f, i));
    }
}

TEST(CliManip, TinyTrainingRunThenManipulate) {
    test::TempDir dir;
    write_two_emotion_dataset(dir / "data");
    // Full NED-size networks, 1 iteration of batch 4.
    auto r =
        test::run_ned({"train-manipulator", dir / "data", "--out", dir / "ck", "--epochs", "1", "--decay-epochs", "0",
                       "--iters-per-epoch", "1", "--batch-size", "4", "--seed", "5", "--device", "cpu", "-q"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    ASSERT_TRUE(fs::exists(dir / "ck/manipulator.safetensors"));
    ASSERT_TRUE(fs::exists(dir / "ck/epoch_01.optim.safetensors"));
    ASSERT_TRUE(fs::exists(dir / "ck/losses.jsonl"));
    // Same folder again without --resume / -y: refused.
    r = test::run_ned({"train-manipulator", dir / "data", "--out", dir / "ck", "--epochs", "1", "-q"});
    EXPECT_EQ(r.exit_code, 2);
    r = test::run_ned({"train-manipulator", dir / "nodata", "--out", dir / "ck2", "-q"});
    EXPECT_EQ(r.exit_code, 2);
    const auto in = make_recon(15, 0.f, 7);
    recon::save_reconstruction(dir / "in.safetensors", in);
    r = test::run_ned({"manipulate", dir / "in.safetensors", dir / "out.safetensors", "--checkpoint",
                       dir / "ck/manipulator.safetensors", "--emotion", "happy", "-q"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    expect_only_exp_and_jaw_differ(in, recon::load_reconstruction(dir / "out.safetensors"));
}

// --out of train-manipulator: a file, a place without a parent folder or a folder that is not writable is exit 2 with
// one line naming it (a read-only place was "internal error: filesystem error", exit 1); a refused run with -y
// removes none of the files of the previous run in --out (it dropped losses.jsonl and the optimiser state before the
// dataset was even read).
TEST(CliManip, TrainOutputFolderIsCheckedAndARefusedRunKeepsTheFilesInIt) {
    test::TempDir dir;
    write_two_emotion_dataset(dir / "data");
    auto train = [&](const std::string& out, const std::string& data, std::vector<std::string> more = {}) {
        std::vector<std::string> a = {"train-manipulator",
                                      data,
                                      "--out",
                                      out,
                                      "--epochs",
                                      "1",
                                      "--decay-epochs",
                                      "0",
                                      "--iters-per-epoch",
                                      "1",
                                      "--batch-size",
                                      "2",
                                      "--hidden",
                                      "8,8,8",
                                      "-q"};
        a.insert(a.end(), more.begin(), more.end());
        return test::run_ned(a);
    };
    { std::ofstream(dir / "file.txt") << "x\n"; }
    for (const std::string& out : {dir / "file.txt", dir / "file.txt/run", dir / "missing/run"}) {
        const auto r = train(out, dir / "data");
        EXPECT_EQ(r.exit_code, 2) << out << ": " << r.err;
        EXPECT_EQ(test::count_lines(r.err), 1) << r.err;
        EXPECT_NE(r.err.find(out), std::string::npos) << r.err;
    }
    EXPECT_FALSE(fs::exists(dir / "missing"));
    if (::geteuid() != 0) {  // root writes anywhere
        fs::create_directories(dir / "ro");
        fs::permissions(dir / "ro", fs::perms::owner_read | fs::perms::owner_exec);
        for (const std::string& out : {dir / "ro", dir / "ro/run"}) {
            const auto r = train(out, dir / "data");
            EXPECT_EQ(r.exit_code, 2) << out << ": " << r.err;
            EXPECT_NE(r.err.find(out), std::string::npos) << r.err;
        }
        fs::permissions(dir / "ro", fs::perms::owner_all);
    }
    // a finished run, then a refused run over it with -y (no dataset): the previous run's files stay
    auto r = train(dir / "run", dir / "data");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = train(dir / "run", dir / "nodata", {"-y"});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    for (const char* f :
         {"losses.jsonl", "epoch_01.optim.safetensors", "epoch_01.safetensors", "manipulator.safetensors"})
        EXPECT_TRUE(fs::exists(fs::path(dir / "run") / f)) << f;
    // a new folder is not left behind by a run refused after the dataset loaded (a bad --init-from)
    { std::ofstream(dir / "init.safetensors") << "garbage"; }
    r = train(dir / "new", dir / "data", {"--init-from", dir / "init.safetensors"});
    EXPECT_EQ(r.exit_code, 3) << r.err;
    EXPECT_FALSE(fs::exists(dir / "new"));
}
