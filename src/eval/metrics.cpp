// Building blocks of ned::eval: pixel distances, PSNR, correlation, descriptor statistics, Frechet distance.
#include <Eigen/Dense>

#include <algorithm>
#include <cmath>
#include <limits>

#include "ned/core/error.hpp"
#include "ned/eval/eval.hpp"

namespace ned::eval {

const std::vector<std::string>& ned_emotions() {
    static const std::vector<std::string> names = {"neutral", "angry", "disgusted", "fear",
                                                   "happy",   "sad",   "surprised"};
    return names;
}

std::array<double, 7> faceapi_to_ned(const std::vector<float>& p) {
    NED_CHECK(p.size() == 7, "expected 7 expression probabilities, got ", p.size());
    // face-api: 0 neutral, 1 happy, 2 sad, 3 angry, 4 fearful, 5 disgusted, 6 surprised
    // NED:      0 neutral, 1 angry, 2 disgusted, 3 fear, 4 happy, 5 sad, 6 surprised
    return {p[0], p[3], p[5], p[4], p[1], p[2], p[6]};
}

std::array<double, 7> fer2013_to_ned(const std::vector<float>& p) {
    NED_CHECK(p.size() == 7, "expected 7 FER2013 probabilities, got ", p.size());
    // FER2013: 0 angry, 1 disgust, 2 fear, 3 happy, 4 sad, 5 surprise, 6 neutral
    return {p[6], p[0], p[1], p[2], p[3], p[4], p[5]};
}

namespace {
void check_pair(const cv::Mat& a, const cv::Mat& b, const cv::Mat& mask) {
    NED_CHECK(a.size() == b.size() && a.type() == b.type() && a.type() == CV_8UC3,
              "pixel metrics need two images of the same size, 8-bit BGR");
    NED_CHECK(mask.empty() || (mask.size() == a.size() && mask.type() == CV_8UC1), "mask must be u8 of the image size");
}

/// Sums pixel(pa, pb) over the BGR pixels where mask != 0 (pa, pb: the pixel's 3 bytes in a and b), each row
/// first in a `Row` and then into the double total; count grows by `per_pixel` per pixel.
template <typename Row, typename PixelFn>
PixelSum masked_pixel_sum(const cv::Mat& a, const cv::Mat& b, const cv::Mat& mask, long per_pixel, PixelFn pixel) {
    check_pair(a, b, mask);
    PixelSum s;
    for (int y = 0; y < a.rows; ++y) {
        const uint8_t* pa = a.ptr<uint8_t>(y);
        const uint8_t* pb = b.ptr<uint8_t>(y);
        const uint8_t* pm = mask.empty() ? nullptr : mask.ptr<uint8_t>(y);
        Row row = 0;
        long n = 0;
        for (int x = 0; x < a.cols; ++x) {
            if (pm && !pm[x]) continue;
            row += pixel(pa + 3 * x, pb + 3 * x);
            n += per_pixel;
        }
        s.sum += static_cast<double>(row);
        s.count += n;
    }
    return s;
}
}  // namespace

PixelSum l2_distance_sum(const cv::Mat& a, const cv::Mat& b, const cv::Mat& mask) {
    return masked_pixel_sum<double>(a, b, mask, 1, [](const uint8_t* pa, const uint8_t* pb) {
        const int d0 = pa[0] - pb[0], d1 = pa[1] - pb[1], d2 = pa[2] - pb[2];
        const int sq = d0 * d0 + d1 * d1 + d2 * d2;
        return sq ? std::sqrt(static_cast<double>(sq)) : 0.0;  // (adding 0.0 leaves the row sum as it was)
    });
}

PixelSum squared_error_sum(const cv::Mat& a, const cv::Mat& b, const cv::Mat& mask) {
    return masked_pixel_sum<long>(a, b, mask, 3, [](const uint8_t* pa, const uint8_t* pb) {
        long sq = 0;
        for (int c = 0; c < 3; ++c) {
            const int d = pa[c] - pb[c];
            sq += d * d;
        }
        return sq;
    });
}

double psnr_from_mse(double mse) {
    if (!(mse >= 0)) return NAN;
    if (mse == 0) return std::numeric_limits<double>::infinity();
    return 10.0 * std::log10(255.0 * 255.0 / mse);
}

double pearson(const std::vector<double>& a, const std::vector<double>& b) {
    NED_CHECK(a.size() == b.size(), "pearson: series of different lengths");
    const size_t n = a.size();
    if (n < 2) return NAN;
    double ma = 0, mb = 0;
    for (size_t i = 0; i < n; ++i) ma += a[i], mb += b[i];
    ma /= n, mb /= n;
    double sab = 0, saa = 0, sbb = 0;
    for (size_t i = 0; i < n; ++i) {
        sab += (a[i] - ma) * (b[i] - mb);
        saa += (a[i] - ma) * (a[i] - ma);
        sbb += (b[i] - mb) * (b[i] - mb);
    }
    if (saa <= 0 || sbb <= 0) return NAN;
    return std::clamp(sab / std::sqrt(saa * sbb), -1.0, 1.0);
}

double cosine_similarity(const std::array<float, 128>& a, const std::array<float, 128>& b) {
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < 128; ++i) {
        ab += static_cast<double>(a[i]) * b[i];
        aa += static_cast<double>(a[i]) * a[i];
        bb += static_cast<double>(b[i]) * b[i];
    }
    if (aa <= 0 || bb <= 0) return NAN;
    return std::clamp(ab / std::sqrt(aa * bb), -1.0, 1.0);
}

