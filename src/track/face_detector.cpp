#include "ned/track/face_detector.hpp"

#include <dlib/image_processing/frontal_face_detector.h>
#include <dlib/image_transforms.h>
#include <dlib/opencv/cv_image.h>
#include <opencv2/imgproc.hpp>

#include <algorithm>

#include "ned/core/error.hpp"
#include "ned/facenet/blazeface.hpp"
#include "ned/facenet/facemesh.hpp"
#include "ned/facenet/ssd_face_detector.hpp"

namespace ned::track {

const char* detector_name(DetectorKind k) {
    switch (k) {
        case DetectorKind::Ssd: return "ssd";
        case DetectorKind::BlazeFace: return "blazeface";
        case DetectorKind::HogRot: return "hog-rot";
        case DetectorKind::HogBlazeFace: return "hog-blazeface";
        case DetectorKind::Combined: return "combined";
        case DetectorKind::Hog: break;
    }
    return "hog";
}

DetectorKind parse_detector(const std::string& name) {
    for (DetectorKind k : {DetectorKind::Hog, DetectorKind::Ssd, DetectorKind::BlazeFace, DetectorKind::HogRot,
                           DetectorKind::HogBlazeFace, DetectorKind::Combined})
        if (name == detector_name(k)) return k;
    throw InputError(
        cat("unknown face detector '", name, "' (expected combined, hog, hog-rot, hog-blazeface, ssd or blazeface)"));
}

bool detector_needs_colour(DetectorKind k) {
    return k == DetectorKind::Ssd || k == DetectorKind::BlazeFace || k == DetectorKind::HogBlazeFace ||
           k == DetectorKind::Combined;
}

namespace {
/// A learned detector's box moved and scaled about its centre (shift and scale as fractions of its sides).
cv::Vec4f map_box(const cv::Vec4f& b, float shift_x, float shift_y, float scale_x, float scale_y) {
    const float w = b[2] - b[0], h = b[3] - b[1];
    const float cx = 0.5f * (b[0] + b[2]) + shift_x * w;
    const float cy = 0.5f * (b[1] + b[3]) + shift_y * h;
    const float hw = 0.5f * scale_x * w, hh = 0.5f * scale_y * h;
    return {cx - hw, cy - hh, cx + hw, cy + hh};
}
}  // namespace

cv::Vec4f blaze_to_hog_box(const cv::Vec4f& b) {
    return map_box(b, kBlazeShiftX, kBlazeShiftY, kBlazeScaleX, kBlazeScaleY);
}

cv::Vec4f ssd_to_hog_box(const cv::Vec4f& b) { return map_box(b, kSsdShiftX, kSsdShiftY, kSsdScaleX, kSsdScaleY); }

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

float iou_boxes(const cv::Vec4f& a, const cv::Vec4f& b) {
    const float ix = std::max(0.f, std::min(a[2], b[2]) - std::max(a[0], b[0]));
    const float iy = std::max(0.f, std::min(a[3], b[3]) - std::max(a[1], b[1]));
    const float inter = ix * iy;
    const float uni = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    return uni > 0.f ? inter / uni : 0.f;
}

}  // namespace

struct FaceDetector::Impl {
    DetectorOptions opts;
    dlib::frontal_face_detector det;
    std::unique_ptr<facenet::SsdFaceDetector> ssd;
    std::unique_ptr<facenet::BlazeFaceDetector> blaze;
    std::unique_ptr<facenet::FaceMesh> mesh;  ///< combined: checks BlazeFace faces that HOG did not find
    /// One pass of the base detector (HOG / SSD / BlazeFace) on an image already scaled by `scale`.
    std::vector<Detection> detect_once(const cv::Mat& image_small, float scale);
    /// BlazeFace on a BGR image already scaled by `scale`; HOG-like boxes (blaze_to_hog_box) in frame pixels.
    std::vector<Detection> detect_blaze(const cv::Mat& image_small, float scale);
    /// BlazeFace's own boxes in `image` pixels. combined pads the image to a square with black first (aspect kept, as
    /// MediaPipe does: a 16:9 frame stretched to a square makes turned faces narrower still); blazeface and
    /// hog-blazeface stretch it (as @vladmandic/human does; their measured behaviour is unchanged).
    std::vector<facenet::FaceBox> blaze_raw(const cv::Mat& image);
    /// combined: BlazeFace's faces merged into HOG's `out`: HOG's box moved towards BlazeFace's on turned faces, a
    /// disagreeing HOG box replaced, faces HOG missed added; the last two only when FaceMesh confirms the face.
    void add_checked_blaze(const cv::Mat& image_small, float scale, std::vector<Detection>& out);
};

