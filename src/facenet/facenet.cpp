// Hand-written LibTorch versions of face-api's nets (@vladmandic/face-api 1.7.15, src/ssdMobilenetv1,
// src/faceFeatureExtractor, src/faceLandmarkNet, src/faceExpressionNet, src/faceRecognitionNet). TF.js works in
// NHWC, LibTorch in NCHW: filters are permuted once at load time, and every reshape that depends on the memory
// order (the SSD's box predictor outputs) goes through NHWC first. TF's 'SAME' padding puts the odd pixel at the
// bottom/right, which conv2d's symmetric padding cannot express, so it is padded explicitly.
#include "ned/facenet/facenet.hpp"

#include <algorithm>
#include <cmath>
#include <mutex>

#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include "ned/core/error.hpp"
#include "ned/facenet/tfjs_weights.hpp"

namespace ned::facenet {

namespace fs = std::filesystem;
namespace F = torch::nn::functional;

namespace {
std::mutex g_open_models_mutex;
fs::path g_open_models_override;  // set_open_models_dir (main: $NED_OPEN_MODELS)
}  // namespace

void set_open_models_dir(const fs::path& dir) {
    std::lock_guard<std::mutex> lock(g_open_models_mutex);
    g_open_models_override = dir;
}

fs::path open_models_dir() {
    std::vector<fs::path> tried;
    fs::path given;
    {
        std::lock_guard<std::mutex> lock(g_open_models_mutex);
        given = g_open_models_override;
    }
    if (!given.empty()) {
        if (fs::is_directory(given)) return given;
        throw ModelError(cat("NED_OPEN_MODELS=", given.string(), " is not a folder (expected the open face models, ",
                             "share/ned/open of an installed ned)"));
    }
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        const fs::path p = exe.parent_path().parent_path() / "share" / "ned" / "open";
        if (fs::is_directory(p)) return p;
        tried.push_back(p);
    }
    const fs::path src(NED_SOURCE_OPEN_MODELS);
    if (fs::is_directory(src)) return src;
    tried.push_back(src);
    std::string list;
    for (const auto& t : tried) list += (list.empty() ? "" : ", ") + t.string();
    throw ModelError(cat("open face models not found (tried ", list,
                         "); set NED_OPEN_MODELS to the folder holding face-api's *-weights_manifest.json files"));
}

