#pragma once
// face-api's 68-point landmark net (face_landmark_68_model-weights_manifest.json), iBUG 68-point order (= dlib).
#include <filesystem>
#include <memory>
#include <vector>

#include <opencv2/core.hpp>

#include "ned/facenet/open_models.hpp"

namespace ned::facenet {

class FeatureNet;  // face-api's feature extractor + fully connected layer (src/facenet/feature_net.hpp)

/// face-api's 68-point landmark net (face_landmark_68_model). Input crop: the box, clipped to the image, padded
/// to a square at the bottom/right with black (face-api's padToSquare) and resized to 112x112.
class Landmarks68 {
public:
    explicit Landmarks68(const std::filesystem::path& dir = open_models_dir());
    /// 68 points in image pixels, iBUG/dlib order.
    std::vector<cv::Point2f> predict(const cv::Mat& bgr, const cv::Rect2f& box) const;

private:
    std::shared_ptr<const FeatureNet> net_;  // copies share the weights
};

}  // namespace ned::facenet
