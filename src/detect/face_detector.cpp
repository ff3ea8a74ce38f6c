#include "ned/detect/face_detector.hpp"

#include <dlib/image_processing/frontal_face_detector.h>
#include <dlib/image_transforms.h>
#include <dlib/opencv/cv_image.h>
#include <opencv2/imgproc.hpp>

#include <algorithm>

#include "ned/core/error.hpp"
#include "ned/facenet/facenet.hpp"

namespace ned::detect {

const char* detector_name(DetectorKind k) { return k == DetectorKind::Ssd ? "ssd" : "hog"; }

DetectorKind parse_detector(const std::string& name) {
    if (name == "hog") return DetectorKind::Hog;
    if (name == "ssd") return DetectorKind::Ssd;
    throw InputError(cat("unknown face detector '", name, "' (expected hog or ssd)"));
}

cv::Vec4f ssd_to_hog_box(const cv::Vec4f& b) {
    const float w = b[2] - b[0], h = b[3] - b[1];
    const float cx = 0.5f * (b[0] + b[2]) + kSsdShiftX * w;
    const float cy = 0.5f * (b[1] + b[3]) + kSsdShiftY * h;
    const float hw = 0.5f * kSsdScaleX * w, hh = 0.5f * kSsdScaleY * h;
    return {cx - hw, cy - hh, cx + hw, cy + hh};
}

float resolve_detect_scale(const DetectorOptions& opts, int width, int height) {
    if (opts.detect_scale > 0.f) return opts.detect_scale;
    const int long_side = std::max(width, height);
    if (long_side <= 0) return 1.f;
    return std::min(1.f, 640.f / static_cast<float>(long_side));
}

cv::Vec4f hog_to_ned_box(const cv::Vec4f& b) {
    const float w = b[2] - b[0], h = b[3] - b[1];
    const float cx = 0.5f * (b[0] + b[2]);
    const float cy = 0.5f * (b[1] + b[3]) - kHogShiftY * h;
    const float hw = 0.5f * kHogScale * w, hh = 0.5f * kHogScale * h;
    return {cx - hw, cy - hh, cx + hw, cy + hh};
}

namespace {
/// dlib deserialises its embedded detector in ~1 s; do it once and copy (a copy takes microseconds).
const dlib::frontal_face_detector& prototype() {
    static const dlib::frontal_face_detector det = dlib::get_frontal_face_detector();
    return det;
}
}  // namespace

struct FaceDetector::Impl {
    DetectorOptions opts;
    dlib::frontal_face_detector det;
    std::unique_ptr<facenet::FaceDetector> ssd;
};

FaceDetector::FaceDetector(const DetectorOptions& opts) : impl_(std::make_unique<Impl>()) {
    if (opts.upsample < 0 || opts.upsample > 2)
        throw InputError(cat("detector upsample must be 0, 1 or 2 (got ", opts.upsample, ")"));
    if (opts.detect_scale < 0.f || opts.detect_scale > 4.f)
        throw InputError(cat("detect scale must be in (0, 4] or 0 for auto (got ", opts.detect_scale, ")"));
    if (!(opts.min_score >= 0.f && opts.min_score <= 1.f))
        throw InputError(cat("detector min score must be in 0..1 (got ", opts.min_score, ")"));
    impl_->opts = opts;
    if (opts.kind == DetectorKind::Ssd)
        impl_->ssd = std::make_unique<facenet::FaceDetector>(
            opts.models_dir.empty() ? facenet::open_models_dir() : std::filesystem::path(opts.models_dir));
    else
        impl_->det = prototype();
}
FaceDetector::~FaceDetector() = default;
FaceDetector::FaceDetector(FaceDetector&&) noexcept = default;
FaceDetector& FaceDetector::operator=(FaceDetector&&) noexcept = default;

const DetectorOptions& FaceDetector::options() const { return impl_->opts; }

std::vector<Detection> FaceDetector::detect(const cv::Mat& frame) const {
    NED_CHECK(!frame.empty(), "empty frame given to the face detector");
    const float s = resolve_detect_scale(impl_->opts, frame.cols, frame.rows);
    if (impl_->opts.kind == DetectorKind::Ssd) {
        NED_CHECK(frame.type() == CV_8UC3, "the SSD face detector needs a BGR u8 image, got type ", frame.type());
        if (std::abs(s - 1.f) < 1e-6f) return detect_scaled(frame, 1.f);
        cv::Mat small;
        cv::resize(frame, small, cv::Size(), s, s, s < 1.f ? cv::INTER_AREA : cv::INTER_LINEAR);
        return detect_scaled(small, s);
    }
    cv::Mat grey;
    if (frame.channels() == 3)
        cv::cvtColor(frame, grey, cv::COLOR_BGR2GRAY);
    else if (frame.channels() == 4)
        cv::cvtColor(frame, grey, cv::COLOR_BGRA2GRAY);
    else
        grey = frame;
    cv::Mat small;
    if (std::abs(s - 1.f) < 1e-6f)
        small = grey;
    else
        cv::resize(grey, small, cv::Size(), s, s, s < 1.f ? cv::INTER_AREA : cv::INTER_LINEAR);
    return detect_scaled(small, s);
}

namespace {
void sort_largest_first(std::vector<Detection>& out) {
    std::sort(out.begin(), out.end(), [](const Detection& a, const Detection& b) {
        return (a.box[2] - a.box[0]) * (a.box[3] - a.box[1]) > (b.box[2] - b.box[0]) * (b.box[3] - b.box[1]);
    });
}
}  // namespace

std::vector<Detection> FaceDetector::detect_scaled(const cv::Mat& image_small, float scale) const {
    if (impl_->opts.kind == DetectorKind::Ssd) {
        NED_CHECK(image_small.type() == CV_8UC3, "the SSD face detector needs a BGR u8 image, got type ",
                  image_small.type());
        std::vector<Detection> out;
        for (const auto& d : impl_->ssd->detect(image_small, impl_->opts.min_score)) {
            // facenet boxes: x, y, w, h with edges in pixel-edge coordinates of the small image (0 = left edge
            // of the first pixel); frame coordinates put pixel centres at integers: x = (u) / s - 0.5.
            const cv::Vec4f b{d.box.x / scale - 0.5f, d.box.y / scale - 0.5f, (d.box.x + d.box.width) / scale - 0.5f,
                              (d.box.y + d.box.height) / scale - 0.5f};
            Detection det;
            det.box = ssd_to_hog_box(b);
            det.score = d.score;
            out.push_back(det);
        }
        sort_largest_first(out);
        return out;
    }
    cv::Mat grey_small = image_small;
    if (image_small.type() == CV_8UC3) cv::cvtColor(image_small, grey_small, cv::COLOR_BGR2GRAY);
    NED_CHECK(grey_small.type() == CV_8UC1, "detect_scaled expects a grey or BGR u8 image, got type ",
              grey_small.type());
    cv::Mat img = grey_small.isContinuous() ? grey_small : grey_small.clone();
    std::vector<dlib::rect_detection> dets;
    float total = scale;
    if (impl_->opts.upsample > 0) {
        dlib::array2d<unsigned char> up;
        dlib::assign_image(up, dlib::cv_image<unsigned char>(img));
        for (int i = 0; i < impl_->opts.upsample; ++i) {
            dlib::pyramid_up(up);
            total *= 2.f;
        }
        impl_->det(up, dets, impl_->opts.adjust_threshold);
    } else {
        impl_->det(dlib::cv_image<unsigned char>(img), dets, impl_->opts.adjust_threshold);
    }
    std::vector<Detection> out;
    out.reserve(dets.size());
    for (const auto& d : dets) {
        // dlib rectangles are inclusive pixel ranges; edges at left-0.5 .. right+0.5 in small-image pixel
        // coordinates, mapped to frame coordinates with the resize convention x = (u + 0.5) / s - 0.5.
        const auto& r = d.rect;
        Detection det;
        det.box = {static_cast<float>(r.left()) / total - 0.5f, static_cast<float>(r.top()) / total - 0.5f,
                   static_cast<float>(r.right() + 1) / total - 0.5f,
                   static_cast<float>(r.bottom() + 1) / total - 0.5f};
        det.score = d.detection_confidence;
        out.push_back(det);
    }
    sort_largest_first(out);
    return out;
}

}  // namespace ned::detect