namespace {

// ---- TF ops in NCHW --------------------------------------------------------------------------------------

/// TF filter [kh, kw, in, out] -> torch [out, in, kh, kw].
torch::Tensor conv_filter(const torch::Tensor& tf) { return tf.permute({3, 2, 0, 1}).contiguous(); }
/// TF depthwise filter [kh, kw, in, mult] -> torch [in * mult, 1, kh, kw] (groups = in).
torch::Tensor depthwise_filter(const torch::Tensor& tf) {
    return tf.permute({2, 3, 0, 1}).reshape({tf.size(2) * tf.size(3), 1, tf.size(0), tf.size(1)}).contiguous();
}

/// TF 'SAME' padding: out = ceil(in / stride), total = max((out - 1) * stride + k - in, 0), the smaller half first.
torch::Tensor pad_same(const torch::Tensor& x, int64_t kh, int64_t kw, int64_t stride) {
    auto total = [&](int64_t in, int64_t k) {
        const int64_t out = (in + stride - 1) / stride;
        return std::max<int64_t>((out - 1) * stride + k - in, 0);
    };
    const int64_t th = total(x.size(2), kh), tw = total(x.size(3), kw);
    if (th == 0 && tw == 0) return x;
    return F::pad(x, F::PadFuncOptions({tw / 2, tw - tw / 2, th / 2, th - th / 2}));
}

struct Conv {  // conv2d + optional bias; same or valid padding
    torch::Tensor w, b;
    int64_t stride = 1;
    bool same = true;
    int64_t groups = 1;
    torch::Tensor operator()(const torch::Tensor& x) const {
        const torch::Tensor in = same ? pad_same(x, w.size(2), w.size(3), stride) : x;
        return F::conv2d(in, w, F::Conv2dFuncOptions().bias(b).stride(stride).groups(groups));
    }
};

Conv make_conv(const torch::Tensor& tf_filter, const torch::Tensor& bias, int64_t stride, bool same = true) {
    return Conv{conv_filter(tf_filter), bias.defined() ? bias.contiguous() : bias, stride, same, 1};
}
Conv make_depthwise(const torch::Tensor& tf_filter, int64_t stride) {
    return Conv{depthwise_filter(tf_filter), {}, stride, true, tf_filter.size(2)};
}

/// Per-channel vector as [1, C, 1, 1] for broadcasting over NCHW.
torch::Tensor chan(const torch::Tensor& v) { return v.reshape({1, -1, 1, 1}).contiguous(); }

// ---- input tensors, exactly as face-api builds them ---------------------------------------------------------

/// Integer crop of `box` as face-api's extractFaceTensors: clipped at the image borders, then floored.
cv::Rect face_crop(const cv::Mat& bgr, const cv::Rect2f& box, const char* who) {
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

void check_image(const cv::Mat& bgr, const char* who) {
    if (bgr.empty() || bgr.type() != CV_8UC3)
        throw InputError(cat(who, ": expected a non-empty 8-bit BGR image (CV_8UC3), got ", bgr.cols, "x", bgr.rows,
                             " type ", bgr.type()));
}

/// RGB float tensor [1, 3, out, out]: the crop `r` placed at (pad_left, pad_top) in a black square of side `side`
/// (face-api's padToSquare), resized to out x out by tf.image.resizeBilinear(alignCorners = false,
/// halfPixelCenters = false) as tfjs-backend-cpu computes it (in double, stored as float32).
torch::Tensor square_input(const cv::Mat& bgr, const cv::Rect& r, int pad_left, int pad_top, int side, int out) {
    torch::Tensor t = torch::empty({1, 3, out, out}, torch::kFloat32);
    float* dst = t.data_ptr<float>();
    const double ratio = double(side) / double(out);
    auto pixel = [&](int py, int px, int c) -> double {  // padded-square coordinates -> value (RGB channel c)
        const int iy = py - pad_top, ix = px - pad_left;
        if (iy < 0 || ix < 0 || iy >= r.height || ix >= r.width) return 0.0;
        return bgr.ptr<cv::Vec3b>(r.y + iy)[r.x + ix][2 - c];
    };
    const size_t plane = size_t(out) * out;
    for (int oy = 0; oy < out; ++oy) {
        const double sy = ratio * oy;
        const int y0 = std::max(0, int(std::floor(sy)));
        const double fy = sy - y0;
        const int y1 = std::min(side - 1, int(std::ceil(sy)));
        for (int ox = 0; ox < out; ++ox) {
            const double sx = ratio * ox;
            const int x0 = std::max(0, int(std::floor(sx)));
            const double fx = sx - x0;
            const int x1 = std::min(side - 1, int(std::ceil(sx)));
            for (int c = 0; c < 3; ++c) {
                const double tl = pixel(y0, x0, c), tr = pixel(y0, x1, c);
                const double bl = pixel(y1, x0, c), br = pixel(y1, x1, c);
                const double top = tl + (tr - tl) * fx, bottom = bl + (br - bl) * fx;
                dst[c * plane + size_t(oy) * out + ox] = float(top + (bottom - top) * fy);
            }
        }
    }
    return t;
}

/// The crop of a face net: padded to a square with the odd pixel... as padToSquare(isCenterImage = true):
/// round(diff / 2) rows/columns appended (bottom/right), the rest prepended.
torch::Tensor centered_face_input(const cv::Mat& bgr, const cv::Rect& r, int out) {
    const int diff = std::abs(r.height - r.width);
    const int append = int(std::floor(diff * 0.5 + 0.5));
    const int prepend = diff - append;
    const int side = std::max(r.width, r.height);
    const bool pad_width = r.height > r.width;
    return square_input(bgr, r, pad_width ? prepend : 0, pad_width ? 0 : prepend, side, out);
}

/// face-api's normalize(x, meanRgb).div(255) on an RGB [1, 3, H, W] tensor.
torch::Tensor normalize_face(const torch::Tensor& x) {
    const torch::Tensor mean = torch::tensor({122.782f, 117.001f, 104.298f}).reshape({1, 3, 1, 1});
    return (x - mean) / 255.0f;
}

// ---- face feature extractor (shared by the landmark and expression nets) ------------------------------------

struct SepConv {
    Conv depthwise, pointwise;
    torch::Tensor bias;
    torch::Tensor operator()(const torch::Tensor& x) const { return pointwise(depthwise(x)) + bias; }
};

struct DenseBlock4 {
    Conv conv0_regular;  // first block only
    SepConv conv0, conv1, conv2, conv3;
    bool first = false;
    torch::Tensor operator()(const torch::Tensor& x) const {
        const torch::Tensor out1 = torch::relu(first ? conv0_regular(x) : conv0(x));
        const torch::Tensor out2 = conv1(out1);
        const torch::Tensor in3 = torch::relu(out1 + out2);
        const torch::Tensor out3 = conv2(in3);
        const torch::Tensor in4 = torch::relu(out1 + (out2 + out3));
        const torch::Tensor out4 = conv3(in4);
        return torch::relu(out1 + (out2 + (out3 + out4)));
    }
};

struct FeatureNet {  // FaceFeatureExtractor + fully connected layer (FaceProcessor)
    DenseBlock4 dense[4];
    torch::Tensor fc_w, fc_b;  // [256, out], [out]

    FeatureNet(const WeightMap& m, const fs::path& src) {
        auto sep = [&](const std::string& p, int64_t stride) {
            return SepConv{make_depthwise(weight(m, p + "/depthwise_filter", 4, src), stride),
                           make_conv(weight(m, p + "/pointwise_filter", 4, src), {}, 1),
                           chan(weight(m, p + "/bias", 1, src))};
        };
        for (int i = 0; i < 4; ++i) {
            const std::string p = "dense" + std::to_string(i);
            DenseBlock4& d = dense[i];
            d.first = i == 0;
            if (d.first)
                d.conv0_regular = make_conv(weight(m, p + "/conv0/filters", 4, src), weight(m, p + "/conv0/bias", 1, src), 2);
            else
                d.conv0 = sep(p + "/conv0", 2);
            d.conv1 = sep(p + "/conv1", 1);
            d.conv2 = sep(p + "/conv2", 1);
            d.conv3 = sep(p + "/conv3", 1);
        }
        fc_w = weight(m, "fc/weights", 2, src).contiguous();
        fc_b = weight(m, "fc/bias", 1, src).contiguous();
    }
    /// [B, 3, 112, 112] RGB 0..255 -> [B, out]
    torch::Tensor operator()(const torch::Tensor& rgb) const {
        torch::Tensor x = normalize_face(rgb);
        for (const auto& d : dense) x = d(x);
        x = F::avg_pool2d(x, F::AvgPool2dFuncOptions(7).stride(2));  // 'valid'
        x = x.permute({0, 2, 3, 1}).reshape({x.size(0), -1});        // NHWC flatten (1x1 here)
        return torch::matmul(x, fc_w) + fc_b;
    }
};

constexpr int kFaceInput = 112;
constexpr int kDescriptorInput = 150;
constexpr int kDetectorInput = 512;

}  // namespace

// ---- FaceDetector (SSD-MobileNetV1) -------------------------------------------------------------------------

struct FaceDetector::Impl {
    struct PointwiseBN {  // conv + batch_norm_offset + relu6
        Conv conv;
        torch::Tensor offset;
        torch::Tensor operator()(const torch::Tensor& x) const { return torch::clamp(conv(x) + offset, 0, 6); }
    };
    struct DepthwiseBN {  // depthwise conv + batch norm + relu6
        Conv conv;
        torch::Tensor mean, inv_scale, offset;  // (x - mean) * (gamma / sqrt(var + eps)) + beta
        torch::Tensor operator()(const torch::Tensor& x) const {
            return torch::clamp((conv(x) - mean) * inv_scale + offset, 0, 6);
        }
    };
    PointwiseBN conv0;
    DepthwiseBN dw[13];
    PointwiseBN pw[13];
    PointwiseBN pred[8];
    Conv box_enc[6], cls[6];
    torch::Tensor anchors;  // [N, 4]

