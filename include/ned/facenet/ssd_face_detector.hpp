#pragma once
// face-api's SSD-MobileNetV1 face detector (ssd_mobilenetv1_model-weights_manifest.json), run by a hand-written
// LibTorch network.
#include <filesystem>
#include <memory>
#include <vector>

#include <opencv2/core.hpp>

#include "ned/facenet/face_box.hpp"
#include "ned/facenet/open_models.hpp"

namespace ned::facenet {

/// face-api's SSD-MobileNetV1 face detector. The RGB image is padded with black at the bottom/right to a square
/// (face-api's padToSquare) and resized to 512x512 (TF resizeBilinear, no half-pixel centres); boxes are decoded
/// with face-api's anchors and variances and reduced by its greedy NMS (IoU 0.5, at most 100 faces).
class SsdFaceDetector {
public:
    explicit SsdFaceDetector(const std::filesystem::path& dir = open_models_dir());
    /// Faces with score > min_score, best first. Empty image -> InputError.
    std::vector<FaceBox> detect(const cv::Mat& bgr, float min_score = 0.5f) const;

private:
    struct Impl;
    std::shared_ptr<const Impl> impl_;  // copies share the weights
};

}  // namespace ned::facenet
