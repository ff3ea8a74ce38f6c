#include "ned/blend/laplacian_blend.hpp"

#include <opencv2/imgproc.hpp>

#include <vector>

#include "ned/core/error.hpp"

namespace ned::blend {

namespace {
std::vector<cv::Mat> gaussian_pyramid(const cv::Mat& img, int levels) {
    std::vector<cv::Mat> g{img};
    for (int i = 0; i < levels; ++i) {
        cv::Mat d;
        cv::pyrDown(g.back(), d);
        g.push_back(d);
    }
    return g;
}
std::vector<cv::Mat> laplacian_pyramid(const std::vector<cv::Mat>& g) {
    std::vector<cv::Mat> l(g.size());
    for (size_t i = 0; i + 1 < g.size(); ++i) {
        cv::Mat up;
        cv::pyrUp(g[i + 1], up, g[i].size());
        cv::subtract(g[i], up, l[i]);
    }
    l.back() = g.back();
    return l;
}
/// a*(1-m) + b*m with a one-channel mask m.
cv::Mat mix(const cv::Mat& a, const cv::Mat& b, const cv::Mat& m) {
    cv::Mat m3;
    if (a.channels() == 1)
        m3 = m;
    else
        cv::merge(std::vector<cv::Mat>(a.channels(), m), m3);
    cv::Mat out = b - a;
    cv::multiply(out, m3, out);
    out += a;
    return out;
}
}  // namespace

cv::Mat laplacian_blend(const cv::Mat& a, const cv::Mat& b, const cv::Mat& m, int levels) {
    NED_CHECK(a.size() == b.size() && a.size() == m.size(), "laplacian_blend: sizes differ: ", a.size(), " ", b.size(),
              " ", m.size());
    NED_CHECK(a.type() == b.type() && a.depth() == CV_32F, "laplacian_blend: a and b must be the same float type");
    NED_CHECK(m.type() == CV_32FC1, "laplacian_blend: mask must be CV_32FC1");
    if (levels < 0) throw InputError(cat("pyramid levels must be >= 0 (got ", levels, ")"));
    // Never go below 1 pixel.
    int max_levels = 0;
    for (int s = std::min(a.rows, a.cols); s > 1; s = (s + 1) / 2) ++max_levels;
    levels = std::min(levels, max_levels);
    if (levels == 0) return mix(a, b, m);
    const auto la = laplacian_pyramid(gaussian_pyramid(a, levels));
    const auto lb = laplacian_pyramid(gaussian_pyramid(b, levels));
    const auto gm = gaussian_pyramid(m, levels);
    cv::Mat r = mix(la.back(), lb.back(), gm.back());
    for (int i = levels - 1; i >= 0; --i) {
        cv::Mat up;
        cv::pyrUp(r, up, la[i].size());
        r = up + mix(la[i], lb[i], gm[i]);
    }
    return r;
}

}  // namespace ned::blend