    explicit Impl(const fs::path& dir) {
        const fs::path src = dir / "ssd_mobilenetv1_model-weights_manifest.json";
        const WeightMap m = load_tfjs_weights(src);
        auto pointwise = [&](const std::string& p, int idx, int64_t stride) {
            const std::string n = p + "/Conv2d_" + std::to_string(idx) + "_pointwise";
            return PointwiseBN{make_conv(weight(m, n + "/weights", 4, src), {}, stride),
                               chan(weight(m, n + "/convolution_bn_offset", 1, src))};
        };
        constexpr double eps = 0.0010000000474974513;
        conv0 = pointwise("MobilenetV1", 0, 2);
        for (int i = 1; i <= 13; ++i) {
            const std::string n = "MobilenetV1/Conv2d_" + std::to_string(i) + "_depthwise";
            const int64_t stride = (i == 2 || i == 4 || i == 6 || i == 12) ? 2 : 1;
            const torch::Tensor var = weight(m, n + "/BatchNorm/moving_variance", 1, src).to(torch::kFloat64);
            const torch::Tensor gamma = weight(m, n + "/BatchNorm/gamma", 1, src).to(torch::kFloat64);
            dw[i - 1] = DepthwiseBN{make_depthwise(weight(m, n + "/depthwise_weights", 4, src), stride),
                                    chan(weight(m, n + "/BatchNorm/moving_mean", 1, src)),
                                    chan((gamma / torch::sqrt(var + eps)).to(torch::kFloat32)),
                                    chan(weight(m, n + "/BatchNorm/beta", 1, src))};
            pw[i - 1] = pointwise("MobilenetV1", i, 1);
        }
        for (int i = 0; i < 8; ++i) pred[i] = pointwise("Prediction", i, i % 2 == 1 ? 2 : 1);
        for (int i = 0; i < 6; ++i) {
            const std::string n = "Prediction/BoxPredictor_" + std::to_string(i);
            box_enc[i] = make_conv(weight(m, n + "/BoxEncodingPredictor/weights", 4, src),
                                   weight(m, n + "/BoxEncodingPredictor/biases", 1, src), 1);
            cls[i] = make_conv(weight(m, n + "/ClassPredictor/weights", 4, src),
                               weight(m, n + "/ClassPredictor/biases", 1, src), 1);
        }
        anchors = weight(m, "Output/extra_dim", 3, src).reshape({-1, 4}).contiguous();
    }

    /// [1, 3, 512, 512] RGB 0..255 -> boxes [N, 4] (ymin, xmin, ymax, xmax relative to the square), scores [N]
    std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& rgb) const {
        torch::Tensor x = rgb / 127.5f - 1.0f;
        x = conv0(x);
        torch::Tensor conv11;
        for (int i = 0; i < 13; ++i) {
            x = pw[i](dw[i](x));
            if (i + 1 == 11) conv11 = x;
        }
        std::vector<torch::Tensor> feats(6);
        torch::Tensor c = pred[0](x), c1 = pred[1](c);
        torch::Tensor c3 = pred[3](pred[2](c1));
        torch::Tensor c5 = pred[5](pred[4](c3));
        torch::Tensor c7 = pred[7](pred[6](c5));
        feats = {conv11, x, c1, c3, c5, c7};
        std::vector<torch::Tensor> enc, cl;
        for (int i = 0; i < 6; ++i) {  // NHWC order before the reshape, as TF.js
            enc.push_back(box_enc[i](feats[i]).permute({0, 2, 3, 1}).reshape({-1, 4}));
            cl.push_back(cls[i](feats[i]).permute({0, 2, 3, 1}).reshape({-1, 3}));
        }
        const torch::Tensor e = torch::cat(enc, 0), k = torch::cat(cl, 0);
        // decodeBoxesLayer
        const torch::Tensor a0 = anchors.select(1, 0), a1 = anchors.select(1, 1);
        const torch::Tensor a2 = anchors.select(1, 2), a3 = anchors.select(1, 3);
        const torch::Tensor s0 = a2 - a0, s1 = a3 - a1;
        const torch::Tensor ctr0 = a0 + s0 / 2, ctr1 = a1 + s1 / 2;
        const torch::Tensor div0 = torch::exp(e.select(1, 2) / 5) * s0 / 2;
        const torch::Tensor add0 = (e.select(1, 0) / 10) * s0 + ctr0;
        const torch::Tensor div1 = torch::exp(e.select(1, 3) / 5) * s1 / 2;
        const torch::Tensor add1 = (e.select(1, 1) / 10) * s1 + ctr1;
        const torch::Tensor boxes = torch::stack({add0 - div0, add1 - div1, add0 + div0, add1 + div1}, 1);
        const torch::Tensor scores = torch::sigmoid(k.select(1, 1));
        return {boxes.contiguous(), scores.contiguous()};
    }
};

FaceDetector::FaceDetector(const fs::path& dir) : impl_(std::make_unique<Impl>(dir)) {}
FaceDetector::~FaceDetector() = default;
FaceDetector::FaceDetector(FaceDetector&&) noexcept = default;
FaceDetector& FaceDetector::operator=(FaceDetector&&) noexcept = default;

