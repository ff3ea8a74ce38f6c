#include "ned/face/soft_erosion.hpp"

#include <opencv2/imgproc.hpp>

#include <cmath>

#include "ned/core/error.hpp"

namespace ned::face {

cv::Mat soft_erosion_kernel(int k) {
    if (k < 1 || k % 2 == 0) throw InputError(cat("soft erosion kernel size must be odd and >= 1 (got ", k, ")"));
    const int r = k / 2;
    cv::Mat K(k, k, CV_32F);
    float maxd = 0.f;
    for (int y = 0; y < k; ++y)
        for (int x = 0; x < k; ++x) {
            const float d = std::sqrt(static_cast<float>((x - r) * (x - r) + (y - r) * (y - r)));
            K.at<float>(y, x) = d;
            maxd = std::max(maxd, d);
        }
    K = maxd - K;
    const double s = cv::sum(K)[0];
    if (s > 0)
        K /= s;
    else
        K.setTo(1.f);  // k == 1: the single weight is max - 0 = 0 -> identity
    return K;
}

int blend_erosion_kernel_size(int h) {
    int k = static_cast<int>(33.0 * h / 256.0);
    if (k % 2 == 0) ++k;
    return std::max(k, 1);
}

SoftErosionResult soft_erosion(const cv::Mat& mask, int kernel_size, float threshold) {
    NED_CHECK(!mask.empty() && mask.channels() == 1, "soft_erosion expects a one-channel mask");
    cv::Mat x;
    if (mask.depth() == CV_8U)
        mask.convertTo(x, CV_32F, 1.0 / 255.0);
    else
        mask.convertTo(x, CV_32F);
    const cv::Mat K = soft_erosion_kernel(kernel_size);
    cv::Mat y;
    cv::filter2D(x, y, CV_32F, K, cv::Point(-1, -1), 0, cv::BORDER_CONSTANT);
    // OpenCV convolves large kernels via the DFT, which leaves ~1e-15 noise where the exact result is 0;
    // zero it so that the support of the soft mask is exactly the mask dilated by r.
    cv::threshold(y, y, 1e-6, 0.0, cv::THRESH_TOZERO);
    SoftErosionResult res;
    cv::Mat hard_u8 = y >= threshold;  // 0/255
    hard_u8.convertTo(res.hard, CV_32F, 1.0 / 255.0);
    double maxv = 0;
    cv::minMaxLoc(y, nullptr, &maxv, nullptr, nullptr, ~hard_u8);
    if (maxv > 0) y /= maxv;  // only the non-hard pixels matter; hard ones are overwritten below
    y.setTo(1.f, hard_u8);
    res.soft = y;
    return res;
}

}  // namespace ned::face
