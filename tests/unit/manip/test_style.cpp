#include <gtest/gtest.h>

#include <cmath>

#include "ned/manip/style.hpp"

using namespace ned::manip;

TEST(ManipStyle, GeometricMedianOnePoint) {
    auto m = geometric_median({{1.5, -2.0, 3.0}});
    EXPECT_DOUBLE_EQ(m[0], 1.5);
    EXPECT_DOUBLE_EQ(m[1], -2.0);
    EXPECT_DOUBLE_EQ(m[2], 3.0);
}

TEST(ManipStyle, GeometricMedianAllEqual) {
    auto m = geometric_median({{2, 2}, {2, 2}, {2, 2}, {2, 2}});
    EXPECT_DOUBLE_EQ(m[0], 2);
    EXPECT_DOUBLE_EQ(m[1], 2);
}

TEST(ManipStyle, GeometricMedianCollinearIsTheMiddlePoint) {
    // On a line the geometric median of an odd set is the 1-D median (not the mean 3.4).
    auto m = geometric_median({{0, 0}, {1, 1}, {2, 2}, {7, 7}, {7, 7}});
    EXPECT_NEAR(m[0], 2.0, 1e-3);
    EXPECT_NEAR(m[1], 2.0, 1e-3);
}

TEST(ManipStyle, GeometricMedianDuplicatesPullTheMedianOntoThem) {
    // Three copies of the origin against two spread points: the median is the origin (weight 3 > 2),
    // reached through the zero-distance (Vardi-Zhang) branch.
    auto m = geometric_median({{0, 0}, {0, 0}, {0, 0}, {10, 0}, {0, 10}});
    EXPECT_NEAR(m[0], 0.0, 1e-4);
    EXPECT_NEAR(m[1], 0.0, 1e-4);
}

TEST(ManipStyle, GeometricMedianTriangleIsFermatPoint) {
    // Equilateral triangle: the Fermat point is the centroid.
    const double h = std::sqrt(3.0) / 2;
    auto m = geometric_median({{0, 0}, {1, 0}, {0.5, h}});
    EXPECT_NEAR(m[0], 0.5, 1e-4);
    EXPECT_NEAR(m[1], h / 3, 1e-4);
    // Robust to an outlier, unlike the mean.
    auto r = geometric_median({{0, 0}, {0.1, 0}, {0, 0.1}, {0.1, 0.1}, {100, 100}});
    EXPECT_LT(std::abs(r[0]), 0.2);
}

TEST(ManipStyle, GaussianWeightsAreOpenCvs) {
    const auto w = overlap_weights(10);
    const double ned[10] = {0.011263, 0.036243, 0.087077, 0.156204, 0.209212,
                            0.209212, 0.156204, 0.087077, 0.036243, 0.011263};
    double sum = 0;
    for (int i = 0; i < 10; ++i) {
        EXPECT_NEAR(w[i], ned[i], 1e-6) << i;
        sum += w[i];
    }
    EXPECT_NEAR(sum, 1.0, 1e-12);
}

TEST(ManipStyle, OverlapAddInteriorIsWeightedSumAndEdgesFollowNed) {
    const int T = 25, n = 10, dim = 2, W = T - n + 1;
    // Window i outputs value 100*i + t in channel 0 and a constant 1 in channel 1.
    std::vector<float> win(static_cast<size_t>(W) * n * dim);
    for (int i = 0; i < W; ++i)
        for (int t = 0; t < n; ++t) {
            win[(i * n + t) * dim + 0] = 100.f * i + t;
            win[(i * n + t) * dim + 1] = 1.f;
        }
    const auto out = overlap_add(win, T, n, dim);
    const auto w = overlap_weights(n);
    for (int f = 0; f < T; ++f) {
        if (f < n - 1) {  // window 0, row f
            EXPECT_FLOAT_EQ(out[f * dim], static_cast<float>(f));
        } else if (f >= T - (n - 1)) {  // last window, row f - (W-1)
            EXPECT_FLOAT_EQ(out[f * dim], 100.f * (W - 1) + (f - (W - 1)));
        } else {
            double e = 0;
            for (int i = f - n + 1; i <= f; ++i) e += w[f - i] * (100.0 * i + (f - i));
            EXPECT_NEAR(out[f * dim], e, 1e-3);
            EXPECT_NEAR(out[f * dim + 1], 1.0, 1e-6);  // interior frames get the full weight sum 1
        }
    }
}

TEST(ManipStyle, OverlapAddSingleWindowIsThatWindow) {
    std::vector<float> win(10 * 3);
    for (size_t i = 0; i < win.size(); ++i) win[i] = static_cast<float>(i) * 0.5f;
    EXPECT_EQ(overlap_add(win, 10, 10, 3), win);
}
