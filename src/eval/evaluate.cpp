// ned::eval::evaluate: track both videos, then decode them side by side and compute the metrics (eval.hpp).
#include <ATen/Parallel.h>
#include <opencv2/imgproc.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "ned/core/error.hpp"
#include "ned/core/log.hpp"
#include "ned/core/parallel.hpp"
#include "ned/core/torch_util.hpp"
#include "ned/face/alignment.hpp"
#include "ned/face/crop.hpp"
#include "ned/face/face_mask.hpp"
#include "ned/track/landmarks.hpp"
#include "ned/eval/eval.hpp"
#include "ned/facenet/facenet.hpp"
#include "ned/io/video.hpp"

namespace ned::eval {
namespace {

using face::Landmarks;

/// Everything computed for one frame pair (in parallel), folded into the report in frame order.
struct FrameWork {
    long index = 0;
    cv::Mat a, b;
    FrameMetrics m;
    PixelSum apd, fapd, mapd, background;
    std::array<float, 128> da{}, db{};
    Landmarks frame_a{}, frame_b{};  // landmarks in frame pixels
    float scale = 1.f;               // frame pixels per crop pixel
    bool shot_start = false;
};

Landmarks to_frame(const Landmarks& crop_pts, const cv::Matx23f& m) { return face::transform_landmarks(crop_pts, m); }

std::vector<cv::Point2f> as_vector(const Landmarks& l) { return std::vector<cv::Point2f>(l.begin(), l.end()); }

int argmax(const std::array<double, 7>& p) {
    return static_cast<int>(std::max_element(p.begin(), p.end()) - p.begin());
}

struct Models {
    track::LandmarkDetector landmarks;
    facenet::FaceDescriptor descriptor;
    facenet::ExpressionNet expression;
    facenet::EmotionFer2013 fer;
    Models(const std::string& lm, const std::filesystem::path& dir)
        : landmarks(lm), descriptor(dir), expression(dir), fer(dir) {}
};

void evaluate_frame(FrameWork& w, const face::FaceFrame& fa, const face::FaceFrame& fb, int cs, float dilation,
                    const Models& models) {
    w.apd = l2_distance_sum(w.a, w.b);
    w.m.apd = w.apd.mean();
    const cv::Matx23f& c2f = fa.crop_to_frame;
    const cv::Mat ca = face::extract_crop(w.a, c2f, cs), cb = face::extract_crop(w.b, c2f, cs);
    const Landmarks la = models.landmarks.landmark(ca, track::predictor_rect(fa));
    const Landmarks lb = models.landmarks.landmark(cb, track::box_in_crop(track::ned_box_to_hog(fb.box), c2f));

    // FAPD over the original's face mask, MAPD on the 72x72 (of a 256 crop) square around the mouth centre.
    const cv::Mat mask = face::landmark_face_mask(la, cs);
    w.fapd = l2_distance_sum(ca, cb, mask);
    w.m.fapd = w.fapd.mean();
    cv::Point2f mouth(0, 0);
    for (int i = 48; i < 68; ++i) mouth += la[i];
    mouth *= 1.f / 20.f;
    const float side = 72.f * cs / 256.f;
    const cv::Rect win =
        cv::Rect(cvRound(mouth.x - side / 2), cvRound(mouth.y - side / 2), cvRound(side), cvRound(side)) &
        cv::Rect(0, 0, cs, cs);
    if (win.area() > 0) {
        w.mapd = l2_distance_sum(ca(win), cb(win));
        w.m.mapd = w.mapd.mean();
    }

    // Background: outside the face mask dilated by `dilation` x crop side, mapped into the frame.
    const int r = std::max(1, cvRound(dilation * cs));
    cv::Mat grown;
    cv::dilate(mask, grown, cv::getStructuringElement(cv::MORPH_ELLIPSE, cv::Size(2 * r + 1, 2 * r + 1)));
    cv::Mat face_frame;
    cv::warpAffine(grown, face_frame, cv::Mat(c2f), w.a.size(), cv::INTER_NEAREST, cv::BORDER_CONSTANT, 0);
    cv::Mat outside = face_frame == 0;
    w.background = squared_error_sum(w.a, w.b, outside);
    w.m.background_mse = w.background.count > 0 ? w.background.sum / w.background.count : NAN;

    // Identity and emotion on the frame, face-api's box from the landmarks.
    w.frame_a = to_frame(la, c2f);
    w.frame_b = to_frame(lb, c2f);
    w.scale = c2f(0, 0);
    const cv::Rect2f box_a = descriptor_box(as_vector(w.frame_a)), box_b = descriptor_box(as_vector(w.frame_b));
    w.da = models.descriptor.describe(w.a, box_a);
    w.db = models.descriptor.describe(w.b, box_b);
    w.m.csim = cosine_similarity(w.da, w.db);
    w.m.classifier_original[0] = faceapi_to_ned(models.expression.probabilities(w.a, box_a));
    w.m.classifier_edited[0] = faceapi_to_ned(models.expression.probabilities(w.b, box_b));
    w.m.classifier_original[1] = fer2013_to_ned(models.fer.probabilities(w.a, box_a));
    w.m.classifier_edited[1] = fer2013_to_ned(models.fer.probabilities(w.b, box_b));
    for (int e = 0; e < 7; ++e) {
        w.m.probs_original[e] = w.m.probs_edited[e] = 0;
        for (int k = 0; k < kNumClassifiers; ++k) {
            w.m.probs_original[e] += w.m.classifier_original[k][e] / kNumClassifiers;
            w.m.probs_edited[e] += w.m.classifier_edited[k][e] / kNumClassifiers;
        }
    }

    // Mouth after alignment onto NED's template, in pixels of a 256 crop.
    const float to256 = 256.f / cs;
    Landmarks aa = face::transform_landmarks(la, face::align_transform(la, cs));
    Landmarks ab = face::transform_landmarks(lb, face::align_transform(lb, cs));
    for (auto& p : aa) p *= to256;
    for (auto& p : ab) p *= to256;
    w.m.mouth_open_original = mouth_opening(aa);
    w.m.mouth_open_edited = mouth_opening(ab);
    w.m.mouth_distance = mouth_distance(aa, ab);
    w.m.evaluated = true;
}

/// Threads of this process now (Linux: /proc/self/status), 0 where unknown.
int process_threads() {
    std::ifstream in("/proc/self/status");
    std::string key;
    while (in >> key) {
        if (key == "Threads:") {
            int n = 0;
            in >> n;
            return n;
        }
        in.ignore(1 << 12, '\n');
    }
    return 0;
}

/// The most threads seen in the process while evaluate() runs (logged at debug level: tests check it). Sampled
/// only when that log line is written: otherwise a /proc read per frame for nothing.
struct ThreadPeak {
    const bool enabled = log::get().should_log(spdlog::level::debug);
    std::atomic<int> peak{0};
    void sample() {
        if (!enabled) return;
        const int n = process_threads();
        for (int p = peak.load(); n > p && !peak.compare_exchange_weak(p, n);) {}
    }
};

}  // namespace

void EvalOptions::validate() const {
    if (!target_emotion.empty()) {
        const auto& names = ned_emotions();
        if (std::find(names.begin(), names.end(), target_emotion) == names.end())
            throw OptionError(
                "EvalOptions::target_emotion",
                cat(" must be neutral, angry, disgusted, fear, happy, sad or surprised (got '", target_emotion, "')"));
    }
    if (max_frames < 0) throw OptionError("EvalOptions::max_frames", cat(" must be >= 0 (got ", max_frames, ")"));
    if (threads < 0) throw OptionError("EvalOptions::threads", cat(" must be >= 0 (got ", threads, ")"));
    if (!(std::isfinite(background_dilation) && background_dilation >= 0))
        throw OptionError("EvalOptions::background_dilation",
                          cat(" must be a finite number >= 0 (got ", background_dilation, ")"));
    // track: build_track validates it
}

namespace {

/// Second difference of landmarks of three consecutive frames, mean over the 68 points, in crop pixels.
double second_difference(const Landmarks& p0, const Landmarks& p1, const Landmarks& p2, float scale) {
    double s = 0;
    for (int i = 0; i < face::kNumLandmarks; ++i) s += cv::norm(p1[i] - 0.5f * (p0[i] + p2[i]));
    return s / face::kNumLandmarks / std::max(scale, 1e-6f);
}

/// The index of `name` in ned_emotions(), -1 for none (empty; EvalOptions::validate refuses another name).
int target_index(const std::string& name) {
    const auto& names = ned_emotions();
    const auto it = std::find(names.begin(), names.end(), name);
    return it == names.end() ? -1 : static_cast<int>(it - names.begin());
}

/// Probes both videos (counting frames); they must have the same length and size. Returns the original's info.
io::VideoInfo probe_pair(const std::string& original, const std::string& edited) {
    const io::VideoInfo ia = io::probe(original, true), ib = io::probe(edited, true);
    if (ia.frame_count != ib.frame_count)
        throw InputError(cat("ORIGINAL ", original, " has ", ia.frame_count, " frames but EDITED ", edited, " has ",
                             ib.frame_count, ": ned eval compares videos of the same length, frame by frame"));
    if (ia.display_width != ib.display_width || ia.display_height != ib.display_height)
        throw InputError(cat("ORIGINAL ", original, " is ", ia.display_width, "x", ia.display_height, " but EDITED ",
                             edited, " is ", ib.display_width, "x", ib.display_height,
                             ": ned eval compares videos of the same size"));
    return ia;
}

/// The per-frame sums the report's means come from, folded in frame order.
struct Totals {
    PixelSum apd, fapd, mapd, bg;
    GaussianAccumulator ga, gb;
    std::array<double, 7> sum_a{}, sum_b{};
    long hits_a = 0, hits_b = 0;
    std::array<std::array<double, 7>, kNumClassifiers> csum_a{}, csum_b{};
    std::array<long, kNumClassifiers> chits_a{}, chits_b{};
    double jitter_a = 0, jitter_b = 0;
    long triples = 0;
    std::vector<double> open_a, open_b;
    double mouth_sum = 0, csim_sum = 0;
    // the last two evaluated frames of the current run (for jitter)
    std::optional<FrameWork> prev1, prev2;

