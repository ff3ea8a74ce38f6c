#pragma once
// What ned::facenet's face detectors (SsdFaceDetector, BlazeFaceDetector) return. Not the tracker's
// track::Detection, which ned::track builds from these in its own (dlib-like) box convention.
#include <vector>

#include <opencv2/core.hpp>

namespace ned::facenet {

/// A detected face: box in image pixels (x, y, width, height; edge coordinates), score in [0, 1].
struct FaceBox {
    cv::Rect2f box;
    float score;
    /// BlazeFace only (empty otherwise): MediaPipe's six keypoints in image pixels (edge coordinates, as `box`):
    /// the subject's right eye (image left), left eye, nose tip, mouth centre, right ear tragion, left ear tragion.
    std::vector<cv::Point2f> keypoints;
};

}  // namespace ned::facenet
