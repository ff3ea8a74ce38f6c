// Renderer training losses: LSGAN, feature matching weights, VGG19 layout (+ converter), mouth ROI.
#include <gtest/gtest.h>

#include <cstdlib>

#include "ned/core/error.hpp"
#include "ned/renderer/losses.hpp"
#include "support/test_support.hpp"

using namespace ned;
using namespace ned::renderer;

TEST(RendererLosses, LsganAndFeatureMatchingFollowNedsWeights) {
    DiscriminatorConfig c;  // num_D 2, n_layers 3: 5 outputs per scale
    DiscriminatorOutput real(2), fake(2);
    for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 5; ++j) {
            real[i].push_back(torch::full({1, 2, 3, 3}, 0.5));
            fake[i].push_back(torch::full({1, 2, 3, 3}, 1.5));  // every feature off by exactly 1
        }
    EXPECT_DOUBLE_EQ(lsgan_loss(real, true).item<double>(), 2 * 0.25);
    EXPECT_DOUBLE_EQ(lsgan_loss(fake, false).item<double>(), 2 * 2.25);
    // 2 scales x 4 intermediate layers x (1/2) x (4/4) x L1 1 x lambda 10 = 40 (the last output is excluded)
    EXPECT_NEAR(feature_matching_loss(fake, real, c).item<double>(), 40.0, 1e-9);
    EXPECT_NEAR(feature_matching_loss(real, real, c).item<double>(), 0.0, 0.0);
}

TEST(RendererLosses, MouthRoiIsClampedInsideTheFrame) {
    EXPECT_EQ(roi_origin(128, 150, 256), std::make_pair(92, 114));
    EXPECT_EQ(roi_origin(10, 250, 256), std::make_pair(0, 184));
    EXPECT_EQ(roi_origin(36, 220, 256), std::make_pair(0, 184));
    std::vector<std::pair<float, float>> pts;
    for (int k = 0; k < 20; ++k) pts.emplace_back(100.f + k, 170.f + (k % 5));
    EXPECT_EQ(mouth_center(pts), std::make_pair(109, 172));  // medians 109.5 and 172.0, truncated
    EXPECT_EQ(mouth_roi_size(256), 72);
    EXPECT_EQ(mouth_roi_size(64), 18);
    EXPECT_EQ(mouth_roi_size(16), 8);
    auto x = torch::arange(2 * 1 * 256 * 256, torch::kFloat).reshape({2, 1, 256, 256});
    const auto crop = crop_roi(x, {{128, 150}, {0, 0}});
    ASSERT_EQ(crop.sizes(), (std::vector<int64_t>{2, 1, 72, 72}));
    EXPECT_EQ(crop[0][0][0][0].item<float>(), x[0][0][114][92].item<float>());
    EXPECT_EQ(crop[1][0][71][71].item<float>(), x[1][0][71][71].item<float>());
}

TEST(RendererLosses, Vgg19LayoutAndConverter) {
    Vgg19Features vgg;
    int64_t n = 0;
    for (const auto& p : vgg->named_parameters()) {
        EXPECT_EQ(p.key().rfind("features.", 0), 0u) << p.key();
        n += p.value().numel();
    }
    EXPECT_EQ(n, 12944960);  // torchvision VGG19 features[0:30] (13 convolutions)
    {
        torch::NoGradGuard ng;
        const auto f = vgg->forward(torch::rand({1, 3, 32, 32}) * 2 - 1);
        ASSERT_EQ(f.size(), size_t{5});
        const int64_t ch[5] = {64, 128, 256, 512, 512}, sz[5] = {32, 16, 8, 4, 2};
        for (int i = 0; i < 5; ++i) {
            EXPECT_EQ(f[i].size(1), ch[i]);
            EXPECT_EQ(f[i].size(2), sz[i]);
            EXPECT_GE(f[i].min().item<float>(), 0.f) << "each slice ends with a ReLU";
        }
        EXPECT_NEAR(vgg_loss(vgg, f[0].new_zeros({1, 3, 32, 32}), f[0].new_zeros({1, 3, 32, 32})).item<float>(), 0.f,
                    0.f);
    }
    test::TempDir tmp;
    EXPECT_THROW(load_vgg19(tmp / "none.safetensors"), ModelError);

    const std::string py = test::python_with("numpy torch");
    if (py.empty()) GTEST_SKIP() << "no python3 with numpy and torch (scripts/find_python.sh; set NED_PYTHON)";
    const std::string s = std::string(NED_SOURCE_DIR) + "/scripts/convert_vgg19.py";
    ASSERT_EQ(std::system((py + " " + s + " --make-random " + (tmp / "vgg.pth") + " >/dev/null 2>&1").c_str()), 0);
    ASSERT_EQ(
        std::system(
            (py + " " + s + " " + (tmp / "vgg.pth") + " " + (tmp / "vgg.safetensors") + " >/dev/null 2>&1").c_str()),
        0);
    Vgg19Features loaded = load_vgg19(tmp / "vgg.safetensors");
    for (const auto& p : loaded->parameters()) EXPECT_FALSE(p.requires_grad());
    EXPECT_GT(loaded->named_parameters()["features.28.weight"].abs().sum().item<float>(), 0.f);
}
