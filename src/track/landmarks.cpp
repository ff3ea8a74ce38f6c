// dlib 68-point shape predictor on face crops + NED's multisample averaging (ned-reference §1.4).
#include "ned/track/landmarks.hpp"

#include <dlib/image_processing/shape_predictor.h>
#include <dlib/opencv/cv_image.h>
#include <opencv2/imgproc.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "ned/core/error.hpp"
#include "ned/core/log.hpp"
#include "ned/face/crop.hpp"
#include "ned/track/face_detector.hpp"

namespace ned::track {

struct LandmarkDetector::Impl {
    dlib::shape_predictor sp;
};

LandmarkDetector::LandmarkDetector(const std::string& model_path)
    : impl_(std::make_unique<Impl>()), path_(model_path.empty() ? kDefaultLandmarkModel : model_path) {
    const std::string hint = "install Debian's libdlib-data (apt-get install libdlib-data, which provides " +
                             std::string(kDefaultLandmarkModel) + ") or pass --landmark-model PATH";
    if (!std::filesystem::is_regular_file(path_))
        throw ModelError(cat("landmark model not found: ", path_, "; ", hint));
    try {
        std::ifstream in(path_, std::ios::binary);
        dlib::deserialize(impl_->sp, in);
    } catch (const std::exception& e) {
        throw ModelError(cat("landmark model ", path_, " is not a dlib shape predictor (", e.what(), "); ", hint));
    }
    if (impl_->sp.num_parts() != face::kNumLandmarks)
        throw ModelError(cat("landmark model ", path_, " predicts ", impl_->sp.num_parts(),
                             " points, expected a 68-point (iBUG) model; ", hint));
    NED_LOG_DEBUG("[analyze] landmark model {}", path_);
}

LandmarkDetector::~LandmarkDetector() = default;

face::Landmarks LandmarkDetector::landmark(const cv::Mat& image_bgr, const cv::Rect2f& face_rect) const {
    NED_CHECK(image_bgr.type() == CV_8UC3, "landmark() expects CV_8UC3 BGR, got type ", image_bgr.type());
    // cv_image needs a non-const Mat header; it does not modify the pixels.
    cv::Mat hdr = image_bgr.isContinuous() ? image_bgr : image_bgr.clone();
    dlib::cv_image<dlib::bgr_pixel> img(hdr);
    const dlib::rectangle r(std::lround(face_rect.x), std::lround(face_rect.y),
                            std::lround(face_rect.x + face_rect.width) - 1,
                            std::lround(face_rect.y + face_rect.height) - 1);
    const dlib::full_object_detection shape = impl_->sp(img, r);
    face::Landmarks lm;
    for (int i = 0; i < face::kNumLandmarks; ++i)
        lm[i] = cv::Point2f(static_cast<float>(shape.part(i).x()), static_cast<float>(shape.part(i).y()));
    return lm;
}

face::Landmarks LandmarkDetector::landmark_multisample(const cv::Mat& image_bgr, const cv::Rect2f& face_rect, int shift,
                                                       face::Landmarks* single) const {
    const face::Landmarks first = landmark(image_bgr, face_rect);
    if (single) *single = first;
    std::array<cv::Point2d, face::kNumLandmarks> sum;
    for (int i = 0; i < face::kNumLandmarks; ++i) sum[i] = cv::Point2d(first[i].x, first[i].y);
    for (int sx : {-1, 1}) {
        for (int sy : {-1, 1}) {
            // NED: warpAffine(INTER_LANCZOS4) by an integer shift == this exact copy, ~50x faster.
            const cv::Mat shifted = translate_image(image_bgr, sx * shift, sy * shift);
            // The face rectangle stays where it is (see docs/parts/analysis.md, "Decisions"): dlib's
            // predictor is exactly translation-equivariant for integer shifts of image AND rectangle, so
            // moving both would give five identical results.
            const face::Landmarks lm = landmark(shifted, face_rect);
            for (int i = 0; i < face::kNumLandmarks; ++i) sum[i] += cv::Point2d(lm[i].x, lm[i].y);
        }
    }
    face::Landmarks mean;
    for (int i = 0; i < face::kNumLandmarks; ++i) mean[i] = cv::Point2f(sum[i] * 0.2);
    return mean;
}

cv::Mat translate_image(const cv::Mat& img, int dx, int dy) {
    cv::Mat out(img.size(), img.type(), cv::Scalar::all(0));
    const cv::Rect dst = cv::Rect(dx, dy, img.cols, img.rows) & cv::Rect(0, 0, img.cols, img.rows);
    if (dst.empty()) return out;
    img(cv::Rect(dst.x - dx, dst.y - dy, dst.width, dst.height)).copyTo(out(dst));
    return out;
}

cv::Rect2f box_in_crop(const cv::Vec4f& frame_box, const cv::Matx23f& crop_to_frame) {
    const cv::Matx23f inv = face::invert_affine(crop_to_frame);
    float x0 = 1e30f, y0 = 1e30f, x1 = -1e30f, y1 = -1e30f;
    for (float x : {frame_box[0], frame_box[2]}) {
        for (float y : {frame_box[1], frame_box[3]}) {
            const float u = inv(0, 0) * x + inv(0, 1) * y + inv(0, 2);
            const float v = inv(1, 0) * x + inv(1, 1) * y + inv(1, 2);
            x0 = std::min(x0, u);
            x1 = std::max(x1, u);
            y0 = std::min(y0, v);
            y1 = std::max(y1, v);
        }
    }
    return {x0, y0, x1 - x0, y1 - y0};
}

cv::Vec4f ned_box_to_hog(const cv::Vec4f& b) {
    const float cx = 0.5f * (b[0] + b[2]), cy = 0.5f * (b[1] + b[3]);
    const float w = (b[2] - b[0]) / kHogScale, h = (b[3] - b[1]) / kHogScale;
    const float hcy = cy + kHogShiftY * h;
    return {cx - 0.5f * w, hcy - 0.5f * h, cx + 0.5f * w, hcy + 0.5f * h};
}

cv::Rect2f predictor_rect(const face::FaceFrame& f) { return box_in_crop(ned_box_to_hog(f.box), f.crop_to_frame); }

double normalized_mean_error(const face::Landmarks& predicted, const face::Landmarks& truth) {
    const double iod = cv::norm(truth[36] - truth[45]);
    NED_CHECK(iod > 0, "normalized_mean_error: ground-truth outer eye corners coincide");
    double s = 0;
    for (int i = 0; i < face::kNumLandmarks; ++i) s += cv::norm(predicted[i] - truth[i]);
    return s / face::kNumLandmarks / iod;
}

}  // namespace ned::track