std::vector<Detection> FaceDetector::detect(const cv::Mat& bgr, float min_score) const {
    check_image(bgr, "FaceDetector");
    torch::NoGradGuard no_grad;
    const int W = bgr.cols, H = bgr.rows, side = std::max(W, H);
    const auto [boxes_t, scores_t] =
        impl_->forward(square_input(bgr, cv::Rect(0, 0, W, H), 0, 0, side, kDetectorInput));
    const float* bx = boxes_t.data_ptr<float>();
    const float* sc = scores_t.data_ptr<float>();
    const int64_t n = scores_t.size(0);
    // face-api's nonMaxSuppression (ssdMobilenetv1/nonMaxSuppression.ts): greedy, IoU 0.5, at most 100.
    struct Cand {
        double score;
        int64_t idx;
    };
    std::vector<Cand> cand;
    for (int64_t i = 0; i < n; ++i)
        if (double(sc[i]) > double(min_score)) cand.push_back({double(sc[i]), i});
    std::stable_sort(cand.begin(), cand.end(), [](const Cand& a, const Cand& b) { return a.score > b.score; });
    auto iou = [&](int64_t i, int64_t j) {
        const float* a = bx + 4 * i;
        const float* b = bx + 4 * j;
        const double ya0 = std::min(a[0], a[2]), xa0 = std::min(a[1], a[3]);
        const double ya1 = std::max(a[0], a[2]), xa1 = std::max(a[1], a[3]);
        const double yb0 = std::min(b[0], b[2]), xb0 = std::min(b[1], b[3]);
        const double yb1 = std::max(b[0], b[2]), xb1 = std::max(b[1], b[3]);
        const double area_a = (ya1 - ya0) * (xa1 - xa0), area_b = (yb1 - yb0) * (xb1 - xb0);
        if (area_a <= 0 || area_b <= 0) return 0.0;
        const double inter = std::max(std::min(ya1, yb1) - std::max(ya0, yb0), 0.0) *
                             std::max(std::min(xa1, xb1) - std::max(xa0, xb0), 0.0);
        return inter / (area_a + area_b - inter);
    };
    constexpr size_t kMaxResults = 100;
    constexpr double kIou = 0.5;
    std::vector<int64_t> selected;
    for (auto& c : cand) {
        if (selected.size() >= std::min<size_t>(kMaxResults, size_t(n))) break;
        const double original = c.score;
        for (size_t j = selected.size(); j-- > 0;) {
            const double v = iou(c.idx, selected[j]);
            if (v == 0.0) continue;
            c.score *= v <= kIou ? 1.0 : 0.0;
            if (c.score <= min_score) break;
        }
        if (original == c.score) selected.push_back(c.idx);
    }
    // Relative box in the padded square -> image pixels (SsdMobilenetv1.locateFaces + Box.rescale).
    const double scale = double(kDetectorInput) / side;
    const double pad_x = double(kDetectorInput) / std::round(W * scale);
    const double pad_y = double(kDetectorInput) / std::round(H * scale);
    std::vector<Detection> out;
    for (int64_t i : selected) {
        const float* b = bx + 4 * i;
        const double top = std::max(0.0, double(b[0])) * pad_y, bottom = std::min(1.0, double(b[2])) * pad_y;
        const double left = std::max(0.0, double(b[1])) * pad_x, right = std::min(1.0, double(b[3])) * pad_x;
        out.push_back({cv::Rect2f(float(left * W), float(top * H), float((right - left) * W),
                                  float((bottom - top) * H)),
                       sc[i]});
    }
    return out;
}

// ---- BlazeFaceDetector (TF.js graph) ------------------------------------------------------------------------

struct BlazeFaceDetector::Impl {
    TfjsGraph graph;
    torch::Tensor anchors;  // [896, 2] (x, y) in input pixels
    explicit Impl(const fs::path& dir) : graph(dir / "blazeface.json") {
        std::vector<float> a;
        const int strides[2] = {16, 32}, per_cell[2] = {2, 6};  // human's generateAnchors(256)
        for (int i = 0; i < 2; ++i) {
            const int grid = (kBlazeInput + strides[i] - 1) / strides[i];
            for (int gy = 0; gy < grid; ++gy)
                for (int gx = 0; gx < grid; ++gx)
                    for (int n = 0; n < per_cell[i]; ++n) {
                        a.push_back(float(strides[i] * (gx + 0.5)));
                        a.push_back(float(strides[i] * (gy + 0.5)));
                    }
        }
        anchors = torch::from_blob(a.data(), {int64_t(a.size() / 2), 2}, torch::kFloat32).clone();
    }
    static constexpr int kBlazeInput = 256;
};
BlazeFaceDetector::BlazeFaceDetector(const fs::path& dir) : impl_(std::make_unique<Impl>(dir)) {}
BlazeFaceDetector::~BlazeFaceDetector() = default;
BlazeFaceDetector::BlazeFaceDetector(BlazeFaceDetector&&) noexcept = default;
BlazeFaceDetector& BlazeFaceDetector::operator=(BlazeFaceDetector&&) noexcept = default;

float blaze_yaw_deg(const Detection& d) {
    if (d.keypoints.size() < 3) return 0.f;
    const cv::Point2f eye_r = d.keypoints[0], eye_l = d.keypoints[1], nose = d.keypoints[2];
    const cv::Point2f axis = eye_l - eye_r, mid = 0.5f * (eye_l + eye_r);
    const float dist = std::sqrt(axis.dot(axis));
    if (!(dist > 1e-3f)) return 0.f;
    const float r = (nose - mid).dot(axis) / (dist * dist);
    return static_cast<float>(std::atan(r / kBlazeNoseDepth) * 180.0 / CV_PI);
}

