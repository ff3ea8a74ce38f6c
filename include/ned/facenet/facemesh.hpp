#pragma once
// MediaPipe FaceMesh (468 points; the TF.js graph model `facemesh.json` of @vladmandic/human, run by TfjsGraph)
// and its mapping to the 68-point iBUG/dlib layout.
#include <filesystem>
#include <memory>
#include <vector>

#include <opencv2/core.hpp>

#include "ned/facenet/open_models.hpp"

namespace ned::facenet {

class TfjsGraph;  // ned/facenet/tfjs_graph.hpp

/// MediaPipe FaceMesh (468 points; the TF.js graph `facemesh.json` of @vladmandic/human, run by TfjsGraph).
/// Input as MediaPipe's face-landmark ROI: a square crop of side 1.5 x the ROI, rotated with the face, resampled
/// bilinearly to 192x192, RGB / 255. Pass 1 uses the given box (side = max(width, height), upright or turned by
/// the given roll); each further
/// pass re-crops around the previous mesh: centre and side from the bounding box of the 468 points in the face's
/// own frame, rotation so that the line through the outer eye corners (points 33 and 263) is horizontal
/// (MediaPipe's face_landmark_front ROI from landmarks). The mesh's x, y are mapped back to image pixels (pixel
/// centres at integers, as Landmarks68); z is in the same pixel units, relative to the face (not used here).
class FaceMesh {
public:
    explicit FaceMesh(const std::filesystem::path& dir = open_models_dir());
    /// 468 points in image pixels (MediaPipe's canonical index order). `box`: the face (tight box, brows to chin,
    /// as BlazeFace gives; any detector box of about that size works since the later passes re-centre).
    /// `passes` >= 1 (2: one re-crop, as MediaPipe's tracking does on the next frame). `roll_deg`: the face's
    /// in-plane roll if known (counter-clockwise positive, as track::Detection::roll of the hog-rot detector):
    /// pass 1 crops turned by it instead of upright. InputError on an empty image or a box outside it.
    /// `face_score` (optional) receives the model's face-presence probability for the last pass (the graph's
    /// sigmoid face flag; MediaPipe drops a tracked face below 0.5): near 1 on faces, near 0 on hands, shirts, walls.
    std::vector<cv::Point3f> predict(const cv::Mat& bgr, const cv::Rect2f& box, int passes = 2, float roll_deg = 0.f,
                                     float* face_score = nullptr) const;

private:
    std::shared_ptr<const TfjsGraph> graph_;  // copies share the weights
};

/// FaceMesh's 468 points mapped to the 68-point iBUG/dlib layout: each of the 68 points is one mesh point or
/// the mean of two (Peizhi Yan's published MediaPipe-to-dlib correspondence, github.com/PeizhiYan/
/// Mediapipe_2_Dlib_Landmarks, mp2dlib.py; docs/models.md). The jaw contour is the mesh's face oval, which follows
/// the visible outline only on frontal faces (iBUG's contour on a turned face is the silhouette).
/// InputError unless there are 468 (or 478, with irises) points.
std::vector<cv::Point2f> facemesh_to_68(const std::vector<cv::Point3f>& mesh);

}  // namespace ned::facenet
