// `ned render` library: edge rule, ring buffer, image conversions, unalignment, the work-folder loop.
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "ned/core/error.hpp"
#include "ned/core/fault.hpp"
#include "ned/core/fs_util.hpp"
#include "ned/renderer/checkpoint.hpp"
#include "ned/renderer/render.hpp"
#include "support/test_support.hpp"
#include "unit/renderer/synthetic_workdir.hpp"

namespace fs = std::filesystem;
using namespace ned;
using namespace ned::renderer;

namespace {

int max_abs_diff(const cv::Mat& a, const cv::Mat& b) {
    if (a.size() != b.size() || a.type() != b.type()) return 1 << 30;
    double m = 0;
    cv::Mat d;
    cv::absdiff(a, b, d);
    cv::minMaxLoc(d.reshape(1), nullptr, &m);
    return static_cast<int>(m);
}

std::string png(const std::string& dir, int64_t t) { return dir + "/" + frame_name(t, ".png"); }

}  // namespace

TEST(RenderPlan, EdgeRuleReplicatesTheFirstFrameAndRestartsAfterGaps) {
    const auto steps = plan_steps({10, 3, 0, 1, 2, 4, 7, 8});
    ASSERT_EQ(steps.size(), size_t{8});
    using A = std::array<int64_t, 3>;
    const std::vector<std::pair<A, bool>> want = {{{0, 0, 0}, true},  {{0, 0, 1}, false},  {{0, 1, 2}, false},
                                                  {{1, 2, 3}, false}, {{2, 3, 4}, false},  {{7, 7, 7}, true},
                                                  {{7, 7, 8}, false}, {{10, 10, 10}, true}};
    const std::vector<int64_t> frames = {0, 1, 2, 3, 4, 7, 8, 10};
    for (size_t i = 0; i < steps.size(); ++i) {
        EXPECT_EQ(steps[i].frame, frames[i]);
        EXPECT_EQ(steps[i].cond, want[i].first) << i;
        EXPECT_EQ(steps[i].restart, want[i].second) << i;
    }
    // a cut starts a new segment even without a missing frame
    const auto cut = plan_steps({0, 1, 2, 3}, {2});
    EXPECT_TRUE(cut[2].restart);
    EXPECT_EQ(cut[3].cond, (A{2, 2, 3}));
    EXPECT_TRUE(plan_steps({}).empty());
    EXPECT_THROW(plan_steps({1, 1}), Error);
}

TEST(RenderImages, ConditioningChannelOrderAndOutputConversion) {
    cv::Mat nmfc(8, 8, CV_8UC3, cv::Scalar(10, 20, 30));  // BGR
    cv::Mat eyes(8, 8, CV_8UC3, cv::Scalar(0, 0, 255));   // red disk colour
    cv::Mat shape(8, 8, CV_8UC3, cv::Scalar(180, 180, 180));
    const auto c = conditioning_tensor(nmfc, eyes, shape);
    ASSERT_EQ(c.sizes(), (std::vector<int64_t>{9, 8, 8}));
    const float want[9] = {30, 20, 10, 255, 0, 0, 180, 180, 180};
    for (int k = 0; k < 9; ++k) EXPECT_FLOAT_EQ(c[k][3][4].item<float>(), want[k] / 255.f) << k;

    // tensor2im: (x+1)/2*255, clipped, truncated; RGB tensor -> BGR Mat
    auto x = torch::zeros({3, 1, 6});
    const float v[6] = {-1.f, -2.f, 1.f, 3.f, 0.f, 0.999f};
    for (int i = 0; i < 6; ++i) x[0][0][i] = v[i];
    x[2].fill_(1.f);
    const cv::Mat img = output_to_image(x);
    ASSERT_EQ(img.type(), CV_8UC3);
    const int want_r[6] = {0, 0, 255, 255, 127, 254};
    for (int i = 0; i < 6; ++i) {
        EXPECT_EQ(img.at<cv::Vec3b>(0, i)[2], want_r[i]) << i;
        EXPECT_EQ(img.at<cv::Vec3b>(0, i)[0], 255) << i;  // blue channel of the tensor
        EXPECT_EQ(img.at<cv::Vec3b>(0, i)[1], 127) << i;
    }
}

