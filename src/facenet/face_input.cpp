#include "facenet/face_input.hpp"

#include <algorithm>
#include <cmath>

#include "facenet/tf_ops.hpp"
#include "ned/core/error.hpp"

namespace ned::facenet {

void check_image(const cv::Mat& bgr, const char* who) {
    if (bgr.empty() || bgr.type() != CV_8UC3)
        throw InputError(cat(who, ": expected a non-empty 8-bit BGR image (CV_8UC3), got ", bgr.cols, "x", bgr.rows,
                             " type ", bgr.type()));
}

cv::Rect face_crop(const cv::Mat& bgr, const cv::Rect2f& box, const char* who) {
    check_image(bgr, who);
    if (!std::isfinite(box.x) || !std::isfinite(box.y) || !std::isfinite(box.width) || !std::isfinite(box.height))
        throw InputError(cat(who, ": face box with a non-finite coordinate (", box.x, ", ", box.y, ", ", box.width,
                             " x ", box.height, ")"));
    const double x = std::max<double>(box.x, 0), y = std::max<double>(box.y, 0);
    const double w = std::min<double>(double(box.x) + box.width - x, bgr.cols - x);
    const double h = std::min<double>(double(box.y) + box.height - y, bgr.rows - y);
    const cv::Rect r(int(std::floor(x)), int(std::floor(y)), int(std::floor(w)), int(std::floor(h)));
    if (r.width <= 0 || r.height <= 0)
        throw InputError(cat(who, ": face box (", box.x, ", ", box.y, ", ", box.width, " x ", box.height,
                             ") does not overlap the ", bgr.cols, "x", bgr.rows, " image"));
    return r;
}

torch::Tensor centered_face_input(const cv::Mat& bgr, const cv::Rect& r, int out) {
    const int diff = std::abs(r.height - r.width);
    const int append = int(std::floor(diff * 0.5 + 0.5));
    const int prepend = diff - append;
    const int side = std::max(r.width, r.height);
    const bool pad_width = r.height > r.width;
    const cv::Point offset(pad_width ? prepend : 0, pad_width ? 0 : prepend);
    return resize_bilinear_rgb(bgr, {r, offset, cv::Size(side, side)}, cv::Size(out, out));
}

torch::Tensor normalize_face(const torch::Tensor& x) {
    const torch::Tensor mean = torch::tensor({122.782f, 117.001f, 104.298f}).reshape({1, 3, 1, 1});
    return (x - mean) / 255.0f;
}

}  // namespace ned::facenet
