// ned::eval building blocks: exact values from the definitions (no models needed).
#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "ned/eval/eval.hpp"

using namespace ned::eval;

TEST(EvalMetrics, L2DistanceIsThePerPixelRgbNormAveragedOverTheMask) {
    cv::Mat a(4, 5, CV_8UC3, cv::Scalar(10, 20, 30)), b = a.clone();
    b.at<cv::Vec3b>(1, 2) = cv::Vec3b(13, 24, 30);  // |(3,4,0)| = 5
    b.at<cv::Vec3b>(3, 4) = cv::Vec3b(10, 20, 42);  // 12
    const PixelSum all = l2_distance_sum(a, b);
    EXPECT_EQ(all.count, 20);
    EXPECT_DOUBLE_EQ(all.sum, 17.0);
    EXPECT_DOUBLE_EQ(all.mean(), 17.0 / 20);
    cv::Mat mask = cv::Mat::zeros(4, 5, CV_8UC1);
    mask.at<uint8_t>(1, 2) = 255;
    mask.at<uint8_t>(0, 0) = 1;
    const PixelSum m = l2_distance_sum(a, b, mask);
    EXPECT_EQ(m.count, 2);
    EXPECT_DOUBLE_EQ(m.mean(), 2.5);
    EXPECT_EQ(l2_distance_sum(a, a).sum, 0.0);
    EXPECT_TRUE(std::isnan(l2_distance_sum(a, b, cv::Mat::zeros(4, 5, CV_8UC1)).mean()));
}

TEST(EvalMetrics, SquaredErrorAndPsnr) {
    cv::Mat a(2, 2, CV_8UC3, cv::Scalar(0, 0, 0)), b = a.clone();
    b.at<cv::Vec3b>(0, 0) = cv::Vec3b(255, 0, 0);
    const PixelSum s = squared_error_sum(a, b);
    EXPECT_EQ(s.count, 12);
    EXPECT_DOUBLE_EQ(s.sum, 255.0 * 255.0);
    // mse = 255^2 / 12 -> PSNR = 10 log10(12)
    EXPECT_NEAR(psnr_from_mse(s.sum / s.count), 10 * std::log10(12.0), 1e-12);
    EXPECT_TRUE(std::isinf(psnr_from_mse(0.0)));
    EXPECT_NEAR(psnr_from_mse(255.0 * 255.0), 0.0, 1e-12);
}

TEST(EvalMetrics, PearsonAndCosine) {
    const std::vector<double> x = {1, 2, 3, 4, 5}, y = {2, 4, 6, 8, 10.5}, z = {5, 4, 3, 2, 1};
    EXPECT_NEAR(pearson(x, x), 1.0, 1e-15);
    EXPECT_NEAR(pearson(x, z), -1.0, 1e-15);
    EXPECT_GT(pearson(x, y), 0.99);
    EXPECT_LT(pearson(x, y), 1.0);
    EXPECT_TRUE(std::isnan(pearson({1.0}, {2.0})));
    EXPECT_TRUE(std::isnan(pearson({1, 1, 1}, {1, 2, 3})));  // zero variance
    std::array<float, 128> a{}, b{};
    a[0] = 1, a[1] = 1, b[0] = 1;
    EXPECT_NEAR(cosine_similarity(a, b), 1 / std::sqrt(2.0), 1e-7);
    EXPECT_NEAR(cosine_similarity(a, a), 1.0, 1e-15);
}