TEST(RenderImages, UnalignIsTheInverseWarpMaskedByTheCropMask) {
    cv::Mat face(64, 64, CV_8UC3);
    cv::RNG(5).fill(face, cv::RNG::UNIFORM, 0, 256);
    // integer translation: Lanczos4 at integer positions reproduces the samples exactly
    const cv::Matx23f align(1, 0, 5, 0, 1, -3);  // crop -> aligned
    cv::Mat mask = cv::Mat::zeros(64, 64, CV_8UC1);
    mask(cv::Rect(10, 10, 30, 40)).setTo(255);
    const cv::Mat crop = unalign_face(face, align, mask);
    for (int y = 0; y < 64; ++y)
        for (int x = 0; x < 64; ++x) {
            const cv::Vec3b got = crop.at<cv::Vec3b>(y, x);
            if (!mask.at<uint8_t>(y, x)) {
                EXPECT_EQ(got, cv::Vec3b(0, 0, 0));
            } else if (x + 5 < 64 && y - 3 >= 0) {
                EXPECT_EQ(got, face.at<cv::Vec3b>(y - 3, x + 5)) << x << "," << y;  // aligned(align * p)
            }
        }
    // a rotation: the round trip aligned -> crop -> aligned of a smooth image stays close inside the face
    cv::Mat smooth(64, 64, CV_8UC3);
    for (int y = 0; y < 64; ++y)
        for (int x = 0; x < 64; ++x) smooth.at<cv::Vec3b>(y, x) = cv::Vec3b(2 * x, 2 * y, 100 + x + y);
    const cv::Matx23f rot = test::synthetic_align(3);
    const cv::Mat back = unalign_face(smooth, rot, cv::Mat(64, 64, CV_8UC1, cv::Scalar(255)));
    cv::Mat again;
    cv::warpAffine(back, again, cv::Mat(rot), back.size(), cv::INTER_LANCZOS4);
    EXPECT_LE(max_abs_diff(again(cv::Rect(20, 20, 24, 24)), smooth(cv::Rect(20, 20, 24, 24))), 2);
}

TEST(RenderRing, PreviousOutputsAreZerosThenTheLastTwoOutputs) {
    torch::manual_seed(11);
    Generator g(test::small_generator_config());
    init_weights(*g);
    Generator ref(test::small_generator_config());
    {
        torch::NoGradGuard ng;
        auto src = g->parameters();
        auto dst = ref->parameters();
        for (size_t i = 0; i < src.size(); ++i) dst[i].copy_(src[i]);
    }
    FaceRenderer r(g, torch::kCPU);
    std::vector<torch::Tensor> conds, outs;
    const auto mask = torch::ones({1, 1, 32, 32});
    for (int i = 0; i < 4; ++i) {
        if (i == 3) r.reset();
        conds.push_back(torch::rand({1, 27, 32, 32}));
        outs.push_back(r.step(conds.back(), mask));
    }
    torch::NoGradGuard ng;
    const auto z = torch::zeros({1, 3, 32, 32});
    const std::vector<torch::Tensor> prevs = {torch::cat({z, z}, 1), torch::cat({z, outs[0]}, 1),
                                              torch::cat({outs[0], outs[1]}, 1), torch::cat({z, z}, 1)};
    for (int i = 0; i < 4; ++i) {
        const auto want = ref->forward(conds[i], prevs[i], mask);
        EXPECT_LT((outs[i] - want).abs().max().item<float>(), 1e-5f) << i;
    }
}

