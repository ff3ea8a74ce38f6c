#include <gtest/gtest.h>

#include "manip/internal.hpp"
#include "ned/core/error.hpp"
#include "ned/manip/manipulate.hpp"
#include "synth.hpp"
#include "support/test_support.hpp"

using namespace ned;
using namespace ned::manip;

namespace {
Nets small_nets(uint64_t seed = 5) {
    torch::manual_seed(seed);
    Nets n(NetConfig{32, 16, 16});
    n.he_init();
    return n;
}

void expect_only_exp_and_jaw_changed(const recon::Reconstruction& in, const recon::Reconstruction& out) {
    ASSERT_EQ(in.num_frames(), out.num_frames());
    EXPECT_EQ(in.valid, out.valid);
    EXPECT_EQ(in.fps, out.fps);
    EXPECT_EQ(out.method, "manipulated");
    for (const auto& [name, b] : in.params) {
        const auto& o = out.at(name);
        ASSERT_EQ(b.values.size(), o.values.size()) << name;
        for (int64_t t = 0; t < in.num_frames(); ++t)
            for (int64_t k = 0; k < b.row_size(); ++k) {
                const bool may_change = in.valid[t] && (name == "exp" || (name == "pose" && k == 3));
                if (!may_change) {
                    ASSERT_EQ(b.row(t)[k], o.row(t)[k]) << name << " frame " << t << " k " << k;
                }
            }
    }
}
void expect_all_near(const std::vector<float>& a, const std::vector<float>& b, float tol) {
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], tol) << "element " << i;
}
}  // namespace

TEST(ManipManipulate, LabelModeChangesOnlyExpAndJawAndIsSeeded) {
    auto in = test::synth_recon(40, {}, 1);
    auto nets = small_nets();
    ManipulateOptions o;
    o.emotions = {"happy"};
    auto a = manipulate(in, nets, o);
    expect_only_exp_and_jaw_changed(in, a);
    EXPECT_NE(a.at("exp").values, in.at("exp").values);
    EXPECT_EQ(a.extra_metadata["manipulation"], "emotion=happy seed=0");
    auto b = manipulate(in, nets, o);
    // Same seed, same result (up to float rounding: multi-threaded BLAS may sum in another order).
    expect_all_near(a.at("exp").values, b.at("exp").values, 1e-5f);
    o.seed = 7;
    auto c = manipulate(in, nets, o);
    EXPECT_NE(a.at("exp").values, c.at("exp").values);
    o.emotions = {"sad"};
    o.seed = 0;
    auto d = manipulate(in, nets, o);
    EXPECT_NE(a.at("exp").values, d.at("exp").values);
}

TEST(ManipManipulate, InvalidFramesAreCopiedAndShortRunsArePadded) {
    auto in = test::synth_recon(40, {}, 2);
    for (int t : {12, 13, 30}) in.valid[t] = 0;  // runs: 0..11 (12), 14..29 (16), 31..39 (9 < 10)
    auto nets = small_nets();
    ManipulateOptions o;
    o.emotions = {"angry"};
    auto out = manipulate(in, nets, o);
    expect_only_exp_and_jaw_changed(in, out);
    for (int t : {0, 11, 14, 29, 31, 39}) EXPECT_NE(out.at("exp").row(t)[0], in.at("exp").row(t)[0]) << t;
    // A sequence shorter than 10 frames works too.
    auto tiny = test::synth_recon(4, {}, 3);
    auto t2 = manipulate(tiny, nets, o);
    expect_only_exp_and_jaw_changed(tiny, t2);
}

TEST(ManipManipulate, WindowsDoNotCrossGaps) {
    // Changing a frame of one run must not change the output of another run.
    auto in = test::synth_recon(40, {}, 4);
    in.valid[20] = 0;
    auto nets = small_nets();
    ManipulateOptions o;
    o.emotions = {"fear"};
    auto a = manipulate(in, nets, o);
    in.at("exp").row(25)[3] += 1.f;
    auto b = manipulate(in, nets, o);
    for (int t = 0; t < 20; ++t)
        for (int k = 0; k < 50; ++k) ASSERT_NEAR(a.at("exp").row(t)[k], b.at("exp").row(t)[k], 1e-5f) << t;
    EXPECT_GT(std::abs(a.at("exp").row(25)[3] - b.at("exp").row(25)[3]), 1e-3f);
}

TEST(ManipManipulate, IntensityZeroEqualsTheSourceStyleAsReference) {
    auto in = test::synth_recon(30, {}, 5);
    auto nets = small_nets();
    ManipulateOptions lab;
    lab.emotions = {"happy"};
    lab.intensity = 0;
    auto a = manipulate(in, nets, lab);
    ManipulateOptions ref;
    ref.reference = &in;
    auto b = manipulate(in, nets, ref);
    ASSERT_EQ(a.at("exp").values.size(), b.at("exp").values.size());
    for (size_t i = 0; i < a.at("exp").values.size(); ++i)
        ASSERT_NEAR(a.at("exp").values[i], b.at("exp").values[i], 1e-5);
    lab.intensity = 2;
    auto c = manipulate(in, nets, lab);
    EXPECT_NE(c.at("exp").values, a.at("exp").values);
}