std::vector<Detection> BlazeFaceDetector::detect(const cv::Mat& bgr, float min_score) const {
    check_image(bgr, "BlazeFaceDetector");
    torch::NoGradGuard no_grad;
    constexpr int S = Impl::kBlazeInput;
    const int W = bgr.cols, H = bgr.rows;
    // tf.image.resizeBilinear(frame, [256, 256]) (stretched, no half-pixel centres), / 127.5 - 1
    torch::Tensor t = torch::empty({1, 3, S, S}, torch::kFloat32);
    float* dst = t.data_ptr<float>();
    const double ry = double(H) / S, rx = double(W) / S;
    for (int oy = 0; oy < S; ++oy) {
        const double sy = ry * oy;
        const int y0 = std::max(0, int(std::floor(sy))), y1 = std::min(H - 1, int(std::ceil(sy)));
        const double fy = sy - y0;
        const cv::Vec3b* r0 = bgr.ptr<cv::Vec3b>(y0);
        const cv::Vec3b* r1 = bgr.ptr<cv::Vec3b>(y1);
        for (int ox = 0; ox < S; ++ox) {
            const double sx = rx * ox;
            const int x0 = std::max(0, int(std::floor(sx))), x1 = std::min(W - 1, int(std::ceil(sx)));
            const double fx = sx - x0;
            for (int c = 0; c < 3; ++c) {
                const double tl = r0[x0][2 - c], tr = r0[x1][2 - c], bl = r1[x0][2 - c], br = r1[x1][2 - c];
                const double top = tl + (tr - tl) * fx, bottom = bl + (br - bl) * fx;
                dst[(c * S + oy) * S + ox] = float(top + (bottom - top) * fy);
            }
        }
    }
    const torch::Tensor x = t / 127.5f - 1.0f;
    const auto o = impl_->graph.run(x, std::vector<std::string>{"Identity", "Identity_1", "Identity_2", "Identity_3"});
    const torch::Tensor b512 = torch::cat({o[0], o[2]}, 2);  // [1, 512, 1 + 16]
    const torch::Tensor b384 = torch::cat({o[1], o[3]}, 2);  // [1, 384, 1 + 16]
    const torch::Tensor batch = torch::cat({b512, b384}, 1).squeeze(0);  // [896, 17]
    const torch::Tensor centres = batch.slice(1, 1, 3) + impl_->anchors;
    const torch::Tensor half = batch.slice(1, 3, 5) / float(S) / 2.0f;
    const torch::Tensor starts = ((centres / float(S)) - half) * float(S);
    const torch::Tensor ends = ((centres / float(S)) + half) * float(S);
    const torch::Tensor boxes = torch::cat({starts, ends}, 1).contiguous();  // x1, y1, x2, y2
    const torch::Tensor scores = torch::sigmoid(batch.select(1, 0)).contiguous();
    const float* bx = boxes.data_ptr<float>();
    const float* sc = scores.data_ptr<float>();
    // six keypoints per anchor, offsets from the anchor in input pixels as the box centre
    const torch::Tensor kps = (batch.slice(1, 5, 17).reshape({-1, 6, 2}) + impl_->anchors.unsqueeze(1)).contiguous();
    const float* kp = kps.data_ptr<float>();
    // TF's greedy NMS (tf.image.nonMaxSuppression): score > threshold, IoU > 0.3 suppresses, at most 100.
    std::vector<int64_t> order;
    for (int64_t i = 0; i < scores.size(0); ++i)
        if (sc[i] > min_score) order.push_back(i);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return sc[a] > sc[b]; });
    auto iou = [&](int64_t i, int64_t j) {
        const float* a = bx + 4 * i;
        const float* b = bx + 4 * j;
        const double area_a = double(std::max(a[2] - a[0], 0.f)) * std::max(a[3] - a[1], 0.f);
        const double area_b = double(std::max(b[2] - b[0], 0.f)) * std::max(b[3] - b[1], 0.f);
        const double iw = std::max(0.0, double(std::min(a[2], b[2])) - std::max(a[0], b[0]));
        const double ih = std::max(0.0, double(std::min(a[3], b[3])) - std::max(a[1], b[1]));
        const double inter = iw * ih, uni = area_a + area_b - inter;
        return uni <= 0 ? 0.0 : inter / uni;
    };
    std::vector<Detection> out;
    std::vector<int64_t> kept;
    for (int64_t i : order) {
        if (kept.size() >= 100) break;
        bool keep = true;
        for (int64_t k : kept)
            if (iou(i, k) > 0.3) {
                keep = false;
                break;
            }
        if (!keep) continue;
        kept.push_back(i);
        const float* b = bx + 4 * i;
        const float fx = float(W) / S, fy = float(H) / S;
        Detection d{cv::Rect2f(b[0] * fx, b[1] * fy, (b[2] - b[0]) * fx, (b[3] - b[1]) * fy), sc[i], {}};
        for (int k = 0; k < 6; ++k) d.keypoints.emplace_back(kp[(i * 6 + k) * 2] * fx, kp[(i * 6 + k) * 2 + 1] * fy);
        out.push_back(std::move(d));
    }
    return out;
}

// ---- FaceMesh (TF.js graph) ---------------------------------------------------------------------------------

struct FaceMesh::Impl {
    TfjsGraph graph;
    explicit Impl(const fs::path& dir) : graph(dir / "facemesh.json") {}
    static constexpr int kInput = 192;
    static constexpr double kRoiScale = 1.5;
};
FaceMesh::FaceMesh(const fs::path& dir) : impl_(std::make_unique<Impl>(dir)) {}
FaceMesh::~FaceMesh() = default;
FaceMesh::FaceMesh(FaceMesh&&) noexcept = default;
FaceMesh& FaceMesh::operator=(FaceMesh&&) noexcept = default;