TEST(RenderWorkdir, RendersEveryFrameWithConditioningAndRestartsAfterAGap) {
    test::TempDir dir;
    const std::vector<int64_t> cond = {0, 1, 2, 3, 5, 6};  // frame 4 has no conditioning: a gap
    const std::string ckpt = test::write_synthetic_workdir(dir.path(), 7, cond);
    RenderOptions o;
    o.workdir = dir.path();
    o.renderer = ckpt;
    const RenderResult res = render_workdir(o);
    EXPECT_EQ(res.frames_rendered, 6);
    EXPECT_EQ(res.segments, 2);
    EXPECT_FALSE(fs::exists(png(dir / "faces_aligned", 4)));
    EXPECT_FALSE(fs::exists(png(dir / "faces", 4)));

    FaceRenderer direct(load_generator(ckpt), torch::kCPU);
    auto cond_of = [&](int64_t t) {
        const auto rd = [&](const char* k) { return cv::imread(png(dir / ("conditioning/" + std::string(k)), t)); };
        return conditioning_tensor(rd("nmfc"), rd("eyes"), rd("shape"));
    };
    for (int64_t t : cond) {
        const cv::Mat aligned = cv::imread(png(dir / "faces_aligned", t), cv::IMREAD_UNCHANGED);
        const cv::Mat crop = cv::imread(png(dir / "faces", t), cv::IMREAD_UNCHANGED);
        ASSERT_EQ(aligned.type(), CV_8UC3) << t;
        ASSERT_EQ(aligned.size(), cv::Size(test::kSynthCrop, test::kSynthCrop));
        // background exactly -1 -> 0 wherever the aligned mask is 0
        const cv::Mat crop_mask = test::synthetic_crop_mask(static_cast<int>(t));
        cv::Mat aligned_mask;
        cv::warpAffine(crop_mask, aligned_mask, cv::Mat(test::synthetic_align(static_cast<int>(t))), crop_mask.size(),
                       cv::INTER_NEAREST);
        cv::Mat bg;
        aligned.copyTo(bg, aligned_mask == 0);
        EXPECT_EQ(cv::countNonZero(bg.reshape(1)), 0) << t;
        EXPECT_GT(cv::countNonZero(aligned.reshape(1)), 0) << t;
        // faces/ = unalign(faces_aligned) masked by the crop-space mask
        const cv::Mat want = unalign_face(aligned, test::synthetic_align(static_cast<int>(t)), crop_mask);
        EXPECT_EQ(max_abs_diff(crop, want), 0) << t;
        cv::Mat outside;
        crop.copyTo(outside, crop_mask == 0);
        EXPECT_EQ(cv::countNonZero(outside.reshape(1)), 0) << t;
    }
    // restart after the gap: frame 5 sees [5,5,5] and zero previous outputs, as a fresh run would; frame 6
    // sees [5,5,6] and [0, out5]
    cv::Mat m5, m6;
    cv::warpAffine(test::synthetic_crop_mask(5), m5, cv::Mat(test::synthetic_align(5)), cv::Size(64, 64),
                   cv::INTER_NEAREST);
    cv::warpAffine(test::synthetic_crop_mask(6), m6, cv::Mat(test::synthetic_align(6)), cv::Size(64, 64),
                   cv::INTER_NEAREST);
    const auto o5 = direct.step(torch::cat({cond_of(5), cond_of(5), cond_of(5)}).unsqueeze(0), mask_tensor(m5));
    const auto o6 = direct.step(torch::cat({cond_of(5), cond_of(5), cond_of(6)}).unsqueeze(0), mask_tensor(m6));
    // the same computation in the same process; at most one grey level from float rounding at truncation
    EXPECT_LE(max_abs_diff(output_to_image(o5), cv::imread(png(dir / "faces_aligned", 5))), 1);
    EXPECT_LE(max_abs_diff(output_to_image(o6), cv::imread(png(dir / "faces_aligned", 6))), 1);

    // outputs exist: refused without overwrite, replaced with it (stale frames removed)
    EXPECT_THROW(render_workdir(o), InputError);
    cv::imwrite(png(dir / "faces", 4), cv::Mat::zeros(64, 64, CV_8UC3));
    o.overwrite = true;
    EXPECT_EQ(render_workdir(o).frames_rendered, 6);
    EXPECT_FALSE(fs::exists(png(dir / "faces", 4)));
}

