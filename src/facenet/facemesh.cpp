// MediaPipe FaceMesh as @vladmandic/human ships it (the TF.js graph facemesh.json), with MediaPipe's face-landmark
// ROI (face_landmark_front: the crop turned with the face, re-centred on the previous mesh).
#include "ned/facenet/facemesh.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include "facenet/face_input.hpp"
#include "ned/core/error.hpp"
#include "ned/facenet/tfjs_graph.hpp"

namespace ned::facenet {

namespace fs = std::filesystem;

namespace {

constexpr int kInput = 192;
constexpr double kRoiScale = 1.5;

/// The face's ROI in image pixel-edge coordinates: centre, side (before the 1.5 enlargement), angle of the face's
/// x axis.
struct Roi {
    double cx, cy, side, angle;
};

/// Crop pixel (u, v) (pixel-edge coordinates of the 192 square) -> image pixel-edge coordinates:
/// p = centre + R(angle) * ((u - 96) k, (v - 96) k), k = 1.5 side / 192.
struct CropToImage {
    double cx, cy, k, c, sn;
    explicit CropToImage(const Roi& r) : cx(r.cx), cy(r.cy) {
        const double crop = kRoiScale * r.side;
        k = crop / kInput;
        c = std::cos(r.angle);
        sn = std::sin(r.angle);
    }
    cv::Point2d operator()(double u, double v) const {
        const double a = (u - 0.5 * kInput) * k, b = (v - 0.5 * kInput) * k;
        return cv::Point2d(cx + c * a - sn * b, cy + sn * a + c * b);
    }
};

/// The network input of one pass: the turned crop resampled bilinearly (black outside the image), RGB / 255,
/// [1, 3, 192, 192].
torch::Tensor crop_input(const cv::Mat& bgr, const CropToImage& to_image) {
    constexpr int S = kInput;
    // warpAffine with WARP_INVERSE_MAP: dst pixel centre (x, y) -> src pixel centre
    // (edge coordinates are centre + 0.5 on both sides)
    const double c = to_image.c, sn = to_image.sn, k = to_image.k;
    const cv::Point2d o = to_image(0.5, 0.5);
    cv::Mat M = (cv::Mat_<double>(2, 3) << c * k, -sn * k, o.x - 0.5, sn * k, c * k, o.y - 0.5);
    cv::Mat patch;
    cv::warpAffine(bgr, patch, M, cv::Size(S, S), cv::INTER_LINEAR | cv::WARP_INVERSE_MAP, cv::BORDER_CONSTANT,
                   cv::Scalar::all(0));
    torch::Tensor t = torch::empty({1, 3, S, S}, torch::kFloat32);
    float* dst = t.data_ptr<float>();
    for (int y = 0; y < S; ++y) {
        const cv::Vec3b* row = patch.ptr<cv::Vec3b>(y);
        for (int x = 0; x < S; ++x)
            for (int ch = 0; ch < 3; ++ch) dst[(ch * S + y) * S + x] = row[x][2 - ch] / 255.0f;
    }
    return t;
}

/// The next pass's ROI: eye line (points 33 and 263) horizontal, bounding box of the mesh in the face's own frame.
Roi roi_from_mesh(const std::vector<cv::Point3f>& pts) {
    const double angle = std::atan2(double(pts[263].y) - pts[33].y, double(pts[263].x) - pts[33].x);
    const double c2 = std::cos(angle), s2 = std::sin(angle);
    double u0 = 1e30, u1 = -1e30, v0 = 1e30, v1 = -1e30;
    for (const auto& q : pts) {
        const double u = c2 * q.x + s2 * q.y, v = -s2 * q.x + c2 * q.y;
        u0 = std::min(u0, u), u1 = std::max(u1, u), v0 = std::min(v0, v), v1 = std::max(v1, v);
    }
    const double mu = 0.5 * (u0 + u1), mv = 0.5 * (v0 + v1);
    return Roi{c2 * mu - s2 * mv + 0.5, s2 * mu + c2 * mv + 0.5, std::max(u1 - u0, v1 - v0), angle};
}

}  // namespace

FaceMesh::FaceMesh(const fs::path& dir) : graph_(std::make_shared<const TfjsGraph>(dir / "facemesh.json")) {}

std::vector<cv::Point3f> FaceMesh::predict(const cv::Mat& bgr, const cv::Rect2f& box, int passes, float roll_deg,
                                           float* face_score) const {
    check_image(bgr, "FaceMesh");
    if (passes < 1) throw InputError(cat("FaceMesh: passes must be >= 1 (got ", passes, ")"));
    face_crop(bgr, box, "FaceMesh");  // validates the box (finite, overlapping the image)
    torch::NoGradGuard no_grad;
    if (!std::isfinite(roll_deg)) throw InputError("FaceMesh: the roll angle is not finite");
    // pass 1: the box, upright or turned by the roll; the angle of the face's x axis in image coordinates (y down):
    // a counter-clockwise roll is a negative angle
    Roi roi{box.x + 0.5 * box.width, box.y + 0.5 * box.height, std::max(box.width, box.height),
            -double(roll_deg) * CV_PI / 180.0};
    std::vector<cv::Point3f> pts(468);
    for (int pass = 0; pass < passes; ++pass) {
        const CropToImage to_image(roi);
        const torch::Tensor t = crop_input(bgr, to_image);
        const bool last = pass + 1 == passes;
        torch::Tensor mesh;
        if (face_score && last) {
            const auto o = graph_->run(t, std::vector<std::string>{"Identity_2", "Identity_1"});
            mesh = o[0].reshape({468, 3}).contiguous();
            *face_score = o[1].reshape({-1})[0].item<float>();  // the graph ends in a sigmoid
        } else {
            mesh = graph_->run(t, "Identity_2").reshape({468, 3}).contiguous();
        }
        const float* m = mesh.data_ptr<float>();
        for (int i = 0; i < 468; ++i) {
            const cv::Point2d p = to_image(m[3 * i], m[3 * i + 1]);
            pts[i] = cv::Point3f(float(p.x - 0.5), float(p.y - 0.5), float(m[3 * i + 2] * to_image.k));
        }
        if (last) break;
        roi = roi_from_mesh(pts);
    }
    return pts;
}

std::vector<cv::Point2f> facemesh_to_68(const std::vector<cv::Point3f>& mesh) {
    if (mesh.size() != 468 && mesh.size() != 478)
        throw InputError(cat("facemesh_to_68: expected 468 or 478 FaceMesh points, got ", mesh.size()));
    // Peizhi Yan, Mediapipe_2_Dlib_Landmarks (mp2dlib.py): iBUG point i = mean of these mesh points
    static const int kMap[68][2] = {
        {127, 127}, {234, 234}, {93, 93},   {132, 58},  {58, 172},  {136, 136}, {150, 150}, {176, 176}, {152, 152},
        {400, 400}, {379, 379}, {365, 365}, {397, 288}, {361, 361}, {323, 323}, {454, 454}, {356, 356},  // jaw 0-16
        {70, 70},   {63, 63},   {105, 105}, {66, 66},   {107, 107},                                      // brow 17-21
        {336, 336}, {296, 296}, {334, 334}, {293, 293}, {300, 300},                                      // brow 22-26
        {168, 6},   {197, 195}, {5, 5},     {4, 4},                                          // nose bridge 27-30
        {75, 75},   {97, 97},   {2, 2},     {326, 326}, {305, 305},                          // nostrils 31-35
        {33, 33},   {160, 160}, {158, 158}, {133, 133}, {153, 153}, {144, 144},              // eye 36-41
        {362, 362}, {385, 385}, {387, 387}, {263, 263}, {373, 373}, {380, 380},              // eye 42-47
        {61, 61},   {39, 39},   {37, 37},   {0, 0},     {267, 267}, {269, 269}, {291, 291},  // outer lip 48-54
        {321, 321}, {314, 314}, {17, 17},   {84, 84},   {91, 91},                            // outer lip 55-59
        {78, 78},   {82, 82},   {13, 13},   {312, 312}, {308, 308},                          // inner lip 60-64
        {317, 317}, {14, 14},   {87, 87}};                                                   // inner lip 65-67
    std::vector<cv::Point2f> out(68);
    for (int i = 0; i < 68; ++i) {
        const auto& a = mesh[kMap[i][0]];
        const auto& b = mesh[kMap[i][1]];
        out[i] = cv::Point2f(0.5f * (a.x + b.x), 0.5f * (a.y + b.y));
    }
    return out;
}

}  // namespace ned::facenet
