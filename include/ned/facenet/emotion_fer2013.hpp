#pragma once
// oarriaga's FER2013 mini-Xception emotion classifier (the TF.js graph model `fer2013_emotion.json`, from
// @vladmandic/human), run by TfjsGraph.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "ned/facenet/open_models.hpp"

namespace ned::facenet {

class TfjsGraph;  // ned/facenet/tfjs_graph.hpp

/// oarriaga's FER2013 mini-Xception emotion classifier (face_classification, MIT), the TF.js graph model
/// `emotion.json` of @vladmandic/human 3.3.6, run by TfjsGraph. Input as human prepares it: the box clipped and
/// floored as face-api's crop (no square padding), scaled to [0, 1], resized to 64x64 (TF resizeBilinear), grey =
/// 0.2989 R + 0.5870 G + 0.1140 B, then (grey - 0.5) * 2.
class EmotionFer2013 {
public:
    explicit EmotionFer2013(const std::filesystem::path& dir = open_models_dir());
    /// FER2013's order: angry, disgust, fear, happy, sad, surprise, neutral.
    static const std::vector<std::string>& names();
    /// Softmax probabilities in names() order.
    std::vector<float> probabilities(const cv::Mat& bgr, const cv::Rect2f& box) const;

private:
    std::shared_ptr<const TfjsGraph> graph_;  // copies share the weights
};

}  // namespace ned::facenet
