// SequenceRenderer (include/ned/renderer/sequence_renderer.hpp): the ring buffer fed to the network, restarts at
// gaps and cuts, the window of conditioning asked from the source, the fault point's counts, and resume after an
// interrupted pass, with a tiny random generator, in-memory conditioning and a sink that records what it gets.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "ned/core/fault.hpp"
#include "ned/core/fs_util.hpp"
#include "ned/renderer/sequence_renderer.hpp"
#include "support/test_support.hpp"
#include "unit/renderer/synthetic_renderer.hpp"

namespace fs = std::filesystem;
using namespace ned;
using namespace ned::renderer;

namespace {

constexpr int kS = 32;

/// Random conditioning per frame (fixed per frame index), full masks, identity alignment; records the frames
/// asked for.
struct FakeSource : ConditioningSource {
    std::vector<int64_t> asked;
    static torch::Tensor cond_of(int64_t t) {
        torch::manual_seed(1000 + t);
        return torch::rand({9, kS, kS});
    }
    ConditionedFrame get(int64_t frame) override {
        asked.push_back(frame);
        ConditionedFrame c;
        c.frame = frame;
        c.cond = cond_of(frame);
        c.aligned_mask = cv::Mat(kS, kS, CV_8UC1, cv::Scalar(255));
        c.crop_mask = c.aligned_mask;
        c.align = cv::Matx23f(1, 0, 0, 0, 1, 0);
        return c;
    }
};

/// Keeps every face in frame order; with a folder, stores an (empty) file per frame so a resume finds it.
struct RecordingSink : FaceSink {
    fs::path dir;
    std::map<int64_t, torch::Tensor> stored;
    std::vector<int64_t> delivered;
    void store(const RenderedFace& f) override {
        stored[f.frame] = f.output;
        if (!dir.empty()) std::ofstream(dir / frame_name(f.frame, ".png")) << "x";
    }
    void deliver(RenderedFace&& f) override { delivered.push_back(f.frame); }
};

/// Removes the fault handler at the end of a test.
struct HandlerGuard {
    ~HandlerGuard() { set_fault_handler({}); }
};

Generator tiny_generator() {
    torch::manual_seed(11);
    Generator g(test::small_generator_config());
    init_weights(*g);
    return g;
}

/// NED's inference written out plainly: zeros before a segment's first frame, then the last two outputs.
std::map<int64_t, torch::Tensor> reference_outputs(Generator& g, const std::vector<FrameStep>& steps) {
    torch::NoGradGuard ng;
    const auto zero = torch::zeros({1, 3, kS, kS});
    const auto mask = torch::ones({1, 1, kS, kS});
    std::map<int64_t, torch::Tensor> out;
    torch::Tensor older, last;  // outputs of the two previous frames of the segment
    for (const FrameStep& s : steps) {
        if (s.restart) older = last = zero;
        const auto cond =
            torch::cat({FakeSource::cond_of(s.cond[0]), FakeSource::cond_of(s.cond[1]), FakeSource::cond_of(s.cond[2])})
                .unsqueeze(0);
        out[s.frame] = g->forward(cond, torch::cat({older, last}, 1), mask);
        older = last;
        last = out[s.frame];
    }
    return out;
}

/// A fresh pass (no resume file) that a fault handler stops once `k` frames are on disk, as a cancelled run would
/// be; with overlap_writes and k = 7 nothing stops it (its last count is 6). Its faces go to o.output_dirs[0].
void run_stopped_at(Generator& g, const std::vector<FrameStep>& steps, const SequenceOptions& o, int64_t k) {
    set_fault_handler([k](const char* name, int64_t count) {
        if (std::string(name) == "render.frames_done" && count == k) throw std::runtime_error("stop");
    });
    FaceRenderer fr(g, torch::kCPU);
    SequenceRenderer seq(fr, steps, o);
    ASSERT_EQ(seq.first_step(), 0);
    FakeSource source;
    RecordingSink sink;
    sink.dir = o.output_dirs.at(0);
    if (o.overlap_writes && k == static_cast<int64_t>(steps.size()))
        seq.run(source, sink);
    else
        EXPECT_THROW(seq.run(source, sink), std::runtime_error) << "stopped at " << k;
    set_fault_handler({});
}

/// A resumable sequence whose faces go to DIR/faces.
SequenceOptions resumable(const test::TempDir& dir, const std::string& key) {
    SequenceOptions o;
    o.resume_file = dir / "render_resume.safetensors";
    o.resume_key = key;
    o.output_dirs = {dir / "faces"};
    o.crop_size = kS;
    return o;
}

float max_diff(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<float>(); }

// frames 0..3 (a cut at 2), a gap, 5..7
const std::vector<int64_t> kFrames = {0, 1, 2, 3, 5, 6, 7};
const std::vector<int64_t> kCuts = {2};

}  // namespace