void GaussianAccumulator::add(const std::array<float, 128>& x) {
    ++n_;
    for (int i = 0; i < 128; ++i) {
        sum_[i] += x[i];
        double* row = &outer_[i * 128];
        const double xi = x[i];
        for (int j = 0; j < 128; ++j) row[j] += xi * x[j];
    }
}

std::vector<double> GaussianAccumulator::mean() const {
    std::vector<double> m(128, 0.0);
    if (n_ == 0) return m;
    for (int i = 0; i < 128; ++i) m[i] = sum_[i] / n_;
    return m;
}

std::vector<double> GaussianAccumulator::covariance() const {
    std::vector<double> c(128 * 128, 0.0);
    if (n_ < 2) return c;
    const auto m = mean();
    // (sum x x^T - n m m^T) / (n - 1); descriptors have |x| ~ 1, so double keeps ~1e-12 relative accuracy here.
    for (int i = 0; i < 128; ++i)
        for (int j = 0; j < 128; ++j) c[i * 128 + j] = (outer_[i * 128 + j] - n_ * m[i] * m[j]) / (n_ - 1);
    return c;
}

double frechet_distance(const std::vector<double>& m1, const std::vector<double>& c1, const std::vector<double>& m2,
                        const std::vector<double>& c2) {
    const size_t d = m1.size();
    NED_CHECK(m2.size() == d && c1.size() == d * d && c2.size() == d * d, "frechet_distance: inconsistent sizes");
    using Mat = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    const Eigen::Map<const Mat> C1(c1.data(), d, d), C2(c2.data(), d, d);
    const Eigen::Map<const Eigen::VectorXd> M1(m1.data(), d), M2(m2.data(), d);
    const Mat S1 = 0.5 * (C1 + C1.transpose()), S2 = 0.5 * (C2 + C2.transpose());
    Eigen::SelfAdjointEigenSolver<Mat> e1(S1);
    const Eigen::VectorXd ev1 = e1.eigenvalues().cwiseMax(0.0).cwiseSqrt();
    const Mat sqrt1 = e1.eigenvectors() * ev1.asDiagonal() * e1.eigenvectors().transpose();
    const Mat inner = sqrt1 * S2 * sqrt1;
    Eigen::SelfAdjointEigenSolver<Mat> e2(0.5 * (inner + inner.transpose()), Eigen::EigenvaluesOnly);
    const double tr_sqrt = e2.eigenvalues().cwiseMax(0.0).cwiseSqrt().sum();
    const double fd = (M1 - M2).squaredNorm() + S1.trace() + S2.trace() - 2.0 * tr_sqrt;
    return std::max(0.0, fd);
}

cv::Rect2f descriptor_box(const std::vector<cv::Point2f>& pts) {
    NED_CHECK(!pts.empty(), "descriptor_box: no landmarks");
    float x0 = pts[0].x, x1 = pts[0].x, y0 = pts[0].y, y1 = pts[0].y;
    for (const auto& p : pts) {
        x0 = std::min(x0, p.x), x1 = std::max(x1, p.x);
        y0 = std::min(y0, p.y), y1 = std::max(y1, p.y);
    }
    const float w = x1 - x0, h = y1 - y0;
    // face-api Box.pad(padX, padY): x - padX / 2, width + padX, with padX = 0.2 * width.
    return {x0 - 0.1f * w, y0 - 0.1f * h, 1.2f * w, 1.2f * h};
}

double mouth_opening(const face::Landmarks& p) {
    return (cv::norm(p[61] - p[67]) + cv::norm(p[62] - p[66]) + cv::norm(p[63] - p[65])) / 3.0;
}

double mouth_distance(const face::Landmarks& a, const face::Landmarks& b) {
    double s = 0;
    for (int i = 48; i < 68; ++i) s += cv::norm(a[i] - b[i]);
    return s / 20.0;
}

}  // namespace ned::eval