FaceDetector::FaceDetector(const DetectorOptions& opts) : impl_(std::make_unique<Impl>()) {
    if (opts.upsample < 0 || opts.upsample > 2)
        throw InputError(cat("detector upsample must be 0, 1 or 2 (got ", opts.upsample, ")"));
    if (opts.detect_scale < 0.f || opts.detect_scale > 4.f)
        throw InputError(cat("detect scale must be in (0, 4] or 0 for auto (got ", opts.detect_scale, ")"));
    if (!(opts.min_score >= 0.f && opts.min_score <= 1.f))
        throw InputError(cat("detector min score must be in 0..1 (got ", opts.min_score, ")"));
    if (!(opts.verify_min_score >= 0.f && opts.verify_min_score <= 1.f))
        throw InputError(cat("detector face check score must be in 0..1 (got ", opts.verify_min_score, ")"));
    if (!(opts.verify_min_blaze_score >= 0.f && opts.verify_min_blaze_score <= 1.f))
        throw InputError(cat("detector BlazeFace score for unchecked faces must be in 0..1 (got ",
                             opts.verify_min_blaze_score, ")"));
    for (float a : opts.rotation_angles)
        if (!(std::abs(a) > 0.f && std::abs(a) < 180.f))
            throw InputError(cat("detector rotation angles must be in (-180, 180) degrees and not 0 (got ", a, ")"));
    impl_->opts = opts;
    const auto dir = [&] {
        return opts.models_dir.empty() ? facenet::open_models_dir() : std::filesystem::path(opts.models_dir);
    };
    if (opts.kind == DetectorKind::Ssd)
        impl_->ssd = std::make_unique<facenet::SsdFaceDetector>(dir());
    else if (opts.kind == DetectorKind::BlazeFace)
        impl_->blaze = std::make_unique<facenet::BlazeFaceDetector>(dir());
    else
        impl_->det = prototype();
    if (opts.kind == DetectorKind::HogBlazeFace || opts.kind == DetectorKind::Combined)
        impl_->blaze = std::make_unique<facenet::BlazeFaceDetector>(dir());
    if (opts.kind == DetectorKind::Combined) impl_->mesh = std::make_unique<facenet::FaceMesh>(dir());
}
FaceDetector::~FaceDetector() = default;
FaceDetector::FaceDetector(FaceDetector&&) noexcept = default;
FaceDetector& FaceDetector::operator=(FaceDetector&&) noexcept = default;

const DetectorOptions& FaceDetector::options() const { return impl_->opts; }

