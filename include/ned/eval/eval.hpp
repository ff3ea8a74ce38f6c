#pragma once
// ned::eval: `ned eval ORIGINAL EDITED`, the metrics of NED's paper (and later papers) between an edited
// video and its original (or a self-reenactment and its ground truth), computed on the user's own videos.
//
// Both videos are face-tracked (ned::track::build_track, one pass each, memory O(frames)); then both are
// decoded side by side, frame by frame (memory constant in the video length). A frame is evaluated when
// both tracks have the face. Per evaluated frame t (space = NED's 256x256 crop of the ORIGINAL's track, the
// same crop for both videos, so the numbers do not depend on the video resolution):
//   APD   mean over all frame pixels of the l2 distance of the RGB values (0..255 scale), whole frame
//   FAPD  the same over the face-mask pixels of the crop (mask from the original's 68 landmarks,
//         ned::face::landmark_face_mask: jaw + raised brows, NED's SoftErosion)
//   MAPD  the same over the 72x72 square of the crop centred on the mouth centre (mean of points 48..67)
//   descriptors: facenet::FaceDescriptor on the frame, box = face-api's alignMinBbox(0.2) of the landmarks
//   CSIM  cosine similarity of the two descriptors;  FID = Frechet distance between the Gaussians of all
//         original and all edited descriptors (mean + covariance accumulated in one pass)
//   emotion: facenet::ExpressionNet and facenet::EmotionFer2013 probabilities mapped onto NED's 7 names; the
//         report's mean_probs_* and target shares use the mean of the two (per classifier under
//         emotion.per_classifier); a frame is "recognised as" the emotion of highest probability
//   mouth: landmarks aligned onto NED's template (ned::face::align_transform); opening = mean inner-lip
//         gap (61-67, 62-66, 63-65) in aligned pixels; distance = mean |a_i - b_i| over the 20 mouth points
//   background: PSNR over the frame pixels outside the original's face mask (warped to the frame) dilated
//         by 10% of the crop square, pooled over frames
//   jitter: mean second difference |p[t] - (p[t-1] + p[t+1]) / 2| of the 68 landmarks (in crop pixels of a
//         frame-space point, i.e. frame pixels / crop scale) over runs of consecutive evaluated frames.
// Aggregates: APD/FAPD/MAPD are means over all pixels of all evaluated frames (NED: "across all facial
// pixels and frames"); CSIM, mouth distance and emotion probabilities are means over evaluated frames.
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include <array>
#include <string>
#include <vector>

#include "ned/core/progress.hpp"
#include "ned/track/face_tracker.hpp"

namespace ned::eval {

/// NED's 7 emotion names (= ned::manip::emotion_names()), the order of every probability vector here.
const std::vector<std::string>& ned_emotions();
/// face-api ExpressionNet probabilities (neutral, happy, sad, angry, fearful, disgusted, surprised) in NED's
/// order (neutral, angry, disgusted, fear, happy, sad, surprised). InputError unless 7 values.
std::array<double, 7> faceapi_to_ned(const std::vector<float>& faceapi_probs);
/// FER2013 probabilities (angry, disgust, fear, happy, sad, surprise, neutral) in NED's order.
std::array<double, 7> fer2013_to_ned(const std::vector<float>& fer_probs);
/// The emotion classifiers, in the order of FrameMetrics::classifier_* : face-api's expression net and
/// oarriaga's FER2013 mini-Xception (both ned::facenet).
constexpr int kNumClassifiers = 2;

struct EvalOptions {
    track::TrackOptions track;   ///< tracking of both videos (detector, gaps, ...)
    std::string target_emotion;  ///< one of ned_emotions(), or empty
    std::string landmark_model;  ///< dlib predictor (empty = default)
    std::string models_dir;      ///< open face models folder (empty = facenet::open_models_dir())
    long max_frames = 0;         ///< only the first N frames (0 = all)
    /// Worker threads for tracking and the per-frame metrics (0 = all cores). Their networks run single-threaded:
    /// LibTorch's intra-op threads are 1 while evaluate() runs (restored after); the decoders use at most 2 each.
    int threads = 0;
    float background_dilation = 0.1f;  ///< face region dilation, fraction of the crop square side

