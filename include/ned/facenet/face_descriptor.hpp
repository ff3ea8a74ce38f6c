#pragma once
// face-api's face recognition net (face_recognition_model-weights_manifest.json: a port of dlib's ResNet-29
// descriptor), 128-d, compared by L2 distance; and the aligned box face-api gives it.
#include <array>
#include <filesystem>
#include <memory>
#include <vector>

#include <opencv2/core.hpp>

#include "ned/facenet/open_models.hpp"

namespace ned::facenet {

/// face-api's face recognition net (dlib's ResNet descriptor ported to TF.js). Input crop: as Landmarks68 but
/// resized to 150x150. Descriptors of the same person are closer than 0.6 in L2 distance (dlib's threshold).
/// Pass descriptor_box(landmarks) as face-api does (tighter, fewer background pixels): on the shared photos it
/// separates people better than the detector's box (other person 0.83 vs 0.70, same person 0.39-0.42).
class FaceDescriptor {
public:
    explicit FaceDescriptor(const std::filesystem::path& dir = open_models_dir());
    std::array<float, 128> describe(const cv::Mat& bgr, const cv::Rect2f& box) const;
    /// Euclidean distance; same person < 0.6.
    static float distance(const std::array<float, 128>& a, const std::array<float, 128>& b);

private:
    struct Impl;
    std::shared_ptr<const Impl> impl_;  // copies share the weights
};

/// The box face-api gives the descriptor net (FaceLandmarks.align with useDlibAlignment): a square of side
/// floor(mean distance from the eye centres to the mouth centre / 0.45), placed so that the centre of the three
/// (left eye, right eye, mouth) centres lies at (0.5, 0.43) of it, origin floored and clamped at 0.
/// `landmarks68` in image pixels (Landmarks68::predict). Throws InputError unless there are 68 points.
cv::Rect2f descriptor_box(const std::vector<cv::Point2f>& landmarks68);

}  // namespace ned::facenet
