// The plan of the streamed render pass (src/pipeline/stream_render.hpp): a resumed pass conditions its frames in
// the same batches as an uninterrupted one. The end-to-end bit-exactness of resume is checked in
// tests/cli/test_cli_translate.cpp (ResumeAfterAKillAnywhereEqualsAnUninterruptedRun).
#include <gtest/gtest.h>

#include <set>

#include "pipeline/stream_render.hpp"

using ned::pipeline::conditioning_batches;

TEST(StreamRender, ResumedPassConditionsInTheBatchesOfAnUninterruptedOne) {
    for (int64_t total : {1, 10, 16, 17, 60, 100}) {
        const auto full = conditioning_batches(0, total, 16);
        const std::set<std::pair<int64_t, int64_t>> full_set(full.begin(), full.end());
        // The uninterrupted pass covers every step once, in order.
        int64_t next = 0;
        for (const auto& [b, e] : full) {
            EXPECT_EQ(b, next);
            EXPECT_GT(e, b);
            EXPECT_LE(e - b, 16);
            next = e;
        }
        EXPECT_EQ(next, total);
        for (int64_t first = 0; first < total; ++first) {
            const auto resumed = conditioning_batches(first, total, 16);
            ASSERT_FALSE(resumed.empty()) << total << " " << first;
            EXPECT_LE(resumed.front().first, first) << "step " << first << " is not conditioned";
            EXPECT_EQ(resumed.back().second, total);
            for (const auto& batch : resumed)
                EXPECT_TRUE(full_set.count(batch))
                    << "resumed at " << first << " of " << total << ": batch [" << batch.first << ", " << batch.second
                    << ") is not a batch of the uninterrupted pass";
        }
    }
    EXPECT_TRUE(conditioning_batches(5, 5, 16).empty());
}
