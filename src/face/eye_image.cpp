// NED's eye image (ned-reference §5.3).
#include "ned/face/eye_image.hpp"

#include <algorithm>
#include <cmath>

#include "ned/core/error.hpp"

namespace ned::face {
namespace {

// numpy astype(int32): truncation towards zero. Coordinates are clamped to +-2^20 first (NaN -> -2^20, off
// the image): far outside any crop, and the int conversion and the disk loop cannot overflow.
int to_int(float v) {
    constexpr float kLim = 1048576.f;
    if (!(v > -kLim)) return -static_cast<int>(kLim);
    if (v > kLim) return static_cast<int>(kLim);
    return static_cast<int>(v);
}
cv::Point to_int(cv::Point2f p) { return {to_int(p.x), to_int(p.y)}; }

double dist(cv::Point a, cv::Point b) { return std::hypot(double(a.x - b.x), double(a.y - b.y)); }

void draw_disk(cv::Mat& img, cv::Point c, int r) {
    const int n = img.rows;
    r = std::min(r, 4 * std::max(img.rows, img.cols));   // a disk larger than that covers the image anyway
    if (c.x <= -(1 << 20) || c.y <= -(1 << 20)) return;  // a NaN point (see to_int): no disk
    for (int i = -r; i < r; ++i) {
        for (int j = -r; j < r; ++j) {
            if (std::sqrt(double(i * i + j * j)) < r) {
                const int y = std::clamp(c.y + i, 0, n - 1);
                const int x = std::clamp(c.x + j, 0, img.cols - 1);
                img.at<cv::Vec3b>(y, x) = cv::Vec3b(0, 0, 255);
            }
        }
    }
}

}  // namespace

int eye_disk_radius(const std::array<cv::Point2f, 6>& eye) {
    const double d = dist(to_int(eye[1]), to_int(eye[4])) + dist(to_int(eye[2]), to_int(eye[5]));
    return static_cast<int>(d / 4.0);
}

cv::Mat draw_eye_image(const std::array<cv::Point2f, 6>& left_eye, const std::array<cv::Point2f, 6>& right_eye,
                       cv::Point2f left_pupil, cv::Point2f right_pupil, int size) {
    NED_CHECK(size > 0, "eye image size must be positive, got ", size);
    cv::Mat img(size, size, CV_8UC3, cv::Scalar::all(0));
    draw_disk(img, to_int(left_pupil), eye_disk_radius(left_eye));
    draw_disk(img, to_int(right_pupil), eye_disk_radius(right_eye));
    return img;
}

namespace {

cv::Point2f trunc_pt(cv::Point2f p) { return {std::trunc(p.x), std::trunc(p.y)}; }

cv::Point2f apply(const cv::Matx23f& m, cv::Point2f p) {
    return {m(0, 0) * p.x + m(0, 1) * p.y + m(0, 2), m(1, 0) * p.x + m(1, 1) * p.y + m(1, 2)};
}

template <class Map>
EyePoints eye_points_mapped(const FaceFrame& f, Map map) {
    EyePoints e;
    for (int k = 0; k < 6; ++k) {
        e.left[k] = trunc_pt(map(f.landmarks[36 + k]));
        e.right[k] = trunc_pt(map(f.landmarks[42 + k]));
    }
    e.left_pupil = trunc_pt(map(f.pupils[0]));
    e.right_pupil = trunc_pt(map(f.pupils[1]));
    return e;
}

}  // namespace

EyePoints eye_points(const FaceFrame& f) {
    return eye_points_mapped(f, [](cv::Point2f p) { return p; });
}

EyePoints eye_points(const FaceFrame& f, const cv::Matx23f& to) {
    return eye_points_mapped(f, [&](cv::Point2f p) { return apply(to, p); });
}

cv::Mat draw_eye_image(const EyePoints& p, int size) {
    return draw_eye_image(p.left, p.right, p.left_pupil, p.right_pupil, size);
}

// draw_eye_image truncates every point first, so drawing the truncated points is the same image.
cv::Mat frame_eye_image(const FaceFrame& f, int crop_size, bool aligned) {
    return draw_eye_image(aligned ? eye_points(f, f.align) : eye_points(f), crop_size);
}

}  // namespace ned::face