std::vector<cv::Point3f> FaceMesh::predict(const cv::Mat& bgr, const cv::Rect2f& box, int passes,
                                           float roll_deg, float* face_score) const {
    check_image(bgr, "FaceMesh");
    if (passes < 1) throw InputError(cat("FaceMesh: passes must be >= 1 (got ", passes, ")"));
    face_crop(bgr, box, "FaceMesh");  // validates the box (finite, overlapping the image)
    torch::NoGradGuard no_grad;
    constexpr int S = Impl::kInput;
    // ROI in image pixel-edge coordinates: centre, side (before the 1.5 enlargement), angle of the face's x axis
    double cx = box.x + 0.5 * box.width, cy = box.y + 0.5 * box.height;
    if (!std::isfinite(roll_deg)) throw InputError("FaceMesh: the roll angle is not finite");
    // angle of the face's x axis in image coordinates (y down): a counter-clockwise roll is a negative angle
    double side = std::max(box.width, box.height), angle = -double(roll_deg) * CV_PI / 180.0;
    std::vector<cv::Point3f> pts(468);
    for (int pass = 0; pass < passes; ++pass) {
        const double crop = Impl::kRoiScale * side, k = crop / S, c = std::cos(angle), sn = std::sin(angle);
        // crop pixel (u, v) (pixel-edge coordinates of the 192 square) -> image pixel-edge coordinates:
        // p = centre + R(angle) * ((u - 96) k, (v - 96) k)
        auto to_image = [&](double u, double v) {
            const double a = (u - 0.5 * S) * k, b = (v - 0.5 * S) * k;
            return cv::Point2d(cx + c * a - sn * b, cy + sn * a + c * b);
        };
        // warpAffine with WARP_INVERSE_MAP: dst pixel centre (x, y) -> src pixel centre
        // (edge coordinates are centre + 0.5 on both sides)
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
        const bool last = pass + 1 == passes;
        torch::Tensor mesh;
        if (face_score && last) {
            const auto o = impl_->graph.run(t, std::vector<std::string>{"Identity_2", "Identity_1"});
            mesh = o[0].reshape({468, 3}).contiguous();
            *face_score = o[1].reshape({-1})[0].item<float>();  // the graph ends in a sigmoid
        } else {
            mesh = impl_->graph.run(t, "Identity_2").reshape({468, 3}).contiguous();
        }
        const float* m = mesh.data_ptr<float>();
        for (int i = 0; i < 468; ++i) {
            const cv::Point2d p = to_image(m[3 * i], m[3 * i + 1]);
            pts[i] = cv::Point3f(float(p.x - 0.5), float(p.y - 0.5), float(m[3 * i + 2] * k));
        }
        if (pass + 1 == passes) break;
        // next ROI: eye line horizontal, bounding box of the mesh in the face's own frame
        angle = std::atan2(double(pts[263].y) - pts[33].y, double(pts[263].x) - pts[33].x);
        const double c2 = std::cos(angle), s2 = std::sin(angle);
        double u0 = 1e30, u1 = -1e30, v0 = 1e30, v1 = -1e30;
        for (const auto& q : pts) {
            const double u = c2 * q.x + s2 * q.y, v = -s2 * q.x + c2 * q.y;
            u0 = std::min(u0, u), u1 = std::max(u1, u), v0 = std::min(v0, v), v1 = std::max(v1, v);
        }
        const double mu = 0.5 * (u0 + u1), mv = 0.5 * (v0 + v1);
        cx = c2 * mu - s2 * mv + 0.5;
        cy = s2 * mu + c2 * mv + 0.5;
        side = std::max(u1 - u0, v1 - v0);
    }
    return pts;
}

std::vector<cv::Point2f> facemesh_to_68(const std::vector<cv::Point3f>& mesh) {
    if (mesh.size() != 468 && mesh.size() != 478)
        throw InputError(cat("facemesh_to_68: expected 468 or 478 FaceMesh points, got ", mesh.size()));
    // Peizhi Yan, Mediapipe_2_Dlib_Landmarks (mp2dlib.py): iBUG point i = mean of these mesh points
    static const int kMap[68][2] = {
        {127, 127}, {234, 234}, {93, 93},   {132, 58},  {58, 172},  {136, 136}, {150, 150}, {176, 176},
        {152, 152}, {400, 400}, {379, 379}, {365, 365}, {397, 288}, {361, 361}, {323, 323}, {454, 454},
        {356, 356},                                                              // jaw 0-16
        {70, 70},   {63, 63},   {105, 105}, {66, 66},   {107, 107},              // brow 17-21
        {336, 336}, {296, 296}, {334, 334}, {293, 293}, {300, 300},              // brow 22-26
        {168, 6},   {197, 195}, {5, 5},     {4, 4},                              // nose bridge 27-30
        {75, 75},   {97, 97},   {2, 2},     {326, 326}, {305, 305},              // nostrils 31-35
        {33, 33},   {160, 160}, {158, 158}, {133, 133}, {153, 153}, {144, 144},  // eye 36-41
        {362, 362}, {385, 385}, {387, 387}, {263, 263}, {373, 373}, {380, 380},  // eye 42-47
        {61, 61},   {39, 39},   {37, 37},   {0, 0},     {267, 267}, {269, 269}, {291, 291},  // outer lip 48-54
        {321, 321}, {314, 314}, {17, 17},   {84, 84},   {91, 91},                // outer lip 55-59
        {78, 78},   {82, 82},   {13, 13},   {312, 312}, {308, 308},              // inner lip 60-64
        {317, 317}, {14, 14},   {87, 87}};                                       // inner lip 65-67
    std::vector<cv::Point2f> out(68);
    for (int i = 0; i < 68; ++i) {
        const auto& a = mesh[kMap[i][0]];
        const auto& b = mesh[kMap[i][1]];
        out[i] = cv::Point2f(0.5f * (a.x + b.x), 0.5f * (a.y + b.y));
    }
    return out;
}

// ---- Landmarks68 -------------------------------------------------------------------------------------------