TEST(EvalMetrics, GaussianAccumulatorMatchesTwoPassStatistics) {
    std::mt19937 rng(3);
    std::normal_distribution<float> nd(0.1f, 0.05f);
    std::vector<std::array<float, 128>> xs(40);
    GaussianAccumulator acc;
    for (auto& x : xs) {
        for (auto& v : x) v = nd(rng);
        acc.add(x);
    }
    std::vector<double> m(128, 0.0);
    for (const auto& x : xs)
        for (int i = 0; i < 128; ++i) m[i] += x[i] / 40.0;
    const auto am = acc.mean();
    const auto ac = acc.covariance();
    for (int i = 0; i < 128; ++i) EXPECT_NEAR(am[i], m[i], 1e-12);
    for (int i : {0, 5, 127})
        for (int j : {0, 77, 127}) {
            double c = 0;
            for (const auto& x : xs) c += (x[i] - m[i]) * (x[j] - m[j]);
            // one-pass formula: cancellation error ~ eps * sum x^2 / n ~ 1e-16 * 0.0125 -> far below 1e-12
            EXPECT_NEAR(ac[i * 128 + j], c / 39.0, 1e-12);
        }
}

TEST(EvalMetrics, FrechetDistanceClosedForms) {
    // Same Gaussian: 0. Diagonal covariances: |dm|^2 + sum (s1 - s2)^2 (the square roots commute).
    const int d = 3;
    std::vector<double> m1 = {0, 1, 2}, m2 = {1, 1, 0};
    std::vector<double> c1(d * d, 0.0), c2(d * d, 0.0);
    const double s1[] = {1, 4, 9}, s2[] = {4, 4, 1};
    for (int i = 0; i < d; ++i) c1[i * d + i] = s1[i] * s1[i], c2[i * d + i] = s2[i] * s2[i];
    EXPECT_NEAR(frechet_distance(m1, c1, m1, c1), 0.0, 1e-9);
    const double expect = 1 + 0 + 4 + (1 - 4) * (1 - 4) + 0 + (9 - 1) * (9 - 1);
    EXPECT_NEAR(frechet_distance(m1, c1, m2, c2), expect, 1e-9);
    // A rotated (non-diagonal) covariance: FD(N(0,R D R^T), N(0,R E R^T)) = sum (sqrt d - sqrt e)^2 too.
    const double c = std::cos(0.3), s = std::sin(0.3);
    const double R[2][2] = {{c, -s}, {s, c}};
    auto rot = [&](double a, double b) {
        std::vector<double> out(4, 0.0);
        for (int i = 0; i < 2; ++i)
            for (int j = 0; j < 2; ++j) out[i * 2 + j] = R[i][0] * a * R[j][0] + R[i][1] * b * R[j][1];
        return out;
    };
    const std::vector<double> z = {0, 0};
    EXPECT_NEAR(frechet_distance(z, rot(4, 1), z, rot(1, 9)), (2 - 1) * (2 - 1) + (1 - 3) * (1 - 3), 1e-9);
}

TEST(EvalMetrics, FaceApiOrderMapsOntoNedNames) {
    // face-api: neutral, happy, sad, angry, fearful, disgusted, surprised
    const std::vector<float> p = {0.0f, 0.1f, 0.2f, 0.3f, 0.15f, 0.05f, 0.2f};
    const auto q = faceapi_to_ned(p);
    const auto& n = ned_emotions();
    ASSERT_EQ(n.size(), 7u);
    auto at = [&](const std::string& name) { return q[std::find(n.begin(), n.end(), name) - n.begin()]; };
    EXPECT_FLOAT_EQ(at("neutral"), 0.0f);
    EXPECT_FLOAT_EQ(at("happy"), 0.1f);
    EXPECT_FLOAT_EQ(at("sad"), 0.2f);
    EXPECT_FLOAT_EQ(at("angry"), 0.3f);
    EXPECT_FLOAT_EQ(at("fear"), 0.15f);
    EXPECT_FLOAT_EQ(at("disgusted"), 0.05f);
    EXPECT_FLOAT_EQ(at("surprised"), 0.2f);
    EXPECT_THROW(faceapi_to_ned({0.5f, 0.5f}), std::exception);
    // FER2013: angry, disgust, fear, happy, sad, surprise, neutral
    const auto f = fer2013_to_ned({0.3f, 0.05f, 0.15f, 0.1f, 0.2f, 0.2f, 0.0f});
    auto atf = [&](const std::string& name) { return f[std::find(n.begin(), n.end(), name) - n.begin()]; };
    EXPECT_FLOAT_EQ(atf("neutral"), 0.0f);
    EXPECT_FLOAT_EQ(atf("angry"), 0.3f);
    EXPECT_FLOAT_EQ(atf("disgusted"), 0.05f);
    EXPECT_FLOAT_EQ(atf("fear"), 0.15f);
    EXPECT_FLOAT_EQ(atf("happy"), 0.1f);
    EXPECT_FLOAT_EQ(atf("sad"), 0.2f);
    EXPECT_FLOAT_EQ(atf("surprised"), 0.2f);
}

