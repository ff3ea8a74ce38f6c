#pragma once
// Parity of ned_facenet with face-api run in TF.js (tests/fixtures/facenet/reference.json, written by
// scripts/tfjs_reference.mjs). Both sides compute in float32 and build the network input identically (the
// bilinear resize is done in double and rounded once, as tfjs-backend-cpu does), so the outputs differ only by
// the order of float32 accumulations. The tolerances follow from the rounding model: a sum of K float32 products
// has a worst-case error gamma_K * sum|w_i x_i| with gamma_K ~= K u (u = 2^-24), far too pessimistic for
// summations of 10^4..10^5 terms; treating the rounding errors as independent and zero-mean (Higham, Accuracy
// and Stability of Numerical Algorithms, sec. 3.1/ch. 2 "rule of thumb") the error is ~ sqrt(K) u per layer and
// adds in quadrature over the layers: sqrt(sum_l K_l) u relative to the activation scale, which the nets keep O(1)
// (inputs scaled to [-1, 1] or [-0.5, 0.5], batch norm, relu6). We allow six such standard deviations:
//   feature nets (landmark68, expression): 16 conv layers with K <= 9 + 256, fc K = 256  -> sum K = 4.5e3
//   recognition (ResNet-29):               29 conv layers with K <= 3*3*256, mean + fc    -> sum K = 6.7e4
//   SSD-MobileNetV1:                       40 conv layers with K <= 3*3*256               -> sum K = 9.2e4
//   FER2013 mini-Xception:                 9 convs with K <= 3*3*256, 4 depthwise 3x3     -> sum K = 2.1e4
// i.e. relative tolerances 2.4e-5, 9.3e-5 and 1.1e-4. A real defect (shifted padding, swapped channels, a
// transposed filter) changes the outputs by 1e-2..1 (FacenetDescriptor.ParityTestsSeeAChannelSwap).
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <string>

namespace ned::facenet::test {

constexpr double kU = 1.0 / (1 << 24);
constexpr double kSigmas = 6;
inline const double kFeatureRel = kSigmas * std::sqrt(16.0 * 265 + 256) * kU;  // landmark68, expression nets
inline const double kRecognitionRel = kSigmas * std::sqrt(29.0 * 2304 + 512) * kU;
inline const double kSsdRel = kSigmas * std::sqrt(40.0 * 2304) * kU;
inline const double kGraphRel = kSigmas * std::sqrt(1e4) * kU;  // BlazeFace / FaceMesh: ~40 layers, K <= 128
inline const double kFer2013Rel = kSigmas * std::sqrt(9.0 * 9 * 256 + 9 * 288) * kU;  // 9 convs, K <= 3*3*256

inline nlohmann::json reference() {
    std::ifstream in(std::string(NED_SOURCE_DIR) + "/tests/fixtures/facenet/reference.json");
    nlohmann::json j;
    in >> j;
    return j;
}

/// A box [x, y, width, height] of reference.json.
inline cv::Rect2f box_of(const nlohmann::json& j) {
    return cv::Rect2f(j[0].get<float>(), j[1].get<float>(), j[2].get<float>(), j[3].get<float>());
}

/// The largest |v[i] - ref[i]| (v: floats, ref: a JSON array as long).
template <typename Values>
double max_error(const Values& v, const nlohmann::json& ref) {
    double err = 0;
    for (size_t i = 0; i < v.size(); ++i) err = std::max(err, std::abs(double(v[i]) - ref[i].get<double>()));
    return err;
}

/// The synthetic image of scripts/tfjs_reference.mjs (RGB formula), as BGR.
inline cv::Mat synthetic_image(int w = 320, int h = 240) {
    cv::Mat m(h, w, CV_8UC3);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
            for (int c = 0; c < 3; ++c) {
                int v = (7 * x + 13 * y + 50 * c + ((x * y) % 31)) % 256;
                const double dx = (x - w / 2.0) / (w / 5.0), dy = (y - h / 2.0) / (h / 3.0);
                if (dx * dx + dy * dy < 1) v = 200 - 30 * c + ((x + y) % 9);
                m.at<cv::Vec3b>(y, x)[2 - c] = static_cast<unsigned char>(v);
            }
    return m;
}

}  // namespace ned::facenet::test
