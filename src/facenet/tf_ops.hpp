#pragma once
// TF operations in LibTorch's NCHW, shared by the hand-written face-api nets, the TF.js graph interpreter and the
// models' input and output stages: filter layouts, TF's 'SAME' padding, TF.js's bilinear resize of an 8-bit image
// and greedy non-maximum suppression. Each computes what tfjs-backend-cpu computes, in the same order of
// operations, because the parity tests (tests/unit/facenet/parity.hpp) allow only float32 accumulation order.
#include <cstdint>
#include <vector>

#include <opencv2/core.hpp>
#include <torch/torch.h>

namespace ned::facenet {

/// TF filter [kh, kw, in, out] -> torch [out, in, kh, kw].
torch::Tensor conv_filter(const torch::Tensor& tf);
/// TF depthwise filter [kh, kw, in, mult] -> torch [in * mult, 1, kh, kw] (groups = in).
torch::Tensor depthwise_filter(const torch::Tensor& tf);

/// TF 'SAME' padding of an NCHW tensor for a kh x kw window with strides (sh, sw): per spatial dimension
/// out = ceil(in / stride), total = max((out - 1) * stride + k - in, 0), the smaller half before (TF puts the odd
/// pixel at the bottom/right, which conv2d's symmetric padding cannot express); padded with `value`.
torch::Tensor pad_same(const torch::Tensor& x, int64_t kh, int64_t kw, int64_t sh, int64_t sw, double value = 0);

/// conv2d (groups 1, or depthwise) + optional bias, with TF's 'SAME' or 'VALID' padding.
struct Conv {
    torch::Tensor w, b;
    int64_t stride = 1;
    bool same = true;
    int64_t groups = 1;
    torch::Tensor operator()(const torch::Tensor& x) const;
};
/// Conv from a TF filter [kh, kw, in, out] and bias [out] (undefined: none).
Conv make_conv(const torch::Tensor& tf_filter, const torch::Tensor& bias, int64_t stride, bool same = true);
/// Depthwise Conv (no bias, 'SAME') from a TF depthwise filter [kh, kw, in, 1].
Conv make_depthwise(const torch::Tensor& tf_filter, int64_t stride);
/// Per-channel vector as [1, C, 1, 1] for broadcasting over NCHW.
torch::Tensor chan(const torch::Tensor& v);

/// Where resize_bilinear_rgb reads: a canvas of `canvas` pixels, black but for the `crop` of the image placed with
/// its top-left corner at `offset` (face-api's padToSquare pads this way; the whole image or a crop of it is
/// canvas = crop size, offset 0).
struct ResizeSource {
    cv::Rect crop;
    cv::Point offset;
    cv::Size canvas;
};

/// tf.image.resizeBilinear(alignCorners = false, halfPixelCenters = false) as tfjs-backend-cpu computes it, of an
/// 8-bit BGR image: output pixel (ox, oy) samples the canvas at (ox * canvas.width / out.width,
/// oy * canvas.height / out.height), between the floor and the ceiling of that position (the ceiling clamped to the
/// last row/column); the four taps are interpolated in double along x, then y, and the result stored as float32.
/// A tap is float(value / divisor) widened to double (divisor 1: the 8-bit value itself; 255: a float32 image in
/// [0, 1] resized, as human's emotion.ts does). Returns RGB [1, 3, out.height, out.width], float32.
torch::Tensor resize_bilinear_rgb(const cv::Mat& bgr, const ResizeSource& src, const cv::Size& out,
                                  double divisor = 1.0);

/// The two greedy non-maximum suppressions the models were checked with. Both take the candidates whose score is
/// above the threshold, best first (equal scores in index order), keep at most max_boxes, and drop a candidate
/// whose IoU with a kept box exceeds iou_threshold; they round the IoU differently and differ in one corner case,
/// so each model keeps its own.
enum class NmsFlavour {
    /// tfjs-core's nonMaxSuppressionV3Impl as face-api's ssdMobilenetv1/nonMaxSuppression.ts ports it: a box's
    /// corners may come in either order (sorted first); extents, areas and IoU in double; IoU 0 when either box
    /// is empty. An overlapping candidate's score is multiplied by 0 and compared with the threshold again, so
    /// under a negative threshold a candidate scored exactly 0 is kept although it overlaps.
    TfjsCore,
    /// The plain form (BlazeFace's here): corners in order (x1, y1, x2, y2), extents clamped at 0 in float32,
    /// areas and IoU in double; an overlapping candidate is dropped.
    Plain,
};
struct NmsOptions {
    NmsFlavour flavour;
    double iou_threshold;   ///< a candidate overlapping a kept box by IoU > this is suppressed
    float score_threshold;  ///< candidates: score > this
    size_t max_boxes = 100;
};
/// Indices into `scores` ([N], float32) of the boxes kept, best first. `boxes`: [N, 4] float32, two opposite
/// corners per box (see NmsFlavour for the order).
std::vector<int64_t> non_max_suppression(const torch::Tensor& boxes, const torch::Tensor& scores,
                                         const NmsOptions& options);

}  // namespace ned::facenet
