#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>

#include "ned/core/error.hpp"
#include "ned/core/safetensors.hpp"
#include "ned/core/torch_util.hpp"
#include "ned/analysis/segmentation.hpp"
#include "support/test_support.hpp"

using namespace ned::analysis;

TEST(UNet, StateDictNamesAndShapesMatchFsgan) {
    UNet net(3);
    std::map<std::string, std::vector<int64_t>> shapes;
    for (const auto& p : net->named_parameters()) shapes[p.key()] = p.value().sizes().vec();
    for (const auto& b : net->named_buffers()) shapes[b.key()] = b.value().sizes().vec();
    EXPECT_EQ(shapes.at("conv1.conv1.0.weight"), (std::vector<int64_t>{64, 3, 3, 3}));
    EXPECT_EQ(shapes.at("conv1.conv1.1.running_mean"), (std::vector<int64_t>{64}));
    EXPECT_EQ(shapes.at("center.conv2.0.weight"), (std::vector<int64_t>{1024, 1024, 3, 3}));
    EXPECT_EQ(shapes.at("up_concat4.conv1d.weight"), (std::vector<int64_t>{512, 1024, 1, 1}));
    EXPECT_EQ(shapes.at("up_concat4.conv.conv1.0.weight"), (std::vector<int64_t>{512, 1024, 3, 3}));
    EXPECT_EQ(shapes.at("up_concat1.conv.conv2.0.weight"), (std::vector<int64_t>{64, 64, 3, 3}));
    EXPECT_EQ(shapes.at("final.weight"), (std::vector<int64_t>{3, 64, 1, 1}));
    EXPECT_EQ(shapes.count("up_concat4.conv.conv1.1.weight"), 0u);  // decoder blocks have no BN
    // 5 encoder blocks x 2 BN layers.
    int bn = 0;
    for (const auto& kv : shapes) bn += kv.first.find("running_var") != std::string::npos;
    EXPECT_EQ(bn, 10);
}

TEST(UNet, ForwardShapes) {
    torch::manual_seed(0);
    UNet net(3);
    net->train();
    torch::NoGradGuard ng;
    const auto y = net->forward(torch::rand({1, 3, 64, 64}));
    EXPECT_EQ(y.sizes().vec(), (std::vector<int64_t>{1, 3, 64, 64}));
}

TEST(UNet, TrainModeBatchNormUsesPerImageStatistics) {
    // NED never calls eval(): BatchNorm normalises with the input's own statistics, so the output does not
    // depend on the running statistics stored in the checkpoint, and differs from eval mode.
    torch::manual_seed(1);
    UNet a(3);
    torch::NoGradGuard ng;
    const auto x = torch::rand({1, 3, 32, 32});
    a->train();
    const auto y_train = a->forward(x);
    // Scramble the running statistics: train-mode output must not change.
    for (auto& b : a->named_buffers()) {
        if (b.key().find("running_mean") != std::string::npos) b.value().uniform_(-5, 5);
        if (b.key().find("running_var") != std::string::npos) b.value().uniform_(0.5, 9);
    }
    const auto y_train2 = a->forward(x);
    EXPECT_TRUE(torch::allclose(y_train, y_train2, 1e-4, 1e-5));
    a->eval();
    const auto y_eval = a->forward(x);
    EXPECT_FALSE(torch::allclose(y_train, y_eval, 1e-3, 1e-3));
    // The per-image statistic: conv1's first BN output has ~zero mean and unit variance per channel.
    a->train();
    auto h = a->conv1->conv1[0]->as<torch::nn::Conv2d>()->forward(x);
    h = a->conv1->conv1[1]->as<torch::nn::BatchNorm2d>()->forward(h);
    EXPECT_LT(h.mean({0, 2, 3}).abs().max().item<float>(), 1e-4);
}

TEST(UNet, MaskPostprocessingArgmaxSoftErosionLargestComponent) {
    // Logits where class 1 wins in a big disk and a small far blob; class 2 (hair) wins elsewhere in a band.
    auto logits = torch::zeros({1, 3, 128, 128});
    cv::Mat big = cv::Mat::zeros(128, 128, CV_8U), small = big.clone();
    cv::circle(big, {64, 70}, 35, 255, -1);
    cv::circle(small, {10, 10}, 6, 255, -1);
    auto acc = logits.accessor<float, 4>();
    for (int y = 0; y < 128; ++y)
        for (int x = 0; x < 128; ++x) {
            acc[0][0][y][x] = 1.0f;
            if (big.at<uchar>(y, x) || small.at<uchar>(y, x)) acc[0][1][y][x] = 2.0f;
            if (y < 20) acc[0][2][y][x] = 3.0f;  // hair beats face at the top
        }
    const cv::Mat m = face_mask_from_logits(logits);
    ASSERT_EQ(m.type(), CV_8UC1);
    EXPECT_EQ(m.at<uchar>(10, 10), 0);       // small blob: eroded / not the largest component
    EXPECT_EQ(m.at<uchar>(70, 64), 255);     // disk centre
    EXPECT_EQ(m.at<uchar>(70, 64 + 34), 0);  // rim eroded
    EXPECT_GT(cv::countNonZero(m), 0.6 * CV_PI * 35 * 35);
}

TEST(FaceSegmenter, RandomWeightsRoundTripThroughSafetensors) {
    torch::manual_seed(2);
    UNet net(3);
    ned::st::File f;
    f.metadata["format"] = "ned.fsgan_unet";
    f.metadata["version"] = "1";
    ned::save_module(*net, f);
    ned::test::TempDir tmp;
    ned::st::save(tmp / "unet.safetensors", f);
    FaceSegmenter seg(tmp / "unet.safetensors");
    cv::Mat crop(64, 64, CV_8UC3, cv::Scalar(90, 120, 200));
    const cv::Mat m = seg.segment(crop);
    EXPECT_EQ(m.size(), crop.size());
    EXPECT_EQ(m.type(), CV_8UC1);
    // Wrong format / missing file -> ModelError.
    f.metadata["format"] = "something.else";
    ned::st::save(tmp / "bad.safetensors", f);
    EXPECT_THROW(FaceSegmenter(tmp / "bad.safetensors"), ned::ModelError);
    EXPECT_THROW(FaceSegmenter(tmp / "missing.safetensors"), ned::ModelError);
    // Missing tensor -> ModelError.
    f.metadata["format"] = "ned.fsgan_unet";
    f.tensors.erase("final.weight");
    ned::st::save(tmp / "partial.safetensors", f);
    EXPECT_THROW(FaceSegmenter(tmp / "partial.safetensors"), ned::ModelError);
}