TEST(EvalMetrics, DescriptorBoxIsFaceApiMinBboxPadded) {
    const std::vector<cv::Point2f> pts = {{10, 20}, {110, 20}, {60, 220}};
    const cv::Rect2f b = descriptor_box(pts);
    EXPECT_FLOAT_EQ(b.x, 0.f);
    EXPECT_FLOAT_EQ(b.y, 0.f);
    EXPECT_FLOAT_EQ(b.width, 120.f);
    EXPECT_FLOAT_EQ(b.height, 240.f);
}

TEST(EvalMetrics, MouthOpeningAndDistance) {
    ned::face::Landmarks a{};
    for (int i = 0; i < 68; ++i) a[i] = cv::Point2f(static_cast<float>(i), 0.f);
    ned::face::Landmarks b = a;
    // inner lips: 61..63 upper, 65..67 lower; open the mouth by 6 px
    for (int i : {65, 66, 67}) b[i].y += 6.f;
    // gaps before: |61-67| = 6, |62-66| = 4, |63-65| = 2 (x only)
    EXPECT_NEAR(mouth_opening(a), 4.0, 1e-6);
    EXPECT_NEAR(mouth_opening(b), (std::hypot(6.0, 6.0) + std::hypot(4.0, 6.0) + std::hypot(2.0, 6.0)) / 3, 1e-5);
    EXPECT_NEAR(mouth_distance(a, b), 3 * 6.0 / 20, 1e-6);
    EXPECT_EQ(mouth_distance(a, a), 0.0);
}

// The plot's layout (src/eval/report.cpp render_plot): a 30 px title band, then 4 panels of 180 px; each panel's
// plot box spans x = 60 .. width - 150 and y = top + 10 .. bottom - 25; frame i of n sits at x = 60 + i/(n-1) *
// plot width, value v at y = box bottom - (v - lo)/(hi - lo) * box height, with [lo, hi] = [0, 1.05 x the largest
// value] (pixel distances, mouth opening) or [0, 1] (CSIM, probabilities). A curve is broken where a frame is not
// evaluated. The test checks each curve's colour at the positions its values give, that nothing is drawn across
// the gaps, the plot boxes and the legend marks.
namespace {

struct PlotLayout {
    int width;
    static constexpr int kTop = 30, kPanelH = 180, kPadL = 60, kPadR = 150;
    int plot_w() const { return width - kPadL - kPadR; }
    int y0(int p) const { return kTop + p * kPanelH + 10; }
    int y1(int p) const { return kTop + (p + 1) * kPanelH - 25; }
    double x(long i, long n) const { return kPadL + static_cast<double>(i) / (n - 1) * plot_w(); }
    double y(int p, double v, double hi) const { return y1(p) - v / hi * (y1(p) - y0(p)); }
};

// How much of `colour` (BGR) a pixel holds when it is `colour` blended over the white background (1 = exactly the
// curve's colour, 0 = white); -1 when the pixel is not such a blend (another colour, black text or lines).
double curve_alpha(const cv::Mat& img, int x, int y, const cv::Scalar& colour) {
    const cv::Vec3b px = img.at<cv::Vec3b>(y, x);
    int k = 0;
    for (int c = 1; c < 3; ++c)
        if (255 - colour[c] > 255 - colour[k]) k = c;
    const double alpha = (255.0 - px[k]) / (255.0 - colour[k]);
    for (int c = 0; c < 3; ++c)
        if (std::abs(px[c] - (alpha * colour[c] + (1 - alpha) * 255)) > 30) return -1;
    return alpha;
}

// A pixel within `tol` px of (x, y) that is mostly `colour` (alpha >= 0.5: anti-aliased lines spread over two).
bool curve_near(const cv::Mat& img, double x, double y, const cv::Scalar& colour, int tol = 1) {
    for (int dy = -tol; dy <= tol; ++dy)
        for (int dx = -tol; dx <= tol; ++dx)
            if (curve_alpha(img, cvRound(x) + dx, cvRound(y) + dy, colour) >= 0.5) return true;
    return false;
}

// Rows of column x between y0 and y1 (exclusive) that are mostly `colour`.
std::vector<int> curve_rows(const cv::Mat& img, int x, int y0, int y1, const cv::Scalar& colour) {
    std::vector<int> rows;
    for (int y = y0 + 1; y < y1; ++y)
        if (curve_alpha(img, x, y, colour) >= 0.5) rows.push_back(y);
    return rows;
}

bool saturated(const cv::Vec3b& px) { return std::max({px[0], px[1], px[2]}) - std::min({px[0], px[1], px[2]}) > 40; }

}  // namespace