// The render pass reports its frames on disk at the fault point render.frames_done (before each frame): nothing
// happens without a handler; the caller's handler may stop the pass there (`ned`'s tests of an interrupted run
// raise a signal from it, installed by main from NED_TEST_INTERRUPT_RENDER_AFTER; a library never reads that).
TEST(RenderWorkdir, FramesDoneFaultPointLetsTheCallerStopThePass) {
    struct HandlerGuard {
        ~HandlerGuard() { set_fault_handler({}); }
    } guard;
    test::TempDir dir;
    const std::string ckpt = test::write_synthetic_workdir(dir.path(), 6, {0, 1, 2, 3, 4, 5});
    RenderOptions o;
    o.workdir = dir.path();
    o.renderer = ckpt;
    o.overwrite = true;
    std::vector<int64_t> counts;
    set_fault_handler([&](const char* name, int64_t count) {
        if (std::string(name) == "render.frames_done") counts.push_back(count);
    });
    EXPECT_EQ(render_workdir(o).frames_rendered, 6);
    EXPECT_EQ(counts, (std::vector<int64_t>{0, 1, 2, 3, 4, 5}));

    counts.clear();
    set_fault_handler([&](const char* name, int64_t count) {
        if (std::string(name) != "render.frames_done") return;
        counts.push_back(count);
        if (count >= 3) throw std::runtime_error("cancelled after 3 frames");
    });
    EXPECT_THROW(render_workdir(o), std::runtime_error);
    EXPECT_EQ(counts, (std::vector<int64_t>{0, 1, 2, 3}));

    set_fault_handler({});
    EXPECT_EQ(render_workdir(o).frames_rendered, 6);
    EXPECT_EQ(counts.size(), 4u);  // no handler: nothing called
}

TEST(RenderWorkdir, AlignedMaskFolderOverridesTheAnalysisMask) {
    test::TempDir dir;
    const std::string ckpt = test::write_synthetic_workdir(dir.path(), 2, {0, 1});
    fs::create_directories(dir / "aligned_masks");
    cv::Mat m = cv::Mat::zeros(64, 64, CV_8UC1);
    m(cv::Rect(16, 16, 24, 24)).setTo(255);
    for (int t : {0, 1}) cv::imwrite(png(dir / "aligned_masks", t), m);
    RenderOptions o;
    o.workdir = dir.path();
    o.renderer = ckpt;
    o.masks = dir / "aligned_masks";
    render_workdir(o);
    const cv::Mat aligned = cv::imread(png(dir / "faces_aligned", 1));
    cv::Mat bg;
    aligned.copyTo(bg, m == 0);
    EXPECT_EQ(cv::countNonZero(bg.reshape(1)), 0);
    cv::Mat inside = aligned(cv::Rect(16, 16, 24, 24)).clone();
    EXPECT_GT(cv::countNonZero(inside.reshape(1)), 24 * 24);
}

TEST(RenderWorkdir, BadInputsAreInputOrModelErrors) {
    test::TempDir dir;
    const std::string ckpt = test::write_synthetic_workdir(dir.path(), 3, {0, 1, 2});
    RenderOptions o;
    o.workdir = dir.path();
    o.renderer = dir / "missing.safetensors";
    EXPECT_THROW(render_workdir(o), ModelError);
    o.renderer = ckpt;
    o.precision = Precision::Fp16;  // CUDA only
    EXPECT_THROW(render_workdir(o), InputError);
    o.precision = Precision::Fp32;
    o.conditioning = dir / "nowhere";
    EXPECT_THROW(render_workdir(o), InputError);
    o.conditioning.clear();
    fs::remove(png(dir / "conditioning/eyes", 1));
    EXPECT_THROW(render_workdir(o), InputError);
}

TEST(RenderWorkdir, AShotStartInTheTrackRestartsTheRingBuffer) {
    test::TempDir dir;
    const std::string ckpt = test::write_synthetic_workdir(dir.path(), 5, {0, 1, 2, 3, 4}, false, {3});
    RenderOptions o;
    o.workdir = dir.path();
    o.renderer = ckpt;
    const RenderResult res = render_workdir(o);
    EXPECT_EQ(res.segments, 2);
    // frame 3 is rendered as a segment start: conditioning [3,3,3], zero previous outputs
    FaceRenderer direct(load_generator(ckpt), torch::kCPU);
    const auto rd = [&](const char* k) { return cv::imread(png(dir / ("conditioning/" + std::string(k)), 3)); };
    const auto c3 = conditioning_tensor(rd("nmfc"), rd("eyes"), rd("shape"));
    cv::Mat m3;
    cv::warpAffine(test::synthetic_crop_mask(3), m3, cv::Mat(test::synthetic_align(3)), cv::Size(64, 64),
                   cv::INTER_NEAREST);
    const auto o3 = direct.step(torch::cat({c3, c3, c3}).unsqueeze(0), mask_tensor(m3));
    EXPECT_LE(max_abs_diff(output_to_image(o3), cv::imread(png(dir / "faces_aligned", 3))), 1);
}