struct Landmarks68::Impl {
    FeatureNet net;
    explicit Impl(const fs::path& dir)
        : net(load_tfjs_weights(dir / "face_landmark_68_model-weights_manifest.json"),
              dir / "face_landmark_68_model-weights_manifest.json") {}
};
Landmarks68::Landmarks68(const fs::path& dir) : impl_(std::make_unique<Impl>(dir)) {}
Landmarks68::~Landmarks68() = default;
Landmarks68::Landmarks68(Landmarks68&&) noexcept = default;
Landmarks68& Landmarks68::operator=(Landmarks68&&) noexcept = default;

std::vector<cv::Point2f> Landmarks68::predict(const cv::Mat& bgr, const cv::Rect2f& box) const {
    check_image(bgr, "Landmarks68");
    torch::NoGradGuard no_grad;
    const cv::Rect r = face_crop(bgr, box, "Landmarks68");
    const torch::Tensor o = impl_->net(centered_face_input(bgr, r, kFaceInput)).reshape({68, 2});
    // FaceLandmark68NetBase.postProcess: undo the centred padding in the 112 square, relative to the crop.
    const double s = double(kFaceInput) / std::max(r.width, r.height);
    const float w = float(r.width * s), h = float(r.height * s);
    const float pad_x = w < h ? std::abs(w - h) / 2 : 0.f, pad_y = h < w ? std::abs(w - h) / 2 : 0.f;
    const float* p = o.data_ptr<float>();
    std::vector<cv::Point2f> pts(68);
    for (int i = 0; i < 68; ++i) {
        const float rx = (p[2 * i] * float(kFaceInput) - pad_x) / w;
        const float ry = (p[2 * i + 1] * float(kFaceInput) - pad_y) / h;
        pts[i] = cv::Point2f(float(double(rx) * r.width + r.x), float(double(ry) * r.height + r.y));
    }
    return pts;
}

cv::Rect2f descriptor_box(const std::vector<cv::Point2f>& lm) {
    if (lm.size() != 68) throw InputError(cat("descriptor_box: expected 68 landmarks, got ", lm.size()));
    auto centre = [&](int a, int b) {  // face-api's getCenterPoint of positions [a, b)
        double x = 0, y = 0;
        for (int i = a; i < b; ++i) x += lm[i].x, y += lm[i].y;
        return cv::Point2d(x / (b - a), y / (b - a));
    };
    const cv::Point2d le = centre(36, 42), re = centre(42, 48), mouth = centre(48, 68);
    const double eye_to_mouth = (cv::norm(mouth - le) + cv::norm(mouth - re)) / 2;
    const double size = std::floor(eye_to_mouth / 0.45);
    const cv::Point2d ref = (le + re + mouth) / 3.0;
    const double x = std::floor(std::max(0.0, ref.x - 0.5 * size));
    const double y = std::floor(std::max(0.0, ref.y - 0.43 * size));
    return cv::Rect2f(float(x), float(y), float(size), float(size));
}

// ---- ExpressionNet -----------------------------------------------------------------------------------------

struct ExpressionNet::Impl {
    FeatureNet net;
    explicit Impl(const fs::path& dir)
        : net(load_tfjs_weights(dir / "face_expression_model-weights_manifest.json"),
              dir / "face_expression_model-weights_manifest.json") {}
};
ExpressionNet::ExpressionNet(const fs::path& dir) : impl_(std::make_unique<Impl>(dir)) {}
ExpressionNet::~ExpressionNet() = default;
ExpressionNet::ExpressionNet(ExpressionNet&&) noexcept = default;
ExpressionNet& ExpressionNet::operator=(ExpressionNet&&) noexcept = default;

const std::vector<std::string>& ExpressionNet::names() {
    static const std::vector<std::string> n{"neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised"};
    return n;
}

std::vector<float> ExpressionNet::probabilities(const cv::Mat& bgr, const cv::Rect2f& box) const {
    check_image(bgr, "ExpressionNet");
    torch::NoGradGuard no_grad;
    const cv::Rect r = face_crop(bgr, box, "ExpressionNet");
    const torch::Tensor p = torch::softmax(impl_->net(centered_face_input(bgr, r, kFaceInput)), 1).contiguous();
    return std::vector<float>(p.data_ptr<float>(), p.data_ptr<float>() + p.numel());
}

// ---- EmotionFer2013 (TF.js graph model) --------------------------------------------------------------------

struct EmotionFer2013::Impl {
    TfjsGraph graph;
    explicit Impl(const fs::path& dir) : graph(dir / "fer2013_emotion.json") {}
};
EmotionFer2013::EmotionFer2013(const fs::path& dir) : impl_(std::make_unique<Impl>(dir)) {}
EmotionFer2013::~EmotionFer2013() = default;
EmotionFer2013::EmotionFer2013(EmotionFer2013&&) noexcept = default;
EmotionFer2013& EmotionFer2013::operator=(EmotionFer2013&&) noexcept = default;

const std::vector<std::string>& EmotionFer2013::names() {
    static const std::vector<std::string> n{"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"};
    return n;
}

