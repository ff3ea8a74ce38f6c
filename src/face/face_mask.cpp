// Face mask from landmarks + NED's mask post-processing (ned-reference §1.5, §5.5).
#include "ned/face/face_mask.hpp"

#include <opencv2/imgproc.hpp>

#include <cmath>

#include "ned/core/error.hpp"
#include "ned/face/soft_erosion.hpp"

namespace ned::face {

std::vector<cv::Point2f> face_mask_polygon(const Landmarks& lm, float forehead_fraction) {
    cv::Point2f brow_mean(0, 0);
    for (int i = 17; i <= 26; ++i) brow_mean += lm[i] * 0.1f;
    cv::Point2f up = brow_mean - lm[8];  // chin -> eyebrows
    const float height = std::hypot(up.x, up.y);
    if (height > 0) up *= 1.0f / height;
    const cv::Point2f lift = up * (forehead_fraction * height);
    std::vector<cv::Point2f> poly;
    poly.reserve(27);
    for (int i = 0; i <= 16; ++i) poly.push_back(lm[i]);
    for (int i = 26; i >= 17; --i) poly.push_back(lm[i] + lift);
    return poly;
}

cv::Mat keep_largest_component(const cv::Mat& mask_u8) {
    NED_CHECK(mask_u8.type() == CV_8UC1, "keep_largest_component expects CV_8UC1, got type ", mask_u8.type());
    cv::Mat bin = mask_u8 != 0;
    cv::Mat labels, stats, centroids;
    const int n = cv::connectedComponentsWithStats(bin, labels, stats, centroids, 8, CV_32S);
    if (n <= 1) return cv::Mat::zeros(mask_u8.size(), CV_8U);
    int best = 1;
    for (int i = 2; i < n; ++i)
        if (stats.at<int>(i, cv::CC_STAT_AREA) > stats.at<int>(best, cv::CC_STAT_AREA)) best = i;
    return labels == best;  // 0/255
}

cv::Mat postprocess_face_mask(const cv::Mat& mask_u8, int erosion_kernel, float erosion_threshold) {
    NED_CHECK(mask_u8.type() == CV_8UC1, "postprocess_face_mask expects CV_8UC1, got type ", mask_u8.type());
    cv::Mat f;
    cv::Mat bin = mask_u8 != 0;
    bin.convertTo(f, CV_32F, 1.0 / 255.0);
    const SoftErosionResult se = soft_erosion(f, erosion_kernel, erosion_threshold);
    cv::Mat hard;
    se.hard.convertTo(hard, CV_8U, 255.0);
    return keep_largest_component(hard);
}

void FaceMaskOptions::validate() const {
    if (!(forehead_fraction >= 0 && forehead_fraction <= 2))  // false for NaN
        throw OptionError("FaceMaskOptions::forehead_fraction",
                          cat(" must be in [0, 2] (got ", forehead_fraction, ")"));
    if (erosion_kernel < 1 || erosion_kernel % 2 == 0)
        throw OptionError("FaceMaskOptions::erosion_kernel", cat(" must be odd and >= 1 (got ", erosion_kernel, ")"));
    if (!(erosion_threshold >= 0 && erosion_threshold <= 1))
        throw OptionError("FaceMaskOptions::erosion_threshold",
                          cat(" must be in [0, 1] (got ", erosion_threshold, ")"));
}

cv::Mat landmark_face_mask(const Landmarks& lm, int crop_size, const FaceMaskOptions& options) {
    NED_CHECK(crop_size > 0, "crop size must be positive, got ", crop_size);
    const std::vector<cv::Point2f> poly = face_mask_polygon(lm, options.forehead_fraction);
    std::vector<cv::Point> ipoly;
    ipoly.reserve(poly.size());
    for (const auto& p : poly)
        ipoly.emplace_back(static_cast<int>(std::lround(p.x)), static_cast<int>(std::lround(p.y)));
    cv::Mat mask = cv::Mat::zeros(crop_size, crop_size, CV_8U);
    cv::fillPoly(mask, std::vector<std::vector<cv::Point>>{ipoly}, cv::Scalar(255), cv::LINE_8);
    mask = keep_largest_component(mask);
    return postprocess_face_mask(mask, options.erosion_kernel, options.erosion_threshold);
}

}  // namespace ned::face
