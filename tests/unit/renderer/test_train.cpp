// `ned train-renderer` library: a tiny renderer on a synthetic clip: outputs, losses.jsonl, preview, errors.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "ned/core/error.hpp"
#include "ned/renderer/checkpoint.hpp"
#include "ned/renderer/train.hpp"
#include "support/test_support.hpp"
#include "unit/renderer/synthetic_workdir.hpp"
#include "renderer/train_internal.hpp"

#include <opencv2/imgproc.hpp>

namespace fs = std::filesystem;
using namespace ned;
using namespace ned::renderer;

namespace {

TrainOptions tiny_options(const std::string& work, const std::string& out) {
    TrainOptions o;
    o.actors = {work};
    o.out = out;
    o.epochs = 2;
    o.ngf = 4;
    o.ndf = 4;
    o.n_blocks = 1;
    o.no_vgg = true;
    o.batch_size = 2;
    o.clip_frames = 3;
    o.subsequence = 8;
    o.val_frames = 7;  // more than the 3 frames of history the validation keeps
    o.seed = 3;
    return o;
}

}  // namespace

TEST(TrainRenderer, TinyRunWritesCheckpointsLossesAndPreview) {
    test::TempDir dir;
    const std::string work = dir / "work";
    fs::create_directories(work);
    std::vector<int64_t> frames;
    for (int t = 0; t < 24; ++t) frames.push_back(t);
    test::write_synthetic_workdir(work, 24, frames, false, {}, /*with_video=*/true);
    const TrainOptions o = tiny_options(work, dir / "run");
    const TrainResult r = train_renderer(o);
    EXPECT_EQ(r.epochs_done, 2);
    EXPECT_GT(r.steps, 0);
    // the validation ran and gave a number (that training lowers the held-out error is RendererLearning's test,
    // test_learning.cpp: two epochs of this tiny run prove nothing about it)
    EXPECT_TRUE(r.has_validation);
    EXPECT_TRUE(std::isfinite(r.val_psnr));
    for (const char* f : {"renderer.safetensors", "epoch_01.safetensors", "epoch_02.safetensors", "state.safetensors",
                          "losses.jsonl", "preview/epoch_01.jpg", "preview/epoch_02.jpg", "cache/00/cache.json"})
        EXPECT_TRUE(fs::exists(dir / ("run/" + std::string(f)))) << f;
    // losses.jsonl: one line per epoch with every term and the validation numbers
    std::ifstream is(dir / "run/losses.jsonl");
    std::string line;
    int lines = 0;
    double last_psnr = 0;
    while (std::getline(is, line)) {
        const auto j = nlohmann::json::parse(line);
        ++lines;
        EXPECT_EQ(j.at("epoch").get<int>(), lines);
        for (const char* k :
             {"G_GAN", "G_GAN_Feat", "G_VGG", "Gm_GAN", "Gm_GAN_Feat", "D_real", "D_fake", "Dm_real", "Dm_fake"})
            EXPECT_TRUE(std::isfinite(j.at(k).get<double>())) << k;
        last_psnr = j.at("val_psnr").get<double>();
        EXPECT_TRUE(std::isfinite(last_psnr));
    }
    EXPECT_EQ(lines, 2);
    EXPECT_DOUBLE_EQ(last_psnr, r.val_psnr) << "the result is the last epoch's validation";
    // renderer.safetensors is a generator-only ned.renderer file that `ned render` loads
    const RendererNets nets = load_renderer(dir / "run/renderer.safetensors", torch::kCPU, true);
    EXPECT_EQ(nets.generator->cfg.ngf, 4);
    EXPECT_TRUE(nets.discriminator.is_empty());
    EXPECT_FALSE(load_renderer(dir / "run/epoch_02.safetensors", torch::kCPU, true).mouth_discriminator.is_empty());

    // a second run in the same folder needs --resume or -y; the prepared cache is reused
    EXPECT_THROW(train_renderer(o), InputError);
    TrainOptions more = o;
    more.resume = true;
    more.epochs = 3;
    EXPECT_EQ(train_renderer(more).epochs_done, 3);
    TrainOptions fresh = o;
    fresh.overwrite = true;
    fresh.epochs = 1;
    fresh.init_from = dir / "run/epoch_03.safetensors";  // fine-tuning from a checkpoint
    EXPECT_EQ(train_renderer(fresh).epochs_done, 1);
    EXPECT_FALSE(fs::exists(dir / "run/epoch_02.safetensors"));
}

TEST(TrainRenderer, BadOptionsAreRefused) {
    test::TempDir dir;
    TrainOptions o = tiny_options(dir.path(), dir / "run");
    o.no_vgg = false;  // VGG weights required unless --no-vgg
    EXPECT_THROW(train_renderer(o), ModelError);
    o.no_vgg = true;
    o.resume = true;  // nothing to resume
    EXPECT_THROW(train_renderer(o), InputError);
    o.resume = false;
    EXPECT_THROW(train_renderer(o), InputError);  // no track in the work folder
}

// NED's RandomAffine(degrees 0, translate 1 %, scale 0.99-1.01) of the conditioning images: a point at the
// image centre moves by the (whole-pixel) translation only, at most round(0.01 * 256) = 3 px per axis; the
// draws depend only on the stream (same stream, same image) and do move the image.
TEST(TrainRenderer, RandomAffineOfTheConditioningStaysWithinOnePercent) {
    cv::Mat img(256, 256, CV_8UC3, cv::Scalar::all(0));
    img(cv::Rect(127, 127, 3, 3)).setTo(cv::Scalar::all(255));  // centre pixel 128, 128
    int moved = 0, max_shift = 0;
    bool left = false, right = false;
    for (uint64_t s = 0; s < 200; ++s) {
        const cv::Mat out = train_detail::random_affine(img, s);
        EXPECT_EQ(cv::norm(out, train_detail::random_affine(img, s), cv::NORM_INF), 0.0) << "deterministic";
        cv::Mat gray;
        cv::cvtColor(out, gray, cv::COLOR_BGR2GRAY);
        const cv::Moments m = cv::moments(gray, true);
        ASSERT_GT(m.m00, 0) << "the square stays in the image";
        const double dx = m.m10 / m.m00 - 128, dy = m.m01 / m.m00 - 128;
        EXPECT_LE(std::abs(dx), 3.5) << s;
        EXPECT_LE(std::abs(dy), 3.5) << s;
        max_shift = std::max(max_shift, static_cast<int>(std::lround(std::max(std::abs(dx), std::abs(dy)))));
        moved += (std::abs(dx) > 0.5 || std::abs(dy) > 0.5) ? 1 : 0;
        left = left || dx < -0.5;
        right = right || dx > 0.5;
    }
    EXPECT_GT(moved, 100);
    EXPECT_EQ(max_shift, 3);
    EXPECT_TRUE(left && right);
}