    /// Adds an evaluated frame (`target`: the target emotion's index, -1 for none).
    void add(FrameWork&& w, int target) {
        apd.sum += w.apd.sum, apd.count += w.apd.count;
        fapd.sum += w.fapd.sum, fapd.count += w.fapd.count;
        mapd.sum += w.mapd.sum, mapd.count += w.mapd.count;
        bg.sum += w.background.sum, bg.count += w.background.count;
        ga.add(w.da);
        gb.add(w.db);
        csim_sum += w.m.csim;
        mouth_sum += w.m.mouth_distance;
        open_a.push_back(w.m.mouth_open_original);
        open_b.push_back(w.m.mouth_open_edited);
        for (int e = 0; e < 7; ++e) sum_a[e] += w.m.probs_original[e], sum_b[e] += w.m.probs_edited[e];
        for (int k = 0; k < kNumClassifiers; ++k)
            for (int e = 0; e < 7; ++e)
                csum_a[k][e] += w.m.classifier_original[k][e], csum_b[k][e] += w.m.classifier_edited[k][e];
        if (target >= 0) {
            hits_a += argmax(w.m.probs_original) == target;
            hits_b += argmax(w.m.probs_edited) == target;
            for (int k = 0; k < kNumClassifiers; ++k) {
                chits_a[k] += argmax(w.m.classifier_original[k]) == target;
                chits_b[k] += argmax(w.m.classifier_edited[k]) == target;
            }
        }
        if (w.shot_start) prev1.reset(), prev2.reset();
        if (prev1 && prev2 && prev1->index == w.index - 1 && prev2->index == w.index - 2) {
            jitter_a += second_difference(prev2->frame_a, prev1->frame_a, w.frame_a, prev1->scale);
            jitter_b += second_difference(prev2->frame_b, prev1->frame_b, w.frame_b, prev1->scale);
            ++triples;
        }
        prev2 = std::move(prev1);
        prev1 = std::move(w);
    }