    /// OptionError naming the field for a target emotion outside ned_emotions(), negative max_frames or threads,
    /// or a background dilation that is not a finite number >= 0 (`track` is checked by track::build_track).
    void validate() const;
};

/// Per-frame values (NaN where a frame is not evaluated or the value is undefined).
struct FrameMetrics {
    bool evaluated = false;
    double apd = NAN, fapd = NAN, mapd = NAN, csim = NAN;
    double mouth_open_original = NAN, mouth_open_edited = NAN, mouth_distance = NAN;
    double background_mse = NAN;
    std::array<double, 7> probs_original{}, probs_edited{};  ///< NED order, mean of the classifiers
    std::array<std::array<double, 7>, kNumClassifiers> classifier_original{}, classifier_edited{};
};

struct EvalReport {
    std::string original, edited;
    long frames_total = 0, frames_evaluated = 0;
    long original_valid = 0, edited_valid = 0;
    double apd = NAN, fapd = NAN, mapd = NAN, fid = NAN, csim = NAN;
    double mouth_open_pearson = NAN, mouth_landmark_distance = NAN;
    double background_psnr = NAN;  ///< +inf when the background is identical
    double background_mse = NAN;
    double jitter_original = NAN, jitter_edited = NAN;
    std::vector<std::string> classifiers;
    std::array<double, 7> mean_probs_original{}, mean_probs_edited{};
    std::string target;
    double target_share_original = NAN, target_share_edited = NAN;
    /// per classifier (index as classifiers): mean probabilities and target shares
    std::array<std::array<double, 7>, kNumClassifiers> classifier_mean_original{}, classifier_mean_edited{};
    std::array<double, kNumClassifiers> classifier_share_original{}, classifier_share_edited{};
    double seconds = 0;  ///< wall time of evaluate()
    std::vector<FrameMetrics> per_frame;

    /// The JSON report (top-level keys: frames, apd, fapd, mapd, fid, csim, mouth_open_pearson,
    /// mouth_landmark_distance, background_psnr, landmark_jitter, emotion, and more). NaN/inf -> null.
    nlohmann::ordered_json to_json(bool with_per_frame = true) const;
    /// The one-screen text summary.
    std::string summary() const;
};

/// Evaluate EDITED against ORIGINAL. InputError (exit 2) when the videos differ in frame count or size, an
/// unknown target emotion, or no frame where both have the face; ModelError (exit 3) for missing models.
EvalReport evaluate(const std::string& original, const std::string& edited, const EvalOptions& options,
                    const ProgressFn& progress = {});

/// Draw the per-frame curves (APD/FAPD/MAPD, CSIM, mouth opening of both, target or dominant emotion
/// probability of both) as a PNG/JPEG image; written atomically (refuses to overwrite without `overwrite`).
void write_plot(const std::string& path, const EvalReport& report, bool overwrite);
/// The plot image itself (BGR, width x ~4 panels).
cv::Mat render_plot(const EvalReport& report, int width = 1200);

// ---- building blocks (exposed for tests) ----

/// Sum of the per-pixel l2 RGB distance of two same-size CV_8UC3 images over the pixels where mask != 0
/// (empty mask = all pixels), and the number of pixels summed.
struct PixelSum {
    double sum = 0;
    long count = 0;
    double mean() const { return count > 0 ? sum / count : NAN; }
};
PixelSum l2_distance_sum(const cv::Mat& a, const cv::Mat& b, const cv::Mat& mask = {});
/// Sum of squared channel differences over the pixels where mask != 0, count = pixels * channels.
PixelSum squared_error_sum(const cv::Mat& a, const cv::Mat& b, const cv::Mat& mask = {});
/// PSNR for 8-bit data from a mean squared error (+inf for 0).
double psnr_from_mse(double mse);

/// Pearson correlation of two equal-length series (NaN with fewer than 2 points or zero variance).
double pearson(const std::vector<double>& a, const std::vector<double>& b);
double cosine_similarity(const std::array<float, 128>& a, const std::array<float, 128>& b);

/// Running mean and covariance of 128-d descriptors (double precision, one pass).
class GaussianAccumulator {
public:
    void add(const std::array<float, 128>& x);
    long count() const { return n_; }
    std::vector<double> mean() const;
    /// Unbiased covariance (n - 1), row-major 128x128 (zeros for n < 2).
    std::vector<double> covariance() const;

private:
    long n_ = 0;
    std::vector<double> sum_ = std::vector<double>(128, 0.0);
    std::vector<double> outer_ = std::vector<double>(128 * 128, 0.0);
};
/// Frechet distance |m1 - m2|^2 + tr(C1 + C2 - 2 (C1 C2)^1/2) of two Gaussians of dimension d (row-major
/// covariances); tr((C1 C2)^1/2) = sum of sqrt of the eigenvalues of C1^1/2 C2 C1^1/2 (symmetric PSD).
double frechet_distance(const std::vector<double>& m1, const std::vector<double>& c1, const std::vector<double>& m2,
                        const std::vector<double>& c2);

/// face-api's FaceLandmarks.align() default (alignMinBbox, padding 0.2): the bounding box of the landmarks
/// grown by 20% of its width and height (10% on each side). Image pixels.
cv::Rect2f descriptor_box(const std::vector<cv::Point2f>& landmarks);

/// Mouth opening of landmarks in aligned space: mean of |p61-p67|, |p62-p66|, |p63-p65|.
double mouth_opening(const face::Landmarks& aligned);
/// Mean distance of the 20 mouth points (48..67) of two aligned landmark sets.
double mouth_distance(const face::Landmarks& a, const face::Landmarks& b);

}  // namespace ned::eval