TEST(EvalPlot, CurvesSitWhereTheirValuesPutThemAndBreakAtUnevaluatedFrames) {
    EvalReport r;
    r.original = "a.mp4", r.edited = "b.mp4";
    const long n = 50;
    double mouth_max = 0;
    for (long i = 0; i < n; ++i) {
        FrameMetrics f;
        f.evaluated = i % 10 != 3;  // frames 3, 13, 23, 33, 43: gaps
        f.apd = i, f.fapd = 2 * i, f.mapd = 3 * i, f.csim = 0.9;
        f.mouth_open_original = f.mouth_open_edited = std::sin(i * 0.3) + 2;
        f.probs_original[4] = 0.2, f.probs_edited[4] = 0.8;
        if (f.evaluated) mouth_max = std::max(mouth_max, f.mouth_open_edited);
        r.per_frame.push_back(f);
    }
    r.target = "happy";  // NED index 4
    const cv::Mat img = render_plot(r, 800);
    const PlotLayout L{800};
    ASSERT_EQ(img.cols, 800);
    ASSERT_EQ(img.rows, PlotLayout::kTop + 4 * PlotLayout::kPanelH);
    ASSERT_EQ(img.type(), CV_8UC3);

    const cv::Scalar apd(200, 120, 0), fapd(0, 160, 0), red(0, 0, 220), purple(140, 0, 140), grey(120, 120, 120);
    const double hi0 = 3 * 49 * 1.05, hi2 = mouth_max * 1.05;  // autoscaled panels: 1.05 x the largest value
    // every evaluated frame away from the box edges (curves meet at frame 0 and on the box's bottom line)
    for (long i = 5; i < n - 1; ++i) {
        if (i % 10 == 3) continue;
        const double x = L.x(i, n);
        SCOPED_TRACE("frame " + std::to_string(i));
        EXPECT_TRUE(curve_near(img, x, L.y(0, i, hi0), apd)) << "APD";
        EXPECT_TRUE(curve_near(img, x, L.y(0, 2.0 * i, hi0), fapd)) << "FAPD";
        EXPECT_TRUE(curve_near(img, x, L.y(0, 3.0 * i, hi0), red)) << "MAPD";
        EXPECT_TRUE(curve_near(img, x, L.y(1, 0.9, 1.0), purple)) << "CSIM";
        EXPECT_TRUE(curve_near(img, x, L.y(2, std::sin(i * 0.3) + 2, hi2), red)) << "mouth opening (edited on top)";
        EXPECT_TRUE(curve_near(img, x, L.y(3, 0.8, 1.0), red)) << "P(happy) edited";
        EXPECT_TRUE(curve_near(img, x, L.y(3, 0.2, 1.0), grey)) << "P(happy) original";
        // in this column the curve is drawn only near its value (a line at most 3 px per frame steep here)
        for (int y : curve_rows(img, cvRound(x), L.y0(0), L.y1(0), red))
            EXPECT_NEAR(y, L.y(0, 3.0 * i, hi0), 2.5) << "MAPD pixel away from its value";
        for (int y : curve_rows(img, cvRound(x), L.y0(1), L.y1(1), purple))
            EXPECT_NEAR(y, L.y(1, 0.9, 1.0), 1.0) << "CSIM pixel away from its value";
        for (int y : curve_rows(img, cvRound(x), L.y0(3), L.y1(3), red))
            EXPECT_NEAR(y, L.y(3, 0.8, 1.0), 1.0) << "P(happy) pixel away from its value";
    }
    // nothing coloured between the frames around a gap (the curves end at frame g-1 and restart at g+1)
    for (int p = 0; p < 4; ++p)
        for (long g = 3; g < n; g += 10)
            for (int x = cvRound(L.x(g - 1, n)) + 2; x <= cvRound(L.x(g + 1, n)) - 2; ++x)
                for (int y = L.y0(p) + 1; y < L.y1(p); ++y)
                    ASSERT_FALSE(saturated(img.at<cv::Vec3b>(y, x)))
                        << "panel " << p << ": drawn across the gap at frame " << g << " (x " << x << ", y " << y
                        << ")";
    // each panel's plot box: black lines on its four sides (the curves' ends cover a few of their pixels)
    for (int p = 0; p < 4; ++p) {
        auto black = [&](int x, int y) { return img.at<cv::Vec3b>(y, x) == cv::Vec3b(0, 0, 0); };
        int left = 0, right = 0, top = 0, bottom = 0;
        const int xl = PlotLayout::kPadL, xr = PlotLayout::kPadL + L.plot_w();
        for (int y = L.y0(p); y <= L.y1(p); ++y) left += black(xl, y), right += black(xr, y);
        for (int x = xl; x <= xr; ++x) top += black(x, L.y0(p)), bottom += black(x, L.y1(p));
        const int h = L.y1(p) - L.y0(p) + 1, w = xr - xl + 1;
        EXPECT_GE(left, h - 10) << "panel " << p << " (the curves start on it)";
        EXPECT_GE(right, h - 10) << "panel " << p << " (the curves end on it)";
        EXPECT_GE(top, w - 6) << "panel " << p;
        EXPECT_GE(bottom, w * 9 / 10) << "panel " << p << " (the zero-valued starts of the curves lie on it)";
        // the box line is one pixel wide
        EXPECT_FALSE(black(xl - 1, (L.y0(p) + L.y1(p)) / 2)) << "panel " << p;
    }
    // the legend marks: a 2 px line of each curve's colour right of the box
    const int lx = PlotLayout::kPadL + L.plot_w() + 20;
    auto legend = [&](int p, int c) { return img.at<cv::Vec3b>(L.y0(p) + 18 + 18 * c - 4, lx); };
    EXPECT_EQ(legend(0, 0), cv::Vec3b(200, 120, 0));
    EXPECT_EQ(legend(0, 1), cv::Vec3b(0, 160, 0));
    EXPECT_EQ(legend(0, 2), cv::Vec3b(0, 0, 220));
    EXPECT_EQ(legend(1, 0), cv::Vec3b(140, 0, 140));
    EXPECT_EQ(legend(2, 0), cv::Vec3b(120, 120, 120));
    EXPECT_EQ(legend(2, 1), cv::Vec3b(0, 0, 220));
    EXPECT_EQ(legend(3, 0), cv::Vec3b(120, 120, 120));
    EXPECT_EQ(legend(3, 1), cv::Vec3b(0, 0, 220));
}