    /// The report's means over `rep.frames_evaluated` frames.
    void into(EvalReport& rep, int target) const {
        const double n = static_cast<double>(rep.frames_evaluated);
        rep.apd = apd.mean();
        rep.fapd = fapd.mean();
        rep.mapd = mapd.mean();
        rep.csim = csim_sum / n;
        rep.mouth_landmark_distance = mouth_sum / n;
        rep.mouth_open_pearson = pearson(open_a, open_b);
        rep.background_mse = bg.count > 0 ? bg.sum / bg.count : NAN;
        rep.background_psnr = psnr_from_mse(rep.background_mse);
        if (ga.count() >= 2) rep.fid = frechet_distance(ga.mean(), ga.covariance(), gb.mean(), gb.covariance());
        if (triples > 0) rep.jitter_original = jitter_a / triples, rep.jitter_edited = jitter_b / triples;
        for (int e = 0; e < 7; ++e) rep.mean_probs_original[e] = sum_a[e] / n, rep.mean_probs_edited[e] = sum_b[e] / n;
        if (target >= 0) rep.target_share_original = hits_a / n, rep.target_share_edited = hits_b / n;
        for (int k = 0; k < kNumClassifiers; ++k) {
            for (int e = 0; e < 7; ++e)
                rep.classifier_mean_original[k][e] = csum_a[k][e] / n,
                rep.classifier_mean_edited[k][e] = csum_b[k][e] / n;
            rep.classifier_share_original[k] = target >= 0 ? chits_a[k] / n : NAN;
            rep.classifier_share_edited[k] = target >= 0 ? chits_b[k] / n : NAN;
        }
    }
};

/// Both videos read side by side, frame `t` on; the two tracks.
struct Pair {
    const std::string& original;
    const std::string& edited;
    io::VideoReader ra, rb;
    const face::FaceTrack& ta;
    const face::FaceTrack& tb;
    long t = 0;
};

/// Up to `batch` frame pairs from both readers; sets `more` to false at the end (or max_frames).
std::vector<FrameWork> read_batch(Pair& v, int batch, long max_frames, bool& more) {
    std::vector<FrameWork> work;
    while (static_cast<int>(work.size()) < batch) {
        if (max_frames > 0 && v.t >= max_frames) {
            more = false;
            break;
        }
        io::Frame fa, fb;
        const bool ga_ok = v.ra.read(fa), gb_ok = v.rb.read(fb);
        if (!ga_ok || !gb_ok) {
            if (ga_ok != gb_ok)
                throw InputError(cat(ga_ok ? v.edited : v.original, " ended at frame ", v.t, " before ",
                                     ga_ok ? v.original : v.edited, ": the videos must have the same length"));
            more = false;
            break;
        }
        FrameWork w;
        w.index = v.t;
        w.a = std::move(fa.bgr);
        w.b = std::move(fb.bgr);
        if (w.a.size() != w.b.size())
            throw InputError(cat("frame ", v.t, ": ", v.original, " and ", v.edited, " differ in size"));
        work.push_back(std::move(w));
        ++v.t;
    }
    return work;
}

/// The metrics of every frame of `work` where both tracks have the face (in parallel); releases the images.
void evaluate_batch(std::vector<FrameWork>& work, const Pair& v, const EvalOptions& options, const Models& models,
                    int threads, ThreadPeak& peak) {
    const int cs = v.ta.crop_size;
    parallel_for(static_cast<int64_t>(work.size()), threads, [&](int64_t i) {
        FrameWork& w = work[i];
        const long k = w.index;
        const bool both = k < static_cast<long>(v.ta.frames.size()) && k < static_cast<long>(v.tb.frames.size()) &&
                          v.ta.frames[k].valid && v.tb.frames[k].valid;
        if (both) {
            w.shot_start = v.ta.frames[k].shot_start || v.tb.frames[k].shot_start;
            evaluate_frame(w, v.ta.frames[k], v.tb.frames[k], cs, options.background_dilation, models);
        }
        peak.sample();  // while this worker (and its libraries' threads, if any) is alive
        w.a.release();
        w.b.release();
    });
}

/// Folds a batch into the report's counts and per-frame rows and into the totals, in frame order.
void fold_batch(std::vector<FrameWork>& work, const Pair& v, int target, EvalReport& rep, Totals& tot) {
    for (auto& w : work) {
        ++rep.frames_total;
        if (w.index < static_cast<long>(v.ta.frames.size()) && v.ta.frames[w.index].valid) ++rep.original_valid;
        if (w.index < static_cast<long>(v.tb.frames.size()) && v.tb.frames[w.index].valid) ++rep.edited_valid;
        if (!w.m.evaluated) {
            tot.prev1.reset(), tot.prev2.reset();
            rep.per_frame.push_back(w.m);
            continue;
        }
        ++rep.frames_evaluated;
        rep.per_frame.push_back(w.m);
        tot.add(std::move(w), target);
    }
}

/// Tracks the face in both videos (progress: the first two thirds of `total_work`).
std::pair<face::FaceTrack, face::FaceTrack> track_pair(const std::string& original, const std::string& edited,
                                                       const EvalOptions& options, int threads, long n_total,
                                                       const ProgressFn& progress, ThreadPeak& peak) {
    const long total_work = 3 * std::max(1L, n_total);
    auto phase = [&](long offset) -> ProgressFn {
        // (called by the tracker's reading thread while its workers run: samples the thread count)
        return [&progress, &peak, offset, total_work](long done, long) {
            peak.sample();
            if (progress) progress(offset + done, total_work);
        };
    };
    track::TrackOptions to = options.track;
    to.max_frames = options.max_frames;
    to.threads = threads;
    spdlog::info("eval: tracking the face in {}", original);
    face::FaceTrack ta = track::build_track(original, to, phase(0));
    spdlog::info("eval: tracking the face in {}", edited);
    face::FaceTrack tb = track::build_track(edited, to, phase(n_total));
    return {std::move(ta), std::move(tb)};
}

}  // namespace

EvalReport evaluate(const std::string& original, const std::string& edited, const EvalOptions& options,
                    const ProgressFn& progress) {
    options.validate();
    const auto t0 = std::chrono::steady_clock::now();
    const int target = target_index(options.target_emotion);
    // Thread budget: `threads` workers (tracking, then the frame metrics, the calling thread included) whose
    // networks run single-threaded, plus each decoder's own threads (the two below: at most 2 each).
    const int threads = options.threads > 0 ? options.threads : std::max(1u, std::thread::hardware_concurrency());
    ThreadPeak peak;
    peak.sample();
    const int threads_at_start = peak.peak.load();
    const ScopedTorchThreads torch_threads(1);  // the workers' networks run single-threaded
    const io::VideoInfo ia = probe_pair(original, edited);

    // Models first, so a missing asset fails before minutes of tracking.
    const std::filesystem::path dir =
        options.models_dir.empty() ? facenet::open_models_dir() : std::filesystem::path(options.models_dir);
    const Models models(options.landmark_model, dir);

    long n_total = ia.frame_count;
    if (options.max_frames > 0) n_total = std::min(n_total, options.max_frames);
    const long total_work = 3 * std::max(1L, n_total);
    const auto [ta, tb] = track_pair(original, edited, options, threads, n_total, progress, peak);

    EvalReport rep;
    rep.original = original;
    rep.edited = edited;
    rep.classifiers = {"face-api expression net", "FER2013 mini-Xception (oarriaga)"};
    rep.target = options.target_emotion;

    const int decode_threads = std::min(threads, 2);
    Pair v{original, edited, io::VideoReader(original, decode_threads), io::VideoReader(edited, decode_threads),
           ta,       tb};
    const int batch = std::max(2, 2 * threads);
    Totals tot;
    for (bool more = true; more;) {
        std::vector<FrameWork> work = read_batch(v, batch, options.max_frames, more);
        evaluate_batch(work, v, options, models, threads, peak);
        fold_batch(work, v, target, rep, tot);
        if (progress) progress(2 * n_total + v.t, total_work);
    }
    if (rep.frames_total != static_cast<long>(ta.frames.size()) ||
        rep.frames_total != static_cast<long>(tb.frames.size()))
        spdlog::warn("eval: decoded {} frames, tracks have {} and {}", rep.frames_total, ta.frames.size(),
                     tb.frames.size());
    if (rep.frames_evaluated == 0)
        throw InputError(cat("no frame where both ", original, " (face in ", rep.original_valid, " of ",
                             rep.frames_total, " frames) and ", edited, " (face in ", rep.edited_valid,
                             " frames) show the face: nothing to evaluate"));
    tot.into(rep, target);
    rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    peak.sample();
    if (peak.enabled)
        NED_LOG_DEBUG("[eval] threads: {} workers; {} threads in the process at the start, peak {}", threads,
                      threads_at_start, peak.peak.load());
    return rep;
}

}  // namespace ned::eval
