#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

#include "ned/core/parallel.hpp"

TEST(ParallelFor, VisitsEveryIndexOnceForAnyThreadCount) {
    for (int threads : {0, 1, 2, 5}) {
        std::vector<int> hits(37, 0);
        ned::parallel_for(37, threads, [&](int64_t i) { hits[i] += 1; });
        for (int h : hits) EXPECT_EQ(h, 1) << "threads " << threads;
    }
    ned::parallel_for(0, 4, [](int64_t) { FAIL() << "no index for n = 0"; });
}

TEST(ParallelFor, RethrowsTheWorkersException) {
    EXPECT_THROW(ned::parallel_for(20, 2,
                                   [](int64_t i) {
                                       if (i == 7) throw std::runtime_error("frame 7");
                                   }),
                 std::runtime_error);
}
