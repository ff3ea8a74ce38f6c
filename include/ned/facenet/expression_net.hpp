#pragma once
// face-api's 7-class expression net (face_expression_model-weights_manifest.json).
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "ned/facenet/open_models.hpp"

namespace ned::facenet {

class FeatureNet;  // face-api's feature extractor + fully connected layer (src/facenet/feature_net.hpp)

/// face-api's 7-class expression net. Input crop: as Landmarks68 (112x112).
class ExpressionNet {
public:
    explicit ExpressionNet(const std::filesystem::path& dir = open_models_dir());
    /// face-api's order: neutral, happy, sad, angry, fearful, disgusted, surprised.
    static const std::vector<std::string>& names();
    /// Softmax probabilities in names() order (sum 1).
    std::vector<float> probabilities(const cv::Mat& bgr, const cv::Rect2f& box) const;

private:
    std::shared_ptr<const FeatureNet> net_;  // copies share the weights
};

}  // namespace ned::facenet