TEST(SequenceRenderer, FeedsNedsRingBufferAndRestartsAtGapsAndCuts) {
    HandlerGuard guard;
    Generator g = tiny_generator();
    const std::vector<FrameStep> steps = plan_steps(kFrames, kCuts);
    const auto want = reference_outputs(g, steps);
    // The check can tell a broken ring buffer: the second frame of a segment without its previous output differs.
    {
        torch::NoGradGuard ng;
        const auto cond =
            torch::cat({FakeSource::cond_of(0), FakeSource::cond_of(0), FakeSource::cond_of(1)}).unsqueeze(0);
        const auto no_prev = g->forward(cond, torch::zeros({1, 6, kS, kS}), torch::ones({1, 1, kS, kS}));
        ASSERT_GT(max_diff(no_prev, want.at(1)), 1e-3f);
    }
    for (bool overlap : {false, true}) {
        std::vector<int64_t> counts;
        set_fault_handler([&](const char* name, int64_t count) {
            if (std::string(name) == "render.frames_done") counts.push_back(count);
        });
        FaceRenderer fr(g, torch::kCPU);
        SequenceOptions o;
        o.overlap_writes = overlap;
        SequenceRenderer seq(fr, steps, o);
        FakeSource source;
        RecordingSink sink;
        const SequenceResult r = seq.run(source, sink);
        EXPECT_EQ(r.frames_rendered, 7);
        EXPECT_EQ(r.frames_resumed, 0);
        EXPECT_EQ(r.segments, 3);  // 0, the cut at 2, after the gap at 5
        EXPECT_EQ(source.asked, kFrames) << "each frame's conditioning is asked once, in order";
        EXPECT_EQ(sink.delivered, kFrames);
        for (int64_t t : kFrames) EXPECT_LT(max_diff(sink.stored.at(t), want.at(t)), 1e-5f) << "frame " << t;
        // frames on disk: before each store with overlap, after each without
        const std::vector<int64_t> before_each{0, 1, 2, 3, 4, 5, 6}, after_each{1, 2, 3, 4, 5, 6, 7};
        EXPECT_EQ(counts, overlap ? before_each : after_each);
    }
}

// A pass stopped after k frames (a fault handler that throws, as a cancelled run) continues from the resume file
// with the same ring buffer: the remaining faces equal the uninterrupted pass's bit for bit, and the source is
// asked only from the first frame the next step reads.
TEST(SequenceRenderer, ResumesAfterKFramesWithTheSameRingBuffer) {
    HandlerGuard guard;
    Generator g = tiny_generator();
    const std::vector<FrameStep> steps = plan_steps(kFrames, kCuts);
    test::TempDir dir;
    SequenceOptions o = resumable(dir, "key");
    std::map<int64_t, torch::Tensor> full;
    {
        FaceRenderer fr(g, torch::kCPU);
        SequenceRenderer seq(fr, steps, o);
        FakeSource source;
        RecordingSink sink;
        sink.dir = dir / "faces";
        seq.run(source, sink);
        EXPECT_TRUE(fs::exists(o.resume_file)) << "kept until the caller's job is done";
        seq.remove_resume_file();
        EXPECT_FALSE(fs::exists(o.resume_file));
        full = sink.stored;
    }
    // k = 1: mid-segment (frame 1 reads 0, 0, 1); k = 2: a cut; k = 3: reads 2, 2, 3; k = 4: after the gap;
    // k = 6: the last frame, reading 5, 6, 7; k = 7: everything done.
    const std::map<int64_t, std::vector<int64_t>> asked_after = {{1, {0, 1, 2, 3, 5, 6, 7}},
                                                                 {2, {2, 3, 5, 6, 7}},
                                                                 {3, {2, 3, 5, 6, 7}},
                                                                 {4, {5, 6, 7}},
                                                                 {6, {5, 6, 7}},
                                                                 {7, {}}};
    for (const auto& [k, want_asked] : asked_after) {
        for (bool overlap : {false, true}) {
            const std::string label = "k " + std::to_string(k) + (overlap ? " overlap" : "");
            o.overlap_writes = overlap;
            run_stopped_at(g, steps, o, k);

            FaceRenderer fr(g, torch::kCPU);
            SequenceRenderer second(fr, steps, o);
            ASSERT_EQ(second.first_step(), k) << label;
            FakeSource source;
            RecordingSink sink;
            sink.dir = dir / "faces";
            const SequenceResult r = second.run(source, sink);
            EXPECT_EQ(r.frames_resumed, k) << label;
            EXPECT_EQ(r.frames_rendered, 7 - k) << label;
            EXPECT_EQ(r.segments, 3) << label;
            EXPECT_EQ(source.asked, want_asked) << label;
            for (int64_t i = k; i < 7; ++i) {
                const int64_t t = steps[i].frame;
                EXPECT_TRUE(torch::equal(sink.stored.at(t), full.at(t))) << label << ": frame " << t;
            }
            second.remove_resume_file();
        }
    }
}

// A resume file of other inputs, or one whose frames are not all on disk, is a fresh start that clears the outputs.
TEST(SequenceRenderer, AResumeFileThatDoesNotFitIsAFreshStart) {
    HandlerGuard guard;
    Generator g = tiny_generator();
    const std::vector<FrameStep> steps = plan_steps(kFrames, kCuts);
    test::TempDir dir;
    SequenceOptions o = resumable(dir, "one");
    o.stale_dirs = {dir / "old"};
    run_stopped_at(g, steps, o, 3);
    fs::create_directories(dir / "old");
    std::ofstream(dir / "old/000009.png") << "x";
    o.resume_key = "two";
    FaceRenderer fr(g, torch::kCPU);
    SequenceRenderer other(fr, steps, o);
    EXPECT_EQ(other.first_step(), 0);
    EXPECT_EQ(other.first_conditioned(), 0);
    EXPECT_FALSE(fs::exists(o.resume_file));
    EXPECT_FALSE(fs::exists(dir / "faces/000000.png"));
    EXPECT_FALSE(fs::exists(dir / "old/000009.png"));
    EXPECT_TRUE(fs::is_directory(dir / "faces"));

    // the same key, but a counted face deleted
    o.resume_key = "one";
    run_stopped_at(g, steps, o, 3);
    {
        FaceRenderer fr1(g, torch::kCPU);
        EXPECT_EQ(SequenceRenderer(fr1, steps, o).first_step(), 3);  // the premise
    }
    fs::remove(dir / "faces/000001.png");
    FaceRenderer fr2(g, torch::kCPU);
    EXPECT_EQ(SequenceRenderer(fr2, steps, o).first_step(), 0);
}
