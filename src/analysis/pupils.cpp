// NED's pupil estimate (get_mass_center, ned-reference §1.4).
#include "ned/analysis/pupils.hpp"

#include <opencv2/imgproc.hpp>

#include "ned/core/error.hpp"

namespace ned::analysis {

std::array<cv::Point2f, 6> eye_contour(const face::Landmarks& lm, bool right_eye) {
    std::array<cv::Point2f, 6> e;
    const int first = right_eye ? 42 : 36;
    for (int i = 0; i < 6; ++i) e[i] = lm[first + i];
    return e;
}

cv::Point2f estimate_pupil(const cv::Mat& image_bgr, const std::array<cv::Point2f, 6>& eye) {
    NED_CHECK(image_bgr.type() == CV_8UC3, "estimate_pupil expects a CV_8UC3 BGR image, got type ", image_bgr.type());
    std::vector<cv::Point> poly(6);
    for (int i = 0; i < 6; ++i) poly[i] = cv::Point(static_cast<int>(eye[i].x), static_cast<int>(eye[i].y));
    const cv::Rect bb = cv::boundingRect(poly) & cv::Rect(0, 0, image_bgr.cols, image_bgr.rows);
    cv::Point2f mean(0, 0);
    for (const auto& p : eye) mean += p * (1.0f / 6.0f);
    if (bb.empty()) return mean;
    // Mask of the polygon, only over its bounding box (same pixels as a full-image fillPoly).
    cv::Mat mask = cv::Mat::zeros(bb.size(), CV_8U);
    std::vector<cv::Point> local(6);
    for (int i = 0; i < 6; ++i) local[i] = poly[i] - bb.tl();
    cv::fillPoly(mask, std::vector<std::vector<cv::Point>>{local}, cv::Scalar(255));
    // weight = 1/gray inside the mask (0 where gray == 0); normalising by the max does not move the
    // centroid but is kept for fidelity.
    cv::Mat w(bb.size(), CV_64F, cv::Scalar(0));
    double wmax = 0;
    for (int y = 0; y < bb.height; ++y) {
        const cv::Vec3b* row = image_bgr.ptr<cv::Vec3b>(bb.y + y) + bb.x;
        const uchar* m = mask.ptr<uchar>(y);
        double* wr = w.ptr<double>(y);
        for (int x = 0; x < bb.width; ++x) {
            if (!m[x]) continue;
            const double g = (0.2125 * row[x][2] + 0.7154 * row[x][1] + 0.0721 * row[x][0]) / 255.0;
            wr[x] = g > 0 ? 1.0 / g : 0.0;
            wmax = std::max(wmax, wr[x]);
        }
    }
    if (wmax <= 0) return mean;
    double sw = 0, sx = 0, sy = 0;
    for (int y = 0; y < bb.height; ++y) {
        const double* wr = w.ptr<double>(y);
        for (int x = 0; x < bb.width; ++x) {
            const double v = wr[x] / wmax;
            sw += v;
            sx += v * (bb.x + x);
            sy += v * (bb.y + y);
        }
    }
    return {static_cast<float>(sx / sw), static_cast<float>(sy / sw)};
}

std::array<cv::Point2f, 2> estimate_pupils(const cv::Mat& image_bgr, const face::Landmarks& lm) {
    return {estimate_pupil(image_bgr, eye_contour(lm, false)), estimate_pupil(image_bgr, eye_contour(lm, true))};
}

}  // namespace ned::analysis
