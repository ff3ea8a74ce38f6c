// FaceLandmarker: dlib on frontal faces, FaceMesh's 68 points on turned ones, chosen by the estimated yaw.
#include "ned/analysis/face_landmarker.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "ned/core/error.hpp"
#include "ned/track/face_detector.hpp"
#include "ned/facenet/facenet.hpp"

namespace fs = std::filesystem;

namespace ned::analysis {

namespace {
constexpr double kPi = 3.14159265358979323846;
constexpr double kDeg = 180.0 / kPi;

/// Mirrored FaceMesh vertices (subject's right, subject's left): eye corners and lids, brows, cheek/jaw outline,
/// nostrils, mouth corners (the pairs of facemesh_to_68's correspondence).
constexpr int kMirrorPairs[][2] = {{33, 263},  {133, 362}, {160, 387}, {158, 385}, {153, 380}, {144, 373},
                                   {70, 300},  {63, 293},  {105, 334}, {66, 296},  {107, 336}, {127, 356},
                                   {234, 454}, {93, 323},  {132, 361}, {58, 288},  {136, 365}, {150, 379},
                                   {176, 400}, {75, 305},  {97, 326},  {61, 291},  {39, 269},  {37, 267}};
cv::Point3d mesh_x_axis(const std::vector<cv::Point3f>& mesh);
}  // namespace

const char* landmark_mode_name(LandmarkMode m) {
    switch (m) {
        case LandmarkMode::Auto: return "auto";
        case LandmarkMode::Dlib: return "dlib";
        case LandmarkMode::FaceMesh: return "facemesh";
    }
    return "?";
}

LandmarkMode parse_landmark_mode(const std::string& name) {
    if (name == "auto") return LandmarkMode::Auto;
    if (name == "dlib") return LandmarkMode::Dlib;
    if (name == "facemesh") return LandmarkMode::FaceMesh;
    throw InputError(cat("landmark model '", name, "': expected auto, dlib or facemesh"));
}

float yaw_from_landmarks(const face::Landmarks& p) {
    const cv::Point2f e = p[45] - p[36];
    const double len = std::hypot(double(e.x), double(e.y));
    if (!(len > 1e-6)) return 0.f;
    const cv::Point2f m = 0.5f * (p[36] + p[45]);
    const cv::Point2f d = p[30] - m;
    const double r = (double(d.x) * e.x + double(d.y) * e.y) / (len * len);
    return static_cast<float>(std::atan(r / 0.5) * kDeg);
}

float landmark_disagreement(const face::Landmarks& pts, const face::Landmarks& reference) {
    const double io = cv::norm(reference[45] - reference[36]);
    if (!(io > 1e-6)) return 0.f;
    double sum = 0;
    for (int i = 17; i < face::kNumLandmarks; ++i) sum += cv::norm(pts[i] - reference[i]);
    return static_cast<float>(sum / (face::kNumLandmarks - 17) / io);
}

float yaw_from_facemesh(const std::vector<cv::Point3f>& mesh) {
    if (mesh.size() != 468 && mesh.size() != 478)
        throw InputError(cat("yaw_from_facemesh: expected 468 or 478 FaceMesh points, got ", mesh.size()));
    const cv::Point3d x = mesh_x_axis(mesh);
    const double n = cv::norm(x);
    if (!(n > 1e-9)) return 0.f;
    return static_cast<float>(std::asin(std::clamp(x.z / n, -1.0, 1.0)) * kDeg);
}

namespace {
/// The head's left-right axis (subject's right -> left) in the mesh's 3-D coordinates, unnormalised.
cv::Point3d mesh_x_axis(const std::vector<cv::Point3f>& mesh) {
    cv::Point3d x(0, 0, 0);
    for (const auto& pr : kMirrorPairs) x += cv::Point3d(mesh[pr[1]] - mesh[pr[0]]);
    return x;
}
}  // namespace

std::vector<cv::Point2f> facemesh_to_68_silhouette(const std::vector<cv::Point3f>& mesh, float yaw_deg, float band_deg,
                                                   float min_yaw_deg) {
    std::vector<cv::Point2f> out = facenet::facemesh_to_68(mesh);
    if (std::abs(yaw_deg) < min_yaw_deg) return out;
    cv::Point2d c(0, 0);
    cv::Point3d c3(0, 0, 0);
    for (int i = 0; i < 468; ++i) c += cv::Point2d(mesh[i].x, mesh[i].y), c3 += cv::Point3d(mesh[i]);
    c *= 1.0 / 468;
    c3 *= 1.0 / 468;
    // Candidates: the far half of the head (3-D offset along the left-right axis beyond 40 % of the far side's
    // extent), so that the nose, which reaches past the cheek in the image on a strongly turned face, is not
    // taken for the cheek's silhouette.
    cv::Point3d ax = mesh_x_axis(mesh);
    ax *= 1.0 / std::max(1e-9, cv::norm(ax));
    const double far = yaw_deg > 0 ? 1.0 : -1.0;  // the far side is the subject's left for yaw > 0
    std::vector<double> u(468);
    double umax = 0;
    for (int i = 0; i < 468; ++i) {
        u[i] = far * (cv::Point3d(mesh[i]) - c3).dot(ax);
        umax = std::max(umax, u[i]);
    }
    std::vector<double> ang(468), rad(468);
    for (int i = 0; i < 468; ++i) {
        const double dx = mesh[i].x - c.x, dy = mesh[i].y - c.y;
        ang[i] = std::atan2(dy, dx);
        rad[i] = std::hypot(dx, dy);
    }
    const double band = band_deg / kDeg;
    const int first = yaw_deg > 0 ? 9 : 0, last = yaw_deg > 0 ? 16 : 7;
    for (int j = first; j <= last; ++j) {
        const double phi = std::atan2(out[j].y - c.y, out[j].x - c.x);
        double best = std::hypot(out[j].x - c.x, out[j].y - c.y);
        for (int i = 0; i < 468; ++i) {
            if (u[i] < 0.4 * umax) continue;
            double da = std::abs(ang[i] - phi);
            if (da > kPi) da = 2 * kPi - da;
            if (da <= band && rad[i] > best) best = rad[i];
        }
        out[j] = cv::Point2f(float(c.x + best * std::cos(phi)), float(c.y + best * std::sin(phi)));
    }
    return out;
}

// ---- FaceLandmarker -----------------------------------------------------------------------------------------

struct FaceLandmarker::Impl {
    std::unique_ptr<facenet::FaceMesh> mesh;
    std::unique_ptr<facenet::Landmarks68> net;
    void load(const FaceLandmarkerOptions& o) {
        if (o.mode == LandmarkMode::Dlib) return;
        const fs::path dir = o.open_models_dir.empty() ? facenet::open_models_dir() : fs::path(o.open_models_dir);
        mesh = std::make_unique<facenet::FaceMesh>(dir);
        if (o.mode == LandmarkMode::Auto && o.ensemble_faceapi) net = std::make_unique<facenet::Landmarks68>(dir);
    }
};

FaceLandmarker::FaceLandmarker(const std::string& dlib_model, const FaceLandmarkerOptions& options)
    : impl_(std::make_unique<Impl>()), own_dlib_(std::make_unique<track::LandmarkDetector>(dlib_model)),
      dlib_(own_dlib_.get()), opts_(options) {
    impl_->load(opts_);
}

FaceLandmarker::FaceLandmarker(const track::LandmarkDetector& dlib, const FaceLandmarkerOptions& options)
    : impl_(std::make_unique<Impl>()), dlib_(&dlib), opts_(options) {
    impl_->load(opts_);
}

FaceLandmarker::~FaceLandmarker() = default;

std::vector<cv::Point3f> FaceLandmarker::facemesh(const cv::Mat& bgr, const cv::Rect2f& rect) const {
    if (!impl_->mesh) throw ModelError("FaceLandmarker: FaceMesh is not loaded in dlib mode");
    return impl_->mesh->predict(bgr, rect, std::max(1, opts_.facemesh_passes));
}

LandmarkResult FaceLandmarker::landmark(const cv::Mat& crop_bgr, const cv::Rect2f& rect, float detector_yaw_deg) const {
    LandmarkResult r;
    auto mesh68 = [&](face::Landmarks& pts, float& yaw) {
        const std::vector<cv::Point3f> mesh = facemesh(crop_bgr, rect);
        yaw = yaw_from_facemesh(mesh);
        const std::vector<cv::Point2f> v =
            opts_.silhouette_jaw ? facemesh_to_68_silhouette(mesh, yaw) : facenet::facemesh_to_68(mesh);
        for (int i = 0; i < face::kNumLandmarks; ++i) pts[i] = v[i];
    };
    if (opts_.mode == LandmarkMode::FaceMesh) {
        mesh68(r.single, r.yaw_deg);
        r.averaged = r.single;
        r.source = face::LandmarkSource::FaceMesh;
        r.yaw_from_mesh = true;
        return r;
    }
    if (opts_.multisample) {
        r.averaged = dlib_->landmark_multisample(crop_bgr, rect, opts_.multisample_shift, &r.single);
    } else {
        r.single = dlib_->landmark(crop_bgr, rect);
        r.averaged = r.single;
    }
    r.source = face::LandmarkSource::Dlib;
    r.yaw_deg = yaw_from_landmarks(r.averaged);
    if (opts_.mode == LandmarkMode::Dlib || std::abs(r.yaw_deg) < opts_.gate_deg) return r;
    if (std::isfinite(detector_yaw_deg) && std::abs(detector_yaw_deg) < opts_.frontal_hint_deg) {
        r.yaw_deg = detector_yaw_deg;  // frontal by the detector's keypoints: no FaceMesh
        return r;
    }

    face::Landmarks m{};
    float yaw = 0.f;
    mesh68(m, yaw);
    r.yaw_deg = yaw;
    r.yaw_from_mesh = true;
    r.disagreement = landmark_disagreement(r.averaged, m);
    auto ramp = [](float x, float lo, float hi) { return x <= lo ? 0.f : x >= hi ? 1.f : (x - lo) / (hi - lo); };
    // weight of the turned-face points: by FaceMesh's yaw, or by dlib's disagreement with FaceMesh (dlib failing on a
    // face whose yaw FaceMesh underestimates), whichever is larger
    const float w = std::max(ramp(std::abs(yaw), opts_.blend_lo_deg, opts_.blend_hi_deg),
                             ramp(r.disagreement, opts_.disagreement_lo, opts_.disagreement_hi));
    if (w <= 0.f) return r;
    if (impl_->net) {
        // face-api's net takes the SSD box: back from the HOG-like rectangle (inverse of the SSD -> HOG mapping)
        const float bw = rect.width / track::kSsdScaleX, bh = rect.height / track::kSsdScaleY;
        const float cx = rect.x + rect.width / 2 - track::kSsdShiftX * bw,
                    cy = rect.y + rect.height / 2 - track::kSsdShiftY * bh;
        const std::vector<cv::Point2f> f = impl_->net->predict(crop_bgr, cv::Rect2f(cx - bw / 2, cy - bh / 2, bw, bh));
        for (int i = 0; i < face::kNumLandmarks; ++i) m[i] = 0.5f * (m[i] + f[i]);
    }
    if (w >= 1.f) {
        r.single = r.averaged = m;
        r.source = face::LandmarkSource::FaceMesh;
        return r;
    }
    for (int i = 0; i < face::kNumLandmarks; ++i) {
        r.single[i] = (1.f - w) * r.single[i] + w * m[i];
        r.averaged[i] = (1.f - w) * r.averaged[i] + w * m[i];
    }
    r.source = face::LandmarkSource::Blend;
    return r;
}

}  // namespace ned::analysis