TEST(ManipManipulate, ScheduleHoldsKeyframeStylesAndSingleKeyEqualsLabel) {
    auto in = test::synth_recon(200, {}, 6);  // 30 fps: 6.67 s
    auto nets = small_nets();
    ManipulateOptions one;
    one.schedule = parse_schedule("0:happy");
    ManipulateOptions lab;
    lab.emotions = {"happy"};
    EXPECT_EQ(manipulate(in, nets, one).at("exp").values, manipulate(in, nets, lab).at("exp").values);

    ManipulateOptions sch;
    sch.schedule = parse_schedule("1:neutral, 3:sad@0.5");
    auto s = manipulate(in, nets, sch);
    lab.emotions = {"neutral"};
    auto n = manipulate(in, nets, lab);
    lab.emotions = {"sad"};
    lab.intensity = 0.5;
    auto sad = manipulate(in, nets, lab);
    for (int t = 0; t < 20; ++t)  // windows centred before 1 s
        for (int k = 0; k < 50; ++k) ASSERT_EQ(s.at("exp").row(t)[k], n.at("exp").row(t)[k]) << t;
    for (int t = 110; t < 200; ++t)  // windows starting after 3 s
        for (int k = 0; k < 50; ++k) ASSERT_NEAR(s.at("exp").row(t)[k], sad.at("exp").row(t)[k], 1e-5) << t;
    EXPECT_NE(s.at("exp").row(60)[0], n.at("exp").row(60)[0]);  // blending in between
}

TEST(ManipManipulate, SeveralEmotionsSplitTheVideo) {
    auto in = test::synth_recon(60, {}, 7);
    auto nets = small_nets();
    ManipulateOptions two;
    two.emotions = {"happy", "angry"};
    auto s = manipulate(in, nets, two);
    ManipulateOptions h;
    h.emotions = {"happy"};
    auto a = manipulate(in, nets, h);
    h.emotions = {"angry"};
    auto b = manipulate(in, nets, h);
    for (int t = 0; t < 20; ++t) ASSERT_EQ(s.at("exp").row(t)[0], a.at("exp").row(t)[0]) << t;
    for (int t = 45; t < 60; ++t) ASSERT_EQ(s.at("exp").row(t)[0], b.at("exp").row(t)[0]) << t;
}

TEST(ManipManipulate, ParseScheduleAndErrors) {
    auto k = parse_schedule("0:neutral,2.5:happy,6:angry@0.5");
    ASSERT_EQ(k.size(), 3u);
    EXPECT_DOUBLE_EQ(k[1].time_s, 2.5);
    EXPECT_EQ(k[2].emotion, "angry");
    EXPECT_DOUBLE_EQ(k[2].intensity, 0.5);
    EXPECT_THROW(parse_schedule("0:joyful"), InputError);
    EXPECT_THROW(parse_schedule("2:happy,1:sad"), InputError);
    EXPECT_THROW(parse_schedule("x:happy"), InputError);
    EXPECT_THROW(parse_schedule("happy"), InputError);
    EXPECT_THROW(parse_schedule(""), InputError);
    auto in = test::synth_recon(20, {}, 8);
    auto nets = small_nets();
    ManipulateOptions none;
    EXPECT_THROW(manipulate(in, nets, none), InputError);
    ManipulateOptions bad;
    bad.emotions = {"bored"};
    EXPECT_THROW(manipulate(in, nets, bad), InputError);
    in.fps = "0/1";
    ManipulateOptions sch;
    sch.schedule = parse_schedule("0:happy");
    EXPECT_THROW(manipulate(in, nets, sch), InputError);
}

TEST(ManipManipulate, ValidRunsAndPadding) {
    auto runs = valid_runs({1, 1, 0, 0, 1, 0, 1, 1, 1});
    ASSERT_EQ(runs.size(), 3u);
    EXPECT_EQ(runs[0].len, 2);
    EXPECT_EQ(runs[1].start, 4);
    EXPECT_EQ(runs[2].len, 3);
    std::vector<float> x(9 * 51);
    for (int t = 0; t < 9; ++t) x[t * 51] = static_cast<float>(t);
    auto p = pad_run(x, runs[2]);  // frames 6,7,8 -> 10 rows: left 3 copies of 6, right 4 copies of 8
    ASSERT_EQ(p.length(), 10);
    EXPECT_EQ(p.left, 3);
    const float expect[10] = {6, 6, 6, 6, 7, 8, 8, 8, 8, 8};
    for (int i = 0; i < 10; ++i) EXPECT_EQ(p.rows[i * 51], expect[i]) << i;
}
