#include "facenet/tf_ops.hpp"

#include <algorithm>
#include <cmath>

#include "ned/core/error.hpp"

namespace ned::facenet {

namespace F = torch::nn::functional;

torch::Tensor conv_filter(const torch::Tensor& tf) { return tf.permute({3, 2, 0, 1}).contiguous(); }

torch::Tensor depthwise_filter(const torch::Tensor& tf) {
    return tf.permute({2, 3, 0, 1}).reshape({tf.size(2) * tf.size(3), 1, tf.size(0), tf.size(1)}).contiguous();
}

namespace {
/// TF 'SAME' padding amounts (before, after) for one spatial dimension.
std::pair<int64_t, int64_t> same_pad(int64_t in, int64_t k, int64_t stride) {
    const int64_t out = (in + stride - 1) / stride;
    const int64_t total = std::max<int64_t>((out - 1) * stride + k - in, 0);
    return {total / 2, total - total / 2};
}
}  // namespace

torch::Tensor pad_same(const torch::Tensor& x, int64_t kh, int64_t kw, int64_t sh, int64_t sw, double value) {
    const auto [t, b] = same_pad(x.size(2), kh, sh);
    const auto [l, r] = same_pad(x.size(3), kw, sw);
    if (t == 0 && b == 0 && l == 0 && r == 0) return x;
    return F::pad(x, F::PadFuncOptions({l, r, t, b}).value(value));
}

torch::Tensor Conv::operator()(const torch::Tensor& x) const {
    const torch::Tensor in = same ? pad_same(x, w.size(2), w.size(3), stride, stride) : x;
    return F::conv2d(in, w, F::Conv2dFuncOptions().bias(b).stride(stride).groups(groups));
}

Conv make_conv(const torch::Tensor& tf_filter, const torch::Tensor& bias, int64_t stride, bool same) {
    return Conv{conv_filter(tf_filter), bias.defined() ? bias.contiguous() : bias, stride, same, 1};
}

Conv make_depthwise(const torch::Tensor& tf_filter, int64_t stride) {
    return Conv{depthwise_filter(tf_filter), {}, stride, true, tf_filter.size(2)};
}

torch::Tensor chan(const torch::Tensor& v) { return v.reshape({1, -1, 1, 1}).contiguous(); }

torch::Tensor resize_bilinear_rgb(const cv::Mat& bgr, const ResizeSource& src, const cv::Size& out, double divisor) {
    torch::Tensor t = torch::empty({1, 3, out.height, out.width}, torch::kFloat32);
    float* dst = t.data_ptr<float>();
    const cv::Rect& r = src.crop;
    auto pixel = [&](int py, int px, int c) -> double {  // canvas coordinates -> value (RGB channel c)
        const int iy = py - src.offset.y, ix = px - src.offset.x;
        if (iy < 0 || ix < 0 || iy >= r.height || ix >= r.width) return 0.0;
        return double(float(double(bgr.ptr<cv::Vec3b>(r.y + iy)[r.x + ix][2 - c]) / divisor));
    };
    const double ry = double(src.canvas.height) / out.height, rx = double(src.canvas.width) / out.width;
    const size_t plane = size_t(out.height) * out.width;
    for (int oy = 0; oy < out.height; ++oy) {
        const double sy = ry * oy;
        const int y0 = std::max(0, int(std::floor(sy)));
        const double fy = sy - y0;
        const int y1 = std::min(src.canvas.height - 1, int(std::ceil(sy)));
        for (int ox = 0; ox < out.width; ++ox) {
            const double sx = rx * ox;
            const int x0 = std::max(0, int(std::floor(sx)));
            const double fx = sx - x0;
            const int x1 = std::min(src.canvas.width - 1, int(std::ceil(sx)));
            for (int c = 0; c < 3; ++c) {
                const double tl = pixel(y0, x0, c), tr = pixel(y0, x1, c);
                const double bl = pixel(y1, x0, c), br = pixel(y1, x1, c);
                const double top = tl + (tr - tl) * fx, bottom = bl + (br - bl) * fx;
                dst[c * plane + size_t(oy) * out.width + ox] = float(top + (bottom - top) * fy);
            }
        }
    }
    return t;
}

namespace {

/// tfjs-core's intersectionOverUnion: corners sorted, in double, 0 when either box is empty.
double iou_tfjs(const float* a, const float* b) {
    const double ya0 = std::min(a[0], a[2]), xa0 = std::min(a[1], a[3]);
    const double ya1 = std::max(a[0], a[2]), xa1 = std::max(a[1], a[3]);
    const double yb0 = std::min(b[0], b[2]), xb0 = std::min(b[1], b[3]);
    const double yb1 = std::max(b[0], b[2]), xb1 = std::max(b[1], b[3]);
    const double area_a = (ya1 - ya0) * (xa1 - xa0), area_b = (yb1 - yb0) * (xb1 - xb0);
    if (area_a <= 0 || area_b <= 0) return 0.0;
    const double inter =
        std::max(std::min(ya1, yb1) - std::max(ya0, yb0), 0.0) * std::max(std::min(xa1, xb1) - std::max(xa0, xb0), 0.0);
    return inter / (area_a + area_b - inter);
}

/// Ordered corners, extents clamped at 0 in float32; 0 when the union is empty.
double iou_plain(const float* a, const float* b) {
    const double area_a = double(std::max(a[2] - a[0], 0.f)) * std::max(a[3] - a[1], 0.f);
    const double area_b = double(std::max(b[2] - b[0], 0.f)) * std::max(b[3] - b[1], 0.f);
    const double iw = std::max(0.0, double(std::min(a[2], b[2])) - std::max(a[0], b[0]));
    const double ih = std::max(0.0, double(std::min(a[3], b[3])) - std::max(a[1], b[1]));
    const double inter = iw * ih, uni = area_a + area_b - inter;
    return uni <= 0 ? 0.0 : inter / uni;
}

struct Candidate {
    double score;
    int64_t idx;
};

/// tfjs-core's suppression of one candidate against the kept boxes (newest first): its score decays to 0 on an
/// IoU above the threshold; it is kept when the score is unchanged.
bool kept_by_tfjs(Candidate c, const std::vector<int64_t>& kept, const float* boxes, const NmsOptions& o) {
    const double original = c.score;
    for (size_t j = kept.size(); j-- > 0;) {
        const double v = iou_tfjs(boxes + 4 * c.idx, boxes + 4 * kept[j]);
        if (v == 0.0) continue;
        c.score *= v <= o.iou_threshold ? 1.0 : 0.0;
        if (c.score <= o.score_threshold) break;
    }
    return original == c.score;
}

bool kept_by_plain(const Candidate& c, const std::vector<int64_t>& kept, const float* boxes, const NmsOptions& o) {
    for (int64_t k : kept)
        if (iou_plain(boxes + 4 * c.idx, boxes + 4 * k) > o.iou_threshold) return false;
    return true;
}

}  // namespace

std::vector<int64_t> non_max_suppression(const torch::Tensor& boxes, const torch::Tensor& scores, const NmsOptions& o) {
    NED_CHECK(boxes.dim() == 2 && boxes.size(1) == 4 && scores.dim() == 1 && scores.size(0) == boxes.size(0), "boxes ",
              boxes.sizes(), ", scores ", scores.sizes());
    const torch::Tensor b = boxes.contiguous(), s = scores.contiguous();
    const float* bx = b.data_ptr<float>();
    const float* sc = s.data_ptr<float>();
    const int64_t n = scores.size(0);
    std::vector<Candidate> cand;
    for (int64_t i = 0; i < n; ++i)
        if (double(sc[i]) > double(o.score_threshold)) cand.push_back({double(sc[i]), i});
    std::stable_sort(cand.begin(), cand.end(),
                     [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
    const size_t max_boxes = std::min<size_t>(o.max_boxes, size_t(n));
    std::vector<int64_t> kept;
    for (const Candidate& c : cand) {
        if (kept.size() >= max_boxes) break;
        const bool keep =
            o.flavour == NmsFlavour::TfjsCore ? kept_by_tfjs(c, kept, bx, o) : kept_by_plain(c, kept, bx, o);
        if (keep) kept.push_back(c.idx);
    }
    return kept;
}

}  // namespace ned::facenet
