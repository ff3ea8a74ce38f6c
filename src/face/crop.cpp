#include "ned/face/crop.hpp"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>

#include "ned/core/error.hpp"

namespace ned::face {

cv::Vec4f make_square(const cv::Vec4f& b) {
    // NED detect.py: w = x1-x0, h = y1-y0, d = (h-w)/2; x0 -= d; x1 += d (height_recentre = 0).
    const float w = b[2] - b[0], h = b[3] - b[1];
    const float d = 0.5f * (h - w);
    return {b[0] - d, b[1], b[2] + d, b[3]};
}

cv::Matx23f crop_transform(const cv::Vec4f& square_box, int crop_size, float margin) {
    if (crop_size <= 0) throw InputError(cat("crop size must be positive (got ", crop_size, ")"));
    if (!(margin >= 0.f) || margin >= static_cast<float>(crop_size))
        throw InputError(cat("crop margin must be in [0, crop size) (got ", margin, ")"));
    const cv::Vec4f b = make_square(square_box);
    const float side_box = b[3] - b[1];
    NED_CHECK(side_box > 0.f, "face box has no height: ", b);
    // facenet extract_face: mx = margin * w / (size - margin); crop = [x0 - mx/2, x1 + mx/2]
    const float side = side_box * static_cast<float>(crop_size) / (static_cast<float>(crop_size) - margin);
    const float a = side / static_cast<float>(crop_size);
    const float cx = 0.5f * (b[0] + b[2]), cy = 0.5f * (b[1] + b[3]);
    const float c = 0.5f * static_cast<float>(crop_size - 1);
    return cv::Matx23f(a, 0.f, cx - a * c, 0.f, a, cy - a * c);
}

cv::Matx23f invert_affine(const cv::Matx23f& m) {
    cv::Matx23f inv;
    cv::invertAffineTransform(m, inv);
    return inv;
}

cv::Mat extract_crop(const cv::Mat& frame_bgr, const FaceFrame& face, int crop_size) {
    return extract_crop(frame_bgr, face.crop_to_frame, crop_size);
}

cv::Mat extract_crop(const cv::Mat& frame, const cv::Matx23f& m, int crop_size) {
    NED_CHECK(!frame.empty(), "empty frame given to extract_crop");
    NED_CHECK(crop_size > 0, "crop size ", crop_size);
    const float a = std::sqrt(std::abs(m(0, 0) * m(1, 1) - m(0, 1) * m(1, 0)));
    const cv::Size cs(crop_size, crop_size);
    cv::Mat out;
    const int n = static_cast<int>(std::lround(a * crop_size));
    if (n > crop_size + 1) {
        // Downscale: resample at ~1:1 to an n x n square (bilinear, replicated border), then INTER_AREA.
        // Intermediate pixel i sits at crop coordinate u = (i + 0.5) * cs / n - 0.5 (resize convention).
        const float r = static_cast<float>(crop_size) / static_cast<float>(n);
        const float off = 0.5f * r - 0.5f;
        cv::Matx23f im;  // intermediate -> frame
        for (int row = 0; row < 2; ++row) {
            im(row, 0) = m(row, 0) * r;
            im(row, 1) = m(row, 1) * r;
            im(row, 2) = m(row, 0) * off + m(row, 1) * off + m(row, 2);
        }
        cv::Mat mid;
        cv::warpAffine(frame, mid, im, cv::Size(n, n), cv::INTER_LINEAR | cv::WARP_INVERSE_MAP, cv::BORDER_REPLICATE);
        cv::resize(mid, out, cs, 0, 0, cv::INTER_AREA);
    } else {
        cv::warpAffine(frame, out, m, cs, cv::INTER_LINEAR | cv::WARP_INVERSE_MAP, cv::BORDER_REPLICATE);
    }
    return out;
}

}  // namespace ned::face
