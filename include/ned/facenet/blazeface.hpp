#pragma once
// MediaPipe BlazeFace (the TF.js graph model `blazeface.json` of @vladmandic/human, run by TfjsGraph) and the yaw
// read from its keypoints.
#include <filesystem>
#include <memory>
#include <vector>

#include <opencv2/core.hpp>

#include "ned/facenet/face_box.hpp"
#include "ned/facenet/open_models.hpp"

namespace ned::facenet {

/// MediaPipe BlazeFace (back-camera model, 256x256; the TF.js graph of @vladmandic/human, run by TfjsGraph),
/// decoded as human's blazeface.ts: the frame stretched to 256x256 (TF resizeBilinear), scaled to [-1, 1];
/// 896 anchors (16x16 x 2 at stride 16, 8x8 x 6 at stride 32, centred, unit size); box centre = anchor + (dx, dy),
/// size = (w, h) in 256-pixel units; score = sigmoid(logit); greedy NMS (IoU > 0.3 suppresses, at most 100);
/// boxes mapped back by (width / 256, height / 256). The box is the tight face box (human enlarges it x1.4 for
/// its mesh; not done here).
class BlazeFaceDetector {
public:
    explicit BlazeFaceDetector(const std::filesystem::path& dir = open_models_dir());
    /// Faces with score > min_score, best first, with their six keypoints.
    std::vector<FaceBox> detect(const cv::Mat& bgr, float min_score = 0.5f) const;

private:
    struct Impl;
    std::shared_ptr<const Impl> impl_;  // copies share the weights
};

/// Yaw of a face from BlazeFace's keypoints, in degrees (positive: the nose towards image right): the nose
/// tip's offset from the eyes' midpoint along the eye line, r = offset / eye distance, mapped by
/// yaw = atan(r / kBlazeNoseDepth) (the nose tip lies ~kBlazeNoseDepth eye distances in front of the eyes).
/// 0 when there are no keypoints.
float blaze_yaw_deg(const FaceBox& face);
constexpr float kBlazeNoseDepth = 0.5f;

}  // namespace ned::facenet