std::vector<Detection> FaceDetector::detect(const cv::Mat& frame) const {
    NED_CHECK(!frame.empty(), "empty frame given to the face detector");
    const float s = resolve_detect_scale(impl_->opts, frame.cols, frame.rows);
    if (detector_needs_colour(impl_->opts.kind)) {
        NED_CHECK(frame.type() == CV_8UC3, "the ", detector_name(impl_->opts.kind),
                  " face detector needs a BGR u8 image, got type ", frame.type());
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
    auto out = impl_->detect_once(image_small, scale);
    if (impl_->opts.kind == DetectorKind::Combined) {
        NED_CHECK(image_small.type() == CV_8UC3, "the combined face detector needs a BGR u8 image, got type ",
                  image_small.type());
        impl_->add_checked_blaze(image_small, scale, out);
        if (!out.empty()) {
            sort_largest_first(out);
            return out;
        }
    }
    if (impl_->opts.kind == DetectorKind::HogBlazeFace && out.empty()) {
        NED_CHECK(image_small.type() == CV_8UC3, "the hog-blazeface face detector needs a BGR u8 image, got type ",
                  image_small.type());
        return impl_->detect_blaze(image_small, scale);
    }
    const bool rotation_search = impl_->opts.kind == DetectorKind::HogRot || impl_->opts.kind == DetectorKind::Combined;
    if (!rotation_search || !out.empty()) return out;
    // Rotation search: the upright pass found nothing; try rotated copies of the (small) image. Each copy is
    // rotated about the image centre onto a canvas holding the whole rotated image, detected at scale 1 (boxes
    // in canvas pixel-centre coordinates) and the boxes mapped back with the inverse rotation.
    const cv::Mat src = image_small.isContinuous() ? image_small : image_small.clone();
    const float W = static_cast<float>(src.cols), H = static_cast<float>(src.rows);
    for (float a : impl_->opts.rotation_angles) {
        const double rad = a * CV_PI / 180.0, c = std::abs(std::cos(rad)), s = std::abs(std::sin(rad));
        const int cw = static_cast<int>(std::ceil(c * W + s * H)), ch = static_cast<int>(std::ceil(s * W + c * H));
        cv::Mat M = cv::getRotationMatrix2D(cv::Point2f(0.5f * (W - 1), 0.5f * (H - 1)), a, 1.0);
        M.at<double>(0, 2) += 0.5 * (cw - W);
        M.at<double>(1, 2) += 0.5 * (ch - H);
        cv::Mat canvas, Minv;
        cv::warpAffine(src, canvas, M, cv::Size(cw, ch), cv::INTER_LINEAR, cv::BORDER_CONSTANT, cv::Scalar::all(0));
        cv::invertAffineTransform(M, Minv);
        for (const auto& d : impl_->detect_once(canvas, 1.f)) {
            const float w = d.box[2] - d.box[0], h = d.box[3] - d.box[1];
            // centre of the NED box in the rotated pass (hog_to_ned_box: kHogShiftY * h up), mapped back to the
            // small image, then the HOG-like box placed so that hog_to_ned_box gives that centre
            const double nx = 0.5 * (d.box[0] + d.box[2]), ny = 0.5 * (d.box[1] + d.box[3]) - kHogShiftY * h;
            const double sx = Minv.at<double>(0, 0) * nx + Minv.at<double>(0, 1) * ny + Minv.at<double>(0, 2);
            const double sy = Minv.at<double>(1, 0) * nx + Minv.at<double>(1, 1) * ny + Minv.at<double>(1, 2);
            const float fx = static_cast<float>((sx + 0.5) / scale - 0.5);
            const float fy = static_cast<float>((sy + 0.5) / scale - 0.5) + kHogShiftY * h / scale;
            const float hw = 0.5f * w / scale, hh = 0.5f * h / scale;
            Detection m;
            m.box = {fx - hw, fy - hh, fx + hw, fy + hh};
            m.score = d.score;
            m.roll = -a + d.roll;
            m.source = face::DetectionSource::HogRotated;
            // the same face found at two angles: keep the higher score
            bool merged = false;
            for (auto& o : out)
                if (iou_boxes(o.box, m.box) > 0.3f) {
                    if (m.score > o.score) o = m;
                    merged = true;
                    break;
                }
            if (!merged) out.push_back(m);
        }
    }
    sort_largest_first(out);
    return out;
}

namespace {
/// ned::facenet detections (x, y, w, h with edges in pixel-edge coordinates of the small image: 0 = left edge of
/// the first pixel) -> frame coordinates (pixel centres at integers: x = u / s - 0.5), mapped to dlib's box by
/// `to_hog` (ssd_to_hog_box / blaze_to_hog_box), largest first.
template <typename ToHog>
Detection from_facenet(const facenet::FaceBox& d, float scale, ToHog to_hog, face::DetectionSource source) {
    const cv::Vec4f b{d.box.x / scale - 0.5f, d.box.y / scale - 0.5f, (d.box.x + d.box.width) / scale - 0.5f,
                      (d.box.y + d.box.height) / scale - 0.5f};
    Detection det;
    det.box = to_hog(b);
    det.score = d.score;
    det.source = source;
    if (source == face::DetectionSource::BlazeFace) det.yaw_deg = facenet::blaze_yaw_deg(d);
    return det;
}
template <typename ToHog>
std::vector<Detection> from_facenet(const std::vector<facenet::FaceBox>& dets, float scale, ToHog to_hog,
                                    face::DetectionSource source) {
    std::vector<Detection> out;
    for (const auto& d : dets) out.push_back(from_facenet(d, scale, to_hog, source));
    sort_largest_first(out);
    return out;
}

/// Whether two HOG-like boxes are the same face: they overlap (IoU > 0.3) or either's centre lies in the other.
bool same_face(const cv::Vec4f& a, const cv::Vec4f& b) {
    const auto inside = [](const cv::Vec4f& box, const cv::Vec4f& o) {
        const float cx = 0.5f * (o[0] + o[2]), cy = 0.5f * (o[1] + o[3]);
        return cx >= box[0] && cx <= box[2] && cy >= box[1] && cy <= box[3];
    };
    return iou_boxes(a, b) > 0.3f || inside(a, b) || inside(b, a);
}
}  // namespace

std::vector<facenet::FaceBox> FaceDetector::Impl::blaze_raw(const cv::Mat& image) {
    if (opts.kind != DetectorKind::Combined || image.cols == image.rows) return blaze->detect(image, opts.min_score);
    // black padding at the bottom/right: the square's pixels are the image's, so boxes need no mapping back
    const int side = std::max(image.cols, image.rows);
    cv::Mat square(side, side, CV_8UC3, cv::Scalar::all(0));
    image.copyTo(square(cv::Rect(0, 0, image.cols, image.rows)));
    return blaze->detect(square, opts.min_score);
}

std::vector<Detection> FaceDetector::Impl::detect_blaze(const cv::Mat& image_small, float scale) {
    return from_facenet(blaze_raw(image_small), scale, blaze_to_hog_box, face::DetectionSource::BlazeFace);
}

void FaceDetector::Impl::add_checked_blaze(const cv::Mat& image_small, float scale, std::vector<Detection>& out) {
    for (const auto& b : blaze_raw(image_small)) {
        Detection d = from_facenet(b, scale, blaze_to_hog_box, face::DetectionSource::BlazeFace);
        // the same face found before: HOG's box wins where the two boxes agree (IoU >= 0.3, as on frontal faces:
        // median 0.75); where they do not, HOG's box is the weak, misplaced one HOG gives some turned faces and
        // the checked BlazeFace box replaces it
        long same = -1;
        for (size_t i = 0; i < out.size() && same < 0; ++i)
            if (same_face(out[i].box, d.box)) same = static_cast<long>(i);
        if (same >= 0 && out[same].source == face::DetectionSource::BlazeFace) continue;
        if (same >= 0 && iou_boxes(out[same].box, d.box) >= 0.3f) {
            // HOG's box drifts towards the nose as the face turns (on the yaw set, the crop's landmark centre
            // moves by 8% of the crop at 30 degrees, 12% at 60; BlazeFace's stays within 2%): from 20 to 35
            // degrees of BlazeFace's yaw estimate, HOG's box gives way to BlazeFace's
            Detection& h = out[same];
            h.yaw_deg = d.yaw_deg;
            const float w = std::clamp((std::abs(d.yaw_deg) - kTurnedFromDeg) / kTurnedRampDeg, 0.f, 1.f);
            if (w > 0.f) {
                h.box = (1.f - w) * h.box + w * d.box;
                if (w >= 0.5f) h.source = face::DetectionSource::BlazeFace;
            }
            continue;
        }
        // a face HOG did not find (or boxed badly): BlazeFace must be fairly sure and FaceMesh must see a face
        // after re-cropping on its own mesh (on the yaw set every face scores >= 0.74 and >= 0.995; the clasped
        // hands of a faceless shot 0.51 and 0.31)
        if (b.score < opts.verify_min_blaze_score) continue;
        float presence = 0.f;
        try {
            mesh->predict(image_small, b.box, 2, 0.f, &presence);
        } catch (const InputError&) {
            continue;  // a box FaceMesh cannot crop (outside the image)
        }
        if (presence < opts.verify_min_score) continue;
        d.score = std::min(d.score, static_cast<double>(presence));
        if (same >= 0)
            out[same] = d;
        else
            out.push_back(d);
    }
}

std::vector<Detection> FaceDetector::Impl::detect_once(const cv::Mat& image_small, float scale) {
    if (opts.kind == DetectorKind::BlazeFace) {
        NED_CHECK(image_small.type() == CV_8UC3, "the BlazeFace detector needs a BGR u8 image, got type ",
                  image_small.type());
        return detect_blaze(image_small, scale);
    }
    if (opts.kind == DetectorKind::Ssd) {
        NED_CHECK(image_small.type() == CV_8UC3, "the SSD face detector needs a BGR u8 image, got type ",
                  image_small.type());
        return from_facenet(ssd->detect(image_small, opts.min_score), scale, ssd_to_hog_box,
                            face::DetectionSource::Ssd);
    }
    cv::Mat grey_small = image_small;
    if (image_small.type() == CV_8UC3) cv::cvtColor(image_small, grey_small, cv::COLOR_BGR2GRAY);
    NED_CHECK(grey_small.type() == CV_8UC1, "detect_scaled expects a grey or BGR u8 image, got type ",
              grey_small.type());
    cv::Mat img = grey_small.isContinuous() ? grey_small : grey_small.clone();
    std::vector<dlib::rect_detection> dets;
    float total = scale;
    if (opts.upsample > 0) {
        dlib::array2d<unsigned char> up;
        dlib::assign_image(up, dlib::cv_image<unsigned char>(img));
        for (int i = 0; i < opts.upsample; ++i) {
            dlib::pyramid_up(up);
            total *= 2.f;
        }
        det(up, dets, opts.adjust_threshold);
    } else {
        det(dlib::cv_image<unsigned char>(img), dets, opts.adjust_threshold);
    }
    std::vector<Detection> out;
    out.reserve(dets.size());
    for (const auto& d : dets) {
        // dlib rectangles are inclusive pixel ranges; edges at left-0.5 .. right+0.5 in small-image pixel
        // coordinates, mapped to frame coordinates with the resize convention x = (u + 0.5) / s - 0.5.
        const auto& r = d.rect;
        Detection det;
        det.box = {static_cast<float>(r.left()) / total - 0.5f, static_cast<float>(r.top()) / total - 0.5f,
                   static_cast<float>(r.right() + 1) / total - 0.5f, static_cast<float>(r.bottom() + 1) / total - 0.5f};
        det.score = d.detection_confidence;
        out.push_back(det);
    }
    sort_largest_first(out);
    return out;
}

}  // namespace ned::track
