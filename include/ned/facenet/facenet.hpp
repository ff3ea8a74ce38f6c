#pragma once
// ned::facenet: the open face models shipped with ned (models/open/, installed to share/ned/open), run with
// hand-written LibTorch modules that load face-api's TF.js weights manifests (float32 / float16 / uint8-affine),
// or with a small interpreter for TF.js graph models.
//   FaceDetector    face-api SSD-MobileNetV1 face detector (ssd_mobilenetv1_model-weights_manifest.json)
//   Landmarks68     face-api face_landmark_68 net (face_landmark_68_model-...), iBUG 68-point order (= dlib)
//   FaceDescriptor  face-api face_recognition net (port of dlib's ResNet-29 descriptor), 128-d, L2 distance
//   ExpressionNet   face-api face_expression net, 7 classes
//   EmotionFer2013  oarriaga's FER2013 mini-Xception (TF.js graph model from @vladmandic/human), 7 classes
//   BlazeFaceDetector  MediaPipe BlazeFace (TF.js graph model from @vladmandic/human)
// Graph models run through TfjsGraph (tfjs_weights.hpp). Provenance, licences, crop rules: docs/models.md sec. 8.
// All classes are thread-compatible (const methods may run concurrently on distinct inputs), CPU, float32.
// Images are 8-bit BGR (CV_8UC3) as OpenCV reads them; boxes are in image pixels (x, y, width, height).
// Constructors throw ned::ModelError (exit code 3) naming the file when a manifest/shard is missing or invalid.
#include <array>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace ned::facenet {

/// Folder of the shipped open models: the one given to set_open_models_dir (`ned` passes $NED_OPEN_MODELS), else
/// <dir of the ned executable>/../share/ned/open, else the source tree's models/open (compiled-in). ModelError
/// (exit 3) naming the folders tried when missing, or when the folder given is not one.
std::filesystem::path open_models_dir();
/// Make open_models_dir() return `dir` (empty: search as above). The library never reads the environment: `main`
/// calls this once with $NED_OPEN_MODELS (src/cli/environment.cpp); a test may call it too.
void set_open_models_dir(const std::filesystem::path& dir);

/// A detected face: box in image pixels, score in [0, 1].
struct Detection {
    cv::Rect2f box;
    float score;
    /// BlazeFace only (empty otherwise): MediaPipe's six keypoints in image pixels (edge coordinates, as `box`):
    /// the subject's right eye (image left), left eye, nose tip, mouth centre, right ear tragion, left ear tragion.
    std::vector<cv::Point2f> keypoints;
};
/// Yaw of a face from BlazeFace's keypoints, in degrees (positive: the nose towards image right): the nose
/// tip's offset from the eyes' midpoint along the eye line, r = offset / eye distance, mapped by
/// yaw = atan(r / kBlazeNoseDepth) (the nose tip lies ~kBlazeNoseDepth eye distances in front of the eyes).
/// 0 when there are no keypoints.
float blaze_yaw_deg(const Detection& d);
constexpr float kBlazeNoseDepth = 0.5f;

