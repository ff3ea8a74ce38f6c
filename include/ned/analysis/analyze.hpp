#pragma once
// `ned analyze`: face analysis of a video on top of its face track (ned-reference §1.4, §1.5, §1.7):
//   build_track (detection, tracking, smoothing, crop transforms), then ONE streaming pass over the frames:
//   crop -> dlib 68 landmarks (single + NED multisample) -> Umeyama alignment onto NED's template -> pupils;
//   optional face masks (FSGAN U-Net when a converted model is given, else from landmarks), images and a
//   preview video. Result: WORKDIR/track.safetensors with has_analysis = true.
//
// Frames are decoded on the calling thread and processed in batches on `threads` workers while the next
// batch is decoded; outputs are written in frame order. Memory is bounded by the batch size.
#include <array>
#include <string>

#include "ned/core/progress.hpp"
#include "ned/analysis/face_landmarker.hpp"
#include "ned/face/face_mask.hpp"
#include "ned/face/face_track.hpp"
#include "ned/track/face_tracker.hpp"
#include "ned/track/landmarks.hpp"

namespace ned::analysis {

struct AnalyzeOptions {
    track::TrackOptions track;                    ///< options of the track building pass (threads, max_frames, ...)
    std::string landmark_model;                   ///< dlib 68-point model; empty = kDefaultLandmarkModel
    std::string segmentation_model;               ///< converted FSGAN U-Net (safetensors); empty = landmark masks
    bool multisample = true;                      ///< NED's 5-fold landmark averaging for the alignment (dlib)
    LandmarkMode landmarks = LandmarkMode::Auto;  ///< landmark model: by yaw (FaceLandmarker), or dlib / FaceMesh
    int multisample_shift = 5;                    ///< pixels (NED: 5)
    bool save_images = false;                     ///< write crops/, aligned/, eyes/, masks/ PNGs into the workdir
    std::string preview_path;                     ///< optional preview video (box, landmarks, pupils, mask outline)
    face::FaceMaskOptions mask;                   ///< landmark mask parameters (masks/ and preview)
    int threads = 0;                              ///< worker threads for the per-frame pass (0 = all cores)
    bool overwrite = false;                       ///< replace existing outputs

    /// OptionError naming the field for a negative multisample shift or thread count, or a bad mask option
    /// (`track` is checked by track::build_track).
    void validate() const;
};

/// Analysis results of one crop.
struct CropAnalysis {
    face::Landmarks single{};    ///< landmarks of the crop itself
    face::Landmarks averaged{};  ///< multisample mean (== single without multisample)
    cv::Matx23f align = cv::Matx23f::eye();
    face::Landmarks aligned{};                                 ///< averaged mapped by align
    std::array<cv::Point2f, 2> pupils{};                       ///< from `single`, crop pixels
    face::LandmarkSource source = face::LandmarkSource::Dlib;  ///< the model behind single/averaged
    float yaw_deg = 0.f;  ///< estimated yaw (face_landmarker.hpp's convention: + = nose towards image right)
};

/// Landmarks (FaceLandmarker: dlib or FaceMesh by yaw), alignment and pupils of one crop with the predictor
/// rectangle `rect` (crop pixels).
CropAnalysis analyze_crop(const FaceLandmarker& landmarker, const cv::Mat& crop_bgr, const cv::Rect2f& rect,
                          float detector_yaw_deg = std::numeric_limits<float>::quiet_NaN());

/// Same with dlib only (source Dlib, yaw_deg = yaw_from_landmarks of the averaged points).
CropAnalysis analyze_crop(const track::LandmarkDetector& detector, const cv::Mat& crop_bgr, const cv::Rect2f& rect,
                          bool multisample = true, int shift = 5);

/// A FaceFrame for a still image from a dlib HOG detection: the NED box (hog_to_ned_box, make_square) and
/// crop_to_frame (crop_transform) exactly as build_track makes them.
face::FaceFrame face_frame_from_detection(const cv::Vec4f& hog_box, int crop_size = 256, float margin = 70.f);

/// Fill the analysis fields of `track` (built for `video_path`) in one streaming pass, writing the optional
/// images / preview of `options`. Sets has_analysis. `workdir` is used only for images.
void analyze_track(face::FaceTrack& track, const std::string& video_path, const std::string& workdir,
                   const AnalyzeOptions& options, const ProgressFn& progress = {});

class FaceSegmenter;
/// Same with an already loaded landmark detector (options.landmark_model is then ignored; FaceMesh is loaded
/// unless options.landmarks is Dlib) and optionally an already loaded segmenter (else options.segmentation_model
/// is loaded when set).
void analyze_track(face::FaceTrack& track, const track::LandmarkDetector& detector, const std::string& video_path,
                   const std::string& workdir, const AnalyzeOptions& options, const ProgressFn& progress = {},
                   FaceSegmenter* segmenter = nullptr);

/// build_track + analyze_track + save_track(WORKDIR/track.safetensors). The workdir is created if missing.
/// No face in the whole video -> InputError "no face found in VIDEO". Missing landmark model -> ModelError
/// (checked before any decoding).
face::FaceTrack analyze_video(const std::string& video_path, const std::string& workdir, const AnalyzeOptions& options,
                              const ProgressFn& track_progress = {}, const ProgressFn& analyze_progress = {});

}  // namespace ned::analysis
