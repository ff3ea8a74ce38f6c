// DECA's 224x224 crop (ned-reference §1.6): the OpenCV half of DECA (include/ned/recon/deca_image.hpp); the
// networks are in deca.cpp (torch-only).
#include "ned/recon/deca_image.hpp"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>

#include "ned/core/error.hpp"
#include "ned/core/torch_mat.hpp"

namespace ned::recon {

cv::Matx33f deca_crop_tform(const face::Landmarks& lmk) {
    float l = lmk[0].x, r = lmk[0].x, t = lmk[0].y, b = lmk[0].y;
    for (const auto& p : lmk) {
        l = std::min(l, p.x);
        r = std::max(r, p.x);
        t = std::min(t, p.y);
        b = std::max(b, p.y);
    }
    const double old_size = (double(r - l) + double(b - t)) / 2.0 * 1.1;
    const double cx = r - (r - l) / 2.0, cy = b - (b - t) / 2.0;
    const double size = std::floor(old_size * 1.25);  // python int() of a positive value
    NED_CHECK(size > 0, "DECA crop: degenerate landmarks (box size ", size, ")");
    // similarity mapping (cx-size/2, cy-size/2) -> (0,0), (.., cy+size/2) -> (0,223), (cx+size/2, ..) -> (223,0)
    const double s = (kDecaImageSize - 1) / size;
    const double tx = -(cx - size / 2.0) * s, ty = -(cy - size / 2.0) * s;
    return cv::Matx33f(float(s), 0.f, float(tx), 0.f, float(s), float(ty), 0.f, 0.f, 1.f);
}

torch::Tensor deca_crop_image(const cv::Mat& image_bgr, const cv::Matx33f& tform) {
    NED_CHECK(image_bgr.channels() == 3, "DECA crop expects a 3-channel image");
    cv::Mat f;
    image_bgr.convertTo(f, CV_32FC3, 1.0 / 255.0);
    cv::Mat rgb;
    cv::cvtColor(f, rgb, cv::COLOR_BGR2RGB);
    cv::Mat M =
        (cv::Mat_<double>(2, 3) << tform(0, 0), tform(0, 1), tform(0, 2), tform(1, 0), tform(1, 1), tform(1, 2));
    cv::Mat out;
    cv::warpAffine(rgb, out, M, cv::Size(kDecaImageSize, kDecaImageSize), cv::INTER_LINEAR, cv::BORDER_CONSTANT,
                   cv::Scalar::all(0));
    return mat_to_tensor(out);
}

}  // namespace ned::recon