/// face-api's SSD-MobileNetV1 face detector. The RGB image is padded with black at the bottom/right to a square
/// (face-api's padToSquare) and resized to 512x512 (TF resizeBilinear, no half-pixel centres); boxes are decoded
/// with face-api's anchors and variances and reduced by its greedy NMS (IoU 0.5, at most 100 faces).
class FaceDetector {
public:
    explicit FaceDetector(const std::filesystem::path& dir = open_models_dir());
    ~FaceDetector();
    FaceDetector(FaceDetector&&) noexcept;
    FaceDetector& operator=(FaceDetector&&) noexcept;
    /// Faces with score >= min_score, best first. Empty image -> InputError.
    std::vector<Detection> detect(const cv::Mat& bgr, float min_score = 0.5f) const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// MediaPipe BlazeFace (back-camera model, 256x256; the TF.js graph of @vladmandic/human, run by TfjsGraph),
/// decoded as human's blazeface.ts: the frame stretched to 256x256 (TF resizeBilinear), scaled to [-1, 1];
/// 896 anchors (16x16 x 2 at stride 16, 8x8 x 6 at stride 32, centred, unit size); box centre = anchor + (dx, dy),
/// size = (w, h) in 256-pixel units; score = sigmoid(logit); greedy NMS (IoU > 0.3 suppresses, at most 100);
/// boxes mapped back by (width / 256, height / 256). The box is the tight face box (human enlarges it x1.4 for
/// its mesh; not done here).
class BlazeFaceDetector {
public:
    explicit BlazeFaceDetector(const std::filesystem::path& dir = open_models_dir());
    ~BlazeFaceDetector();
    BlazeFaceDetector(BlazeFaceDetector&&) noexcept;
    BlazeFaceDetector& operator=(BlazeFaceDetector&&) noexcept;
    /// Faces with score > min_score, best first.
    std::vector<Detection> detect(const cv::Mat& bgr, float min_score = 0.5f) const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

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
    ~FaceMesh();
    FaceMesh(FaceMesh&&) noexcept;
    FaceMesh& operator=(FaceMesh&&) noexcept;
    /// 468 points in image pixels (MediaPipe's canonical index order). `box`: the face (tight box, brows to chin,
    /// as BlazeFace gives; any detector box of about that size works since the later passes re-centre).
    /// `passes` >= 1 (2: one re-crop, as MediaPipe's tracking does on the next frame). `roll_deg`: the face's
    /// in-plane roll if known (counter-clockwise positive, as track::Detection::roll of the hog-rot detector):
    /// pass 1 crops turned by it instead of upright. InputError on an empty image or a box outside it.
    /// `face_score` (optional) receives the model's face-presence probability for the last pass (the graph's
    /// sigmoid face flag; MediaPipe drops a tracked face below 0.5): near 1 on faces, near 0 on hands, shirts, walls.
    std::vector<cv::Point3f> predict(const cv::Mat& bgr, const cv::Rect2f& box, int passes = 2,
                                     float roll_deg = 0.f, float* face_score = nullptr) const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// FaceMesh's 468 points mapped to the 68-point iBUG/dlib layout: each of the 68 points is one mesh point or
/// the mean of two (Peizhi Yan's published MediaPipe-to-dlib correspondence, github.com/PeizhiYan/
/// Mediapipe_2_Dlib_Landmarks, mp2dlib.py; docs/models.md). The jaw contour is the mesh's face oval, which follows
/// the visible outline only on frontal faces (iBUG's contour on a turned face is the silhouette).
/// InputError unless there are 468 (or 478, with irises) points.
std::vector<cv::Point2f> facemesh_to_68(const std::vector<cv::Point3f>& mesh);

/// face-api's 68-point landmark net (face_landmark_68_model). Input crop: the box, clipped to the image, padded
/// to a square at the bottom/right with black (face-api's padToSquare) and resized to 112x112.
class Landmarks68 {
public:
    explicit Landmarks68(const std::filesystem::path& dir = open_models_dir());
    ~Landmarks68();
    Landmarks68(Landmarks68&&) noexcept;
    Landmarks68& operator=(Landmarks68&&) noexcept;
    /// 68 points in image pixels, iBUG/dlib order.
    std::vector<cv::Point2f> predict(const cv::Mat& bgr, const cv::Rect2f& box) const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// face-api's face recognition net (dlib's ResNet descriptor ported to TF.js). Input crop: as Landmarks68 but
/// resized to 150x150. Descriptors of the same person are closer than 0.6 in L2 distance (dlib's threshold).
/// Pass descriptor_box(landmarks) as face-api does (tighter, fewer background pixels): on the shared photos it
/// separates people better than the detector's box (other person 0.83 vs 0.70, same person 0.39-0.42).
class FaceDescriptor {
public:
    explicit FaceDescriptor(const std::filesystem::path& dir = open_models_dir());
    ~FaceDescriptor();
    FaceDescriptor(FaceDescriptor&&) noexcept;
    FaceDescriptor& operator=(FaceDescriptor&&) noexcept;
    std::array<float, 128> describe(const cv::Mat& bgr, const cv::Rect2f& box) const;
    /// Euclidean distance; same person < 0.6.
    static float distance(const std::array<float, 128>& a, const std::array<float, 128>& b);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// The box face-api gives the descriptor net (FaceLandmarks.align with useDlibAlignment): a square of side
/// floor(mean distance from the eye centres to the mouth centre / 0.45), placed so that the centre of the three
/// (left eye, right eye, mouth) centres lies at (0.5, 0.43) of it, origin floored and clamped at 0.
/// `landmarks68` in image pixels (Landmarks68::predict). Throws InputError unless there are 68 points.
cv::Rect2f descriptor_box(const std::vector<cv::Point2f>& landmarks68);

/// face-api's 7-class expression net. Input crop: as Landmarks68 (112x112).
class ExpressionNet {
public:
    explicit ExpressionNet(const std::filesystem::path& dir = open_models_dir());
    ~ExpressionNet();
    ExpressionNet(ExpressionNet&&) noexcept;
    ExpressionNet& operator=(ExpressionNet&&) noexcept;
    /// face-api's order: neutral, happy, sad, angry, fearful, disgusted, surprised.
    static const std::vector<std::string>& names();
    /// Softmax probabilities in names() order (sum 1).
    std::vector<float> probabilities(const cv::Mat& bgr, const cv::Rect2f& box) const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// oarriaga's FER2013 mini-Xception emotion classifier (face_classification, MIT), the TF.js graph model
/// `emotion.json` of @vladmandic/human 3.3.6, run by TfjsGraph. Input as human prepares it: the box clipped and
/// floored as above (no square padding), scaled to [0, 1], resized to 64x64 (TF resizeBilinear), grey =
/// 0.2989 R + 0.5870 G + 0.1140 B, then (grey - 0.5) * 2.
class EmotionFer2013 {
public:
    explicit EmotionFer2013(const std::filesystem::path& dir = open_models_dir());
    ~EmotionFer2013();
    EmotionFer2013(EmotionFer2013&&) noexcept;
    EmotionFer2013& operator=(EmotionFer2013&&) noexcept;
    /// FER2013's order: angry, disgust, fear, happy, sad, surprise, neutral.
    static const std::vector<std::string>& names();
    /// Softmax probabilities in names() order.
    std::vector<float> probabilities(const cv::Mat& bgr, const cv::Rect2f& box) const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace ned::facenet
