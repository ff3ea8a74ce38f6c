#include "ned/manip/style.hpp"

#include <algorithm>
#include <cmath>

#include "ned/core/error.hpp"

namespace ned::manip {

std::vector<double> geometric_median(const std::vector<std::vector<double>>& X, double eps, int max_iter) {
    NED_CHECK(!X.empty(), "geometric median of an empty set");
    const size_t n = X.size(), d = X[0].size();
    for (const auto& x : X) NED_CHECK(x.size() == d, "points of different dimension ", x.size(), " vs ", d);
    std::vector<double> y(d, 0.0);
    for (const auto& x : X)
        for (size_t k = 0; k < d; ++k) y[k] += x[k];
    for (auto& v : y) v /= static_cast<double>(n);

    auto dist = [d](const std::vector<double>& a, const std::vector<double>& b) {
        double s = 0;
        for (size_t k = 0; k < d; ++k) s += (a[k] - b[k]) * (a[k] - b[k]);
        return std::sqrt(s);
    };
    std::vector<double> T(d), y1(d);
    for (int it = 0; it < max_iter; ++it) {
        double dinv_sum = 0;
        std::fill(T.begin(), T.end(), 0.0);
        size_t zeros = 0;
        for (const auto& x : X) {
            const double D = dist(x, y);
            if (D == 0) {
                ++zeros;
                continue;
            }
            const double w = 1.0 / D;
            dinv_sum += w;
            for (size_t k = 0; k < d; ++k) T[k] += w * x[k];
        }
        if (zeros == n) return y;
        for (auto& v : T) v /= dinv_sum;
        if (zeros == 0) {
            y1 = T;
        } else {
            // R = (T - y) * sum(1/D); r = |R|; y1 = max(0, 1 - z/r) T + min(1, z/r) y
            double r2 = 0;
            for (size_t k = 0; k < d; ++k) r2 += ((T[k] - y[k]) * dinv_sum) * ((T[k] - y[k]) * dinv_sum);
            const double r = std::sqrt(r2);
            const double rinv = r == 0 ? 0.0 : static_cast<double>(zeros) / r;
            for (size_t k = 0; k < d; ++k) y1[k] = std::max(0.0, 1 - rinv) * T[k] + std::min(1.0, rinv) * y[k];
        }
        if (dist(y, y1) < eps) return y1;
        y = y1;
    }
    return y;
}

std::vector<double> overlap_weights(int n) {
    NED_CHECK(n >= 1, "window length ", n);
    const double sigma = 0.3 * ((n - 1) * 0.5 - 1) + 0.8;
    std::vector<double> w(n);
    double sum = 0;
    for (int i = 0; i < n; ++i) {
        const double x = i - (n - 1) * 0.5;
        w[i] = std::exp(-x * x / (2 * sigma * sigma));
        sum += w[i];
    }
    for (auto& v : w) v /= sum;
    return w;
}

OverlapAdder::OverlapAdder(int T, int n, int dim)
    : T_(T), n_(n), dim_(dim), w_(overlap_weights(n)), acc_(static_cast<size_t>(T) * dim, 0.0) {
    NED_CHECK(T >= n && n >= 2 && dim >= 1, "overlap-add needs T >= n >= 2, got T=", T, " n=", n);
}

void OverlapAdder::add(int i, const float* window) {
    NED_CHECK(i >= 0 && i <= T_ - n_, "window ", i, " outside 0..", T_ - n_);
    for (int t = 0; t < n_; ++t) {
        const float* src = window + static_cast<size_t>(t) * dim_;
        double* dst = acc_.data() + static_cast<size_t>(i + t) * dim_;
        for (int k = 0; k < dim_; ++k) dst[k] += w_[t] * src[k];
    }
    if (i == 0) first_.assign(window, window + static_cast<size_t>(n_) * dim_);
    if (i == T_ - n_) last_.assign(window, window + static_cast<size_t>(n_) * dim_);
}

std::vector<float> OverlapAdder::result() const {
    NED_CHECK(!first_.empty() && !last_.empty(), "overlap-add: first or last window missing");
    std::vector<float> out(acc_.begin(), acc_.end());
    // Edge rule: first n-1 frames from window 0 (rows 0..n-2), then the last n-1 frames from the last window
    // (rows 1..n-1); the latter wins where they overlap (NED's order).
    std::copy_n(first_.data(), static_cast<size_t>(n_ - 1) * dim_, out.data());
    std::copy_n(last_.data() + dim_, static_cast<size_t>(n_ - 1) * dim_,
                out.data() + static_cast<size_t>(T_ - n_ + 1) * dim_);
    return out;
}

std::vector<float> overlap_add(const std::vector<float>& windows, int T, int n, int dim) {
    OverlapAdder a(T, n, dim);
    const int W = T - n + 1;
    NED_CHECK(static_cast<int64_t>(windows.size()) == static_cast<int64_t>(W) * n * dim,
              "overlap_add: ", windows.size(), " values for ", W, " windows");
    for (int i = 0; i < W; ++i) a.add(i, windows.data() + static_cast<size_t>(i) * n * dim);
    return a.result();
}

}  // namespace ned::manip