std::vector<float> EmotionFer2013::probabilities(const cv::Mat& bgr, const cv::Rect2f& box) const {
    check_image(bgr, "EmotionFer2013");
    torch::NoGradGuard no_grad;
    const cv::Rect r = face_crop(bgr, box, "EmotionFer2013");
    constexpr int kSize = 64;
    // human's emotion.ts: tf.image.resizeBilinear(face / 255, [64, 64]) -> weighted grey -> (g - 0.5) * 2,
    // each step rounded to float32 as tfjs-backend-cpu does (sums in double).
    torch::Tensor t = torch::empty({1, 1, kSize, kSize}, torch::kFloat32);
    float* dst = t.data_ptr<float>();
    const double ry = double(r.height) / kSize, rx = double(r.width) / kSize;
    const float wgt[3] = {0.2989f, 0.5870f, 0.1140f};
    auto px = [&](int y, int x, int c) -> double {
        return double(float(double(bgr.ptr<cv::Vec3b>(r.y + y)[r.x + x][2 - c]) / 255.0));
    };
    for (int oy = 0; oy < kSize; ++oy) {
        const double sy = ry * oy;
        const int y0 = std::max(0, int(std::floor(sy)));
        const int y1 = std::min(r.height - 1, int(std::ceil(sy)));
        const double fy = sy - y0;
        for (int ox = 0; ox < kSize; ++ox) {
            const double sx = rx * ox;
            const int x0 = std::max(0, int(std::floor(sx)));
            const int x1 = std::min(r.width - 1, int(std::ceil(sx)));
            const double fx = sx - x0;
            double grey = 0;
            for (int c = 0; c < 3; ++c) {
                const double top = px(y0, x0, c) + (px(y0, x1, c) - px(y0, x0, c)) * fx;
                const double bottom = px(y1, x0, c) + (px(y1, x1, c) - px(y1, x0, c)) * fx;
                const float v = float(top + (bottom - top) * fy);
                grey += double(v * wgt[c]);
            }
            dst[oy * kSize + ox] = (float(grey) - 0.5f) * 2.0f;
        }
    }
    const torch::Tensor p = impl_->graph.run(t).reshape({-1}).contiguous();
    NED_CHECK(p.numel() == 7, "FER2013 output size ", p.numel());
    return std::vector<float>(p.data_ptr<float>(), p.data_ptr<float>() + 7);
}

// ---- FaceDescriptor (face_recognition net, dlib's ResNet) ----------------------------------------------------

struct FaceDescriptor::Impl {
    struct ConvScale {  // conv + bias, then scale layer (x * weights + biases)
        Conv conv;
        torch::Tensor sw, sb;
        torch::Tensor operator()(const torch::Tensor& x) const { return conv(x) * sw + sb; }
    };
    struct Residual {
        ConvScale c1, c2;
        bool down = false;
    };
    ConvScale conv32_down;
    std::vector<Residual> blocks;
    torch::Tensor fc;  // [256, 128]

    explicit Impl(const fs::path& dir) {
        const fs::path src = dir / "face_recognition_model-weights_manifest.json";
        const WeightMap m = load_tfjs_weights(src);
        auto cs = [&](const std::string& p, int64_t stride, bool same) {
            return ConvScale{make_conv(weight(m, p + "/conv/filters", 4, src), weight(m, p + "/conv/bias", 1, src),
                                       stride, same),
                             chan(weight(m, p + "/scale/weights", 1, src)), chan(weight(m, p + "/scale/biases", 1, src))};
        };
        conv32_down = cs("conv32_down", 2, false);
        const std::pair<const char*, bool> names[] = {
            {"conv32_1", false},  {"conv32_2", false},  {"conv32_3", false},  {"conv64_down", true},
            {"conv64_1", false},  {"conv64_2", false},  {"conv64_3", false},  {"conv128_down", true},
            {"conv128_1", false}, {"conv128_2", false}, {"conv256_down", true}, {"conv256_1", false},
            {"conv256_2", false}, {"conv256_down_out", true}};
        for (const auto& [name, down] : names) {
            const std::string p = name;
            blocks.push_back({cs(p + "/conv1", down ? 2 : 1, !down), cs(p + "/conv2", 1, true), down});
        }
        fc = weight(m, "fc", 2, src).contiguous();
    }

    torch::Tensor forward(const torch::Tensor& rgb) const {
        torch::Tensor x = torch::relu(conv32_down(normalize_face(rgb)));
        x = F::max_pool2d(x, F::MaxPool2dFuncOptions(3).stride(2));
        for (const auto& b : blocks) {
            torch::Tensor out = b.c2(torch::relu(b.c1(x)));
            if (!b.down) {
                x = torch::relu(out + x);
                continue;
            }
            torch::Tensor pooled = F::avg_pool2d(x, F::AvgPool2dFuncOptions(2).stride(2));
            if (pooled.size(2) != out.size(2) || pooled.size(3) != out.size(3))
                out = F::pad(out, F::PadFuncOptions({0, 1, 0, 1}));  // one zero row (bottom) and column (right)
            if (pooled.size(1) != out.size(1)) pooled = torch::cat({pooled, torch::zeros_like(pooled)}, 1);
            x = torch::relu(pooled + out);
        }
        return torch::matmul(x.mean({2, 3}), fc);
    }
};

FaceDescriptor::FaceDescriptor(const fs::path& dir) : impl_(std::make_unique<Impl>(dir)) {}
FaceDescriptor::~FaceDescriptor() = default;
FaceDescriptor::FaceDescriptor(FaceDescriptor&&) noexcept = default;
FaceDescriptor& FaceDescriptor::operator=(FaceDescriptor&&) noexcept = default;

std::array<float, 128> FaceDescriptor::describe(const cv::Mat& bgr, const cv::Rect2f& box) const {
    check_image(bgr, "FaceDescriptor");
    torch::NoGradGuard no_grad;
    const cv::Rect r = face_crop(bgr, box, "FaceDescriptor");
    const torch::Tensor d = impl_->forward(centered_face_input(bgr, r, kDescriptorInput)).contiguous();
    NED_CHECK(d.numel() == 128, "descriptor size ", d.numel());
    std::array<float, 128> out{};
    std::copy(d.data_ptr<float>(), d.data_ptr<float>() + 128, out.begin());
    return out;
}

float FaceDescriptor::distance(const std::array<float, 128>& a, const std::array<float, 128>& b) {
    double s = 0;
    for (size_t i = 0; i < a.size(); ++i) s += double(a[i] - b[i]) * double(a[i] - b[i]);
    return float(std::sqrt(s));
}

}  // namespace ned::facenet
