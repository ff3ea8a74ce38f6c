// Umeyama similarity onto NED's template (ned-reference §1.4, §1.7).
#include "ned/face/alignment.hpp"

#include <Eigen/Dense>
#include <opencv2/imgproc.hpp>

#include "ned/core/error.hpp"

namespace ned::face {

const Landmarks& ned_template() {
    // preprocessing/files/template.gz of NED, verbatim (pixels of the 256x256 crop).
    // clang-format off
    static const Landmarks t = {{
        // jaw 0-16
        {57, 113}, {60, 133}, {62, 149}, {67, 166}, {72, 182}, {83, 197}, {93, 204}, {105, 215}, {128, 220},
        {148, 215}, {159, 204}, {169, 197}, {176, 182}, {181, 164}, {184, 146}, {186, 131}, {186, 111},
        // brows 17-26
        {70, 93}, {77, 85}, {88, 85}, {98, 85}, {108, 88}, {143, 88}, {153, 85}, {164, 85}, {174, 85}, {179, 93},
        // nose 27-35
        {126, 111}, {126, 126}, {126, 138}, {126, 149}, {115, 154}, {121, 156}, {128, 159}, {133, 156},
        {138, 154},
        // eyes 36-47
        {83, 111}, {90, 106}, {98, 106}, {108, 111}, {100, 113}, {90, 113}, {143, 111}, {153, 106}, {161, 106},
        {166, 108}, {161, 113}, {151, 113},
        // mouth 48-67
        {100, 174}, {110, 171}, {123, 169}, {128, 169}, {133, 169}, {146, 169}, {153, 174}, {146, 179},
        {136, 184}, {128, 184}, {121, 184}, {110, 182}, {100, 174}, {121, 174}, {128, 174}, {136, 174},
        {151, 174}, {136, 176}, {128, 176}, {121, 176},
    }};
    // clang-format on
    return t;
}

cv::Matx23d umeyama(const std::vector<cv::Point2d>& src, const std::vector<cv::Point2d>& dst, bool estimate_scale) {
    NED_CHECK(src.size() == dst.size() && src.size() >= 2, "umeyama needs two equal point sets of >= 2, got ",
              src.size(), " and ", dst.size());
    const int n = static_cast<int>(src.size());
    Eigen::Matrix<double, 2, Eigen::Dynamic> S(2, n), D(2, n);
    for (int i = 0; i < n; ++i) {
        S(0, i) = src[i].x;
        S(1, i) = src[i].y;
        D(0, i) = dst[i].x;
        D(1, i) = dst[i].y;
    }
    const Eigen::Vector2d ms = S.rowwise().mean(), md = D.rowwise().mean();
    const Eigen::Matrix<double, 2, Eigen::Dynamic> Sc = S.colwise() - ms, Dc = D.colwise() - md;
    const Eigen::Matrix2d A = Dc * Sc.transpose() / n;  // covariance dst x src
    Eigen::Vector2d d(1.0, 1.0);
    if (A.determinant() < 0) d(1) = -1.0;
    Eigen::JacobiSVD<Eigen::Matrix2d> svd(A, Eigen::ComputeFullU | Eigen::ComputeFullV);
    const Eigen::Matrix2d U = svd.matrixU(), V = svd.matrixV();
    const Eigen::Vector2d sv = svd.singularValues();
    Eigen::Matrix2d R;
    const int rank = (sv(0) > 1e-12 * std::max(1.0, sv(0))) + (sv(1) > 1e-12 * std::max(1.0, sv(0)));
    NED_CHECK(rank >= 1, "umeyama: degenerate point set (all source points equal)");
    if (rank == 1) {  // DeepFaceLab / skimage: choose the rotation from U V^T, corrected by its sign
        if (U.determinant() * V.determinant() > 0) {
            R = U * V.transpose();
        } else {
            const double s = d(1);
            d(1) = -1.0;
            R = U * d.asDiagonal() * V.transpose();
            d(1) = s;
        }
    } else {
        R = U * d.asDiagonal() * V.transpose();
    }
    double scale = 1.0;
    if (estimate_scale) {
        const double var_src = Sc.squaredNorm() / n;
        NED_CHECK(var_src > 0, "umeyama: zero source variance");
        scale = sv.dot(d) / var_src;
    }
    const Eigen::Vector2d t = md - scale * R * ms;
    return cv::Matx23d(scale * R(0, 0), scale * R(0, 1), t(0), scale * R(1, 0), scale * R(1, 1), t(1));
}

cv::Matx23f align_transform(const Landmarks& landmarks, int crop_size) {
    const double k = crop_size / 256.0;
    std::vector<cv::Point2d> src(kNumLandmarks), dst(kNumLandmarks);
    const Landmarks& t = ned_template();
    for (int i = 0; i < kNumLandmarks; ++i) {
        src[i] = cv::Point2d(landmarks[i].x, landmarks[i].y);
        dst[i] = cv::Point2d(t[i].x * k, t[i].y * k);
    }
    return cv::Matx23f(umeyama(src, dst, true));
}

Landmarks transform_landmarks(const Landmarks& pts, const cv::Matx23f& m) {
    Landmarks out;
    for (int i = 0; i < kNumLandmarks; ++i) {
        const cv::Point2f p = pts[i];
        out[i] = {m(0, 0) * p.x + m(0, 1) * p.y + m(0, 2), m(1, 0) * p.x + m(1, 1) * p.y + m(1, 2)};
    }
    return out;
}

cv::Mat warp_to_aligned(const cv::Mat& img, const cv::Matx23f& align, bool nearest) {
    cv::Mat out;
    cv::warpAffine(img, out, cv::Mat(align), img.size(), nearest ? cv::INTER_NEAREST : cv::INTER_LANCZOS4,
                   cv::BORDER_CONSTANT, cv::Scalar::all(0));
    return out;
}

AlignmentJitter alignment_jitter(const FaceTrack& track) {
    NED_CHECK(track.has_analysis, "alignment_jitter needs an analysed track");
    const auto& fr = track.frames;
    const double k = track.crop_size / 256.0;
    auto template_in_frame = [&](const FaceFrame& f) {
        cv::Matx33d a = cv::Matx33d::eye(), c = cv::Matx33d::eye();
        for (int r = 0; r < 2; ++r)
            for (int q = 0; q < 3; ++q) {
                a(r, q) = f.align(r, q);
                c(r, q) = f.crop_to_frame(r, q);
            }
        const cv::Matx33d m = c * a.inv();  // aligned -> crop -> frame
        const double scale = std::sqrt(std::abs(c(0, 0) * c(1, 1) - c(0, 1) * c(1, 0)));
        std::array<cv::Point2d, kNumLandmarks> p;
        for (int i = 0; i < kNumLandmarks; ++i) {
            const cv::Vec3d v = m * cv::Vec3d(ned_template()[i].x * k, ned_template()[i].y * k, 1.0);
            p[i] = cv::Point2d(v[0], v[1]) / scale;
        }
        return p;
    };
    AlignmentJitter j;
    double sm = 0, sj = 0;
    for (size_t t = 1; t < fr.size(); ++t) {
        if (!fr[t].valid || !fr[t - 1].valid) continue;
        const auto a = template_in_frame(fr[t - 1]), b = template_in_frame(fr[t]);
        for (int i = 0; i < kNumLandmarks; ++i) sm += cv::norm(b[i] - a[i]) / kNumLandmarks;
        ++j.pairs;
        if (t + 1 < fr.size() && fr[t + 1].valid) {
            const auto c = template_in_frame(fr[t + 1]);
            for (int i = 0; i < kNumLandmarks; ++i) sj += cv::norm(b[i] - 0.5 * (a[i] + c[i])) / kNumLandmarks;
            ++j.triples;
        }
    }
    if (j.pairs) j.motion = sm / j.pairs;
    if (j.triples) j.jitter = sj / j.triples;
    return j;
}

}  // namespace ned::face
