#include "ned/track/face_tracker.hpp"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <atomic>
#include <limits>
#include <optional>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>

#include "ned/core/bounded_queue.hpp"
#include "ned/core/error.hpp"
#include "ned/core/torch_util.hpp"
#include "ned/core/log.hpp"
#include "ned/face/crop.hpp"
#include "ned/track/identity.hpp"
#include "ned/io/video.hpp"

namespace ned::track {

float iou(const cv::Vec4f& a, const cv::Vec4f& b) {
    const float aw = a[2] - a[0], ah = a[3] - a[1], bw = b[2] - b[0], bh = b[3] - b[1];
    if (aw <= 0 || ah <= 0 || bw <= 0 || bh <= 0) return 0.f;
    const float iw = std::min(a[2], b[2]) - std::max(a[0], b[0]);
    const float ih = std::min(a[3], b[3]) - std::max(a[1], b[1]);
    if (iw <= 0 || ih <= 0) return 0.f;
    const float inter = iw * ih;
    return inter / (aw * ah + bw * bh - inter);
}

FaceAt parse_face_at(const std::string& text) {
    FaceAt f;
    if (text.empty()) return f;
    const auto bad = [&](const std::string& why) {
        return OptionError("TrackOptions::face_at", cat(" '", text, "': ", why,
                                                        " (expected SECONDS:X,Y, e.g. 2.5:640,360: the face nearest "
                                                        "pixel X,Y of the displayed frame at 2.5 s)"));
    };
    const size_t colon = text.find(':'), comma = text.find(',', colon == std::string::npos ? 0 : colon);
    if (colon == std::string::npos || comma == std::string::npos) throw bad("missing ':' or ','");
    auto number = [&](const std::string& s, const char* what) {
        size_t used = 0;
        double v = 0;
        try {
            v = std::stod(s, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (s.empty() || used != s.size() || !std::isfinite(v)) throw bad(cat(what, " '", s, "' is not a number"));
        if (v < 0) throw bad(cat(what, " must be >= 0"));
        return v;
    };
    f.seconds = number(text.substr(0, colon), "SECONDS");
    f.x = number(text.substr(colon + 1, comma - colon - 1), "X");
    f.y = number(text.substr(comma + 1), "Y");
    return f;
}

namespace {
float area(const cv::Vec4f& b) { return std::max(0.f, b[2] - b[0]) * std::max(0.f, b[3] - b[1]); }

/// Index of the face_index-th largest detection, or -1 when there are too few.
int pick_by_rank(const std::vector<Detection>& dets, int face_index) {
    if (static_cast<int>(dets.size()) <= face_index) return -1;
    std::vector<int> order(dets.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
    std::stable_sort(order.begin(), order.end(), [&](int x, int y) { return area(dets[x].box) > area(dets[y].box); });
    return order[face_index];
}
}  // namespace

namespace {

/// How the target is (re-)acquired when there is no track: by size rank, or by similarity to the last box.
struct Acquire {
    int face_index = 0;  ///< by rank (>= 0), or -1 = most similar to the last known box
};

/// One tracking pass over frames order[0..n) (indices into detections). new_shot[k]: order[k] starts a new
/// shot relative to order[k-1]. With `start` (>= 0) the pass begins with that detection of order[0] as the
/// target. Per k: chosen[k], segment[k] (a segment starts at k), among[k] (faces acquired among).
void track_pass(const std::vector<std::vector<Detection>>& detections, const std::vector<long>& order,
                const std::vector<bool>& new_shot, Acquire acquire, int start, float min_iou, int max_gap,
                std::vector<int>& chosen, std::vector<bool>& segment, std::vector<int>& among) {
    const size_t n = order.size();
    chosen.assign(n, -1);
    segment.assign(n, false);
    among.assign(n, 0);
    bool have = false, lost = false;  // lost: the track existed in this shot and was lost (re-acquire = jump)
    bool known = false;               // `last` holds a target box (kept across cuts and losses)
    cv::Vec4f last{};
    int gap = 0;
    for (size_t k = 0; k < n; ++k) {
        if (k > 0 && new_shot[k]) {
            segment[k] = true;
            have = false;
            lost = false;
        }
        const auto& dets = detections[order[k]];
        int pick = -1;
        if (k == 0 && start >= 0) {
            pick = start;
        } else if (!have) {
            if (acquire.face_index >= 0)
                pick = pick_by_rank(dets, acquire.face_index);
            else if (known)
                pick = most_similar(dets, last);
            if (pick >= 0) among[k] = static_cast<int>(dets.size());
            if (pick >= 0 && lost) segment[k] = true;  // re-acquired after a long gap
        } else {
            float best = 0.f;
            for (size_t i = 0; i < dets.size(); ++i) {
                const float v = iou(dets[i].box, last);
                if (v > best) {
                    best = v;
                    pick = static_cast<int>(i);
                }
            }
            if (best < min_iou) {
                pick = -1;
                // A fast move of the same face: a similar-sized box whose centre moved less than half a side.
                const float side = std::sqrt(area(last));
                const float lcx = 0.5f * (last[0] + last[2]), lcy = 0.5f * (last[1] + last[3]);
                float best_d = 0.5f * side;
                for (size_t i = 0; i < dets.size(); ++i) {
                    const float ratio = std::sqrt(area(dets[i].box)) / std::max(side, 1e-6f);
                    if (ratio < 1.f / 1.5f || ratio > 1.5f) continue;
                    const float d = std::hypot(0.5f * (dets[i].box[0] + dets[i].box[2]) - lcx,
                                               0.5f * (dets[i].box[1] + dets[i].box[3]) - lcy);
                    if (d < best_d) {
                        best_d = d;
                        pick = static_cast<int>(i);
                    }
                }
                if (pick >= 0) segment[k] = true;  // the face jumped: do not smooth across
            }
        }
        if (pick >= 0) {
            chosen[k] = pick;
            last = dets[pick].box;
            have = known = true;
            gap = 0;
        } else if (have && ++gap > max_gap) {
            have = false;
            lost = true;
        }
    }
}

}  // namespace

int most_similar(const std::vector<Detection>& dets, const cv::Vec4f& ref) {
    const float side = std::max(std::sqrt(area(ref)), 1e-6f);
    const float rcx = 0.5f * (ref[0] + ref[2]), rcy = 0.5f * (ref[1] + ref[3]);
    int best = -1;
    float best_score = std::numeric_limits<float>::infinity();
    for (size_t i = 0; i < dets.size(); ++i) {
        const cv::Vec4f& b = dets[i].box;
        const float s = std::max(std::sqrt(area(b)), 1e-6f);
        const float score =
            std::hypot(0.5f * (b[0] + b[2]) - rcx, 0.5f * (b[1] + b[3]) - rcy) / side + std::abs(std::log(s / side));
        if (score < best_score) {
            best_score = score;
            best = static_cast<int>(i);
        }
    }
    return best;
}

int nearest_face(const std::vector<Detection>& dets, double x, double y) {
    int best = -1;
    double best_d = 0, best_c = 0;
    for (size_t i = 0; i < dets.size(); ++i) {
        const cv::Vec4f& b = dets[i].box;
        const double dx = std::max({static_cast<double>(b[0]) - x, 0.0, x - b[2]});
        const double dy = std::max({static_cast<double>(b[1]) - y, 0.0, y - b[3]});
        const double d = std::hypot(dx, dy);
        if (d > 0.5 * std::sqrt(static_cast<double>(area(b)))) continue;
        const double c = std::hypot(0.5 * (b[0] + b[2]) - x, 0.5 * (b[1] + b[3]) - y);
        if (best < 0 || d < best_d || (d == best_d && c < best_c)) {
            best = static_cast<int>(i);
            best_d = d;
            best_c = c;
        }
    }
    return best;
}

TargetSelection select_target(const std::vector<std::vector<Detection>>& detections, const std::vector<bool>& cuts,
                              int face_index, float min_iou, int max_gap) {
    TargetSelection sel;
    const size_t T = detections.size();
    if (T == 0) return sel;
    std::vector<long> order(T);
    std::vector<bool> new_shot(T, false);
    for (size_t t = 0; t < T; ++t) {
        order[t] = static_cast<long>(t);
        new_shot[t] = t < cuts.size() && cuts[t];
    }
    track_pass(detections, order, new_shot, Acquire{face_index}, -1, min_iou, max_gap, sel.chosen, sel.segment_start,
               sel.acquired_among);
    sel.segment_start[0] = true;
    return sel;
}

TargetSelection select_target_at(const std::vector<std::vector<Detection>>& detections, const std::vector<bool>& cuts,
                                 long anchor, int anchor_det, float min_iou, int max_gap) {
    const long T = static_cast<long>(detections.size());
    NED_CHECK(anchor >= 0 && anchor < T && anchor_det >= 0 && anchor_det < static_cast<int>(detections[anchor].size()),
              "select_target_at: no detection ", anchor_det, " in frame ", anchor);
    auto cut = [&](long t) { return t > 0 && t < static_cast<long>(cuts.size()) && cuts[t]; };
    TargetSelection sel;
    sel.chosen.assign(T, -1);
    sel.segment_start.assign(T, false);
    sel.acquired_among.assign(T, 0);
    std::vector<int> chosen, among;
    std::vector<bool> segment;
    // Forwards from the anchor.
    {
        std::vector<long> order;
        std::vector<bool> new_shot;
        for (long t = anchor; t < T; ++t) {
            order.push_back(t);
            new_shot.push_back(cut(t));
        }
        track_pass(detections, order, new_shot, Acquire{-1}, anchor_det, min_iou, max_gap, chosen, segment, among);
        for (size_t k = 0; k < order.size(); ++k) {
            sel.chosen[order[k]] = chosen[k];
            sel.acquired_among[order[k]] = among[k];
            if (k > 0 && segment[k]) sel.segment_start[order[k]] = true;
        }
    }
    // Backwards from the anchor (order[0] = the anchor again, so the pass starts on the target).
    {
        std::vector<long> order;
        std::vector<bool> new_shot;
        for (long t = anchor; t >= 0; --t) {
            order.push_back(t);
            new_shot.push_back(cut(t + 1));  // going from t+1 to t crosses the cut at t+1
        }
        track_pass(detections, order, new_shot, Acquire{-1}, anchor_det, min_iou, max_gap, chosen, segment, among);
        for (size_t k = 1; k < order.size(); ++k) {
            sel.chosen[order[k]] = chosen[k];
            sel.acquired_among[order[k]] = among[k];
            if (segment[k]) sel.segment_start[order[k] + 1] = true;  // a boundary between t and t+1
        }
    }
    if (T > 0) sel.segment_start[0] = true;
    return sel;
}

std::vector<face::FrameStatus> fill_gaps(std::vector<cv::Vec4f>& boxes, const std::vector<bool>& present, int max_gap) {
    const int n = static_cast<int>(boxes.size());
    NED_CHECK(static_cast<int>(present.size()) == n, "fill_gaps: ", present.size(), " flags for ", n, " boxes");
    std::vector<face::FrameStatus> status(n, face::FrameStatus::NoFace);
    std::vector<int> det;  // frames with a detection
    for (int i = 0; i < n; ++i)
        if (present[i]) {
            status[i] = face::FrameStatus::Detected;
            det.push_back(i);
        }
    if (det.empty() || max_gap <= 0) return status;
    // Constant velocity (box units per frame) from up to 5 detections starting at det[k] going in `dir`.
    auto velocity = [&](size_t k, int dir) {
        const size_t j = dir > 0 ? std::min(det.size() - 1, k + 4) : (k >= 4 ? k - 4 : 0);
        if (j == k) return cv::Vec4f(0, 0, 0, 0);
        return (boxes[det[std::max(j, k)]] - boxes[det[std::min(j, k)]]) *
               (1.f / static_cast<float>(det[std::max(j, k)] - det[std::min(j, k)]));
    };
    auto mark = [&](int i, const cv::Vec4f& b) {
        boxes[i] = b;
        status[i] = face::FrameStatus::Filled;
    };
    // leading run: extrapolate backwards from the first detections
    if (det.front() > 0 && det.front() <= max_gap) {
        const cv::Vec4f v = velocity(0, +1);
        for (int i = 0; i < det.front(); ++i) mark(i, boxes[det.front()] - v * static_cast<float>(det.front() - i));
    }
    // interior runs: interpolate
    for (size_t k = 0; k + 1 < det.size(); ++k) {
        const int a = det[k], b = det[k + 1], len = b - a - 1;
        if (len <= 0 || len > max_gap) continue;
        for (int i = a + 1; i < b; ++i) {
            const float w = static_cast<float>(i - a) / static_cast<float>(b - a);
            mark(i, boxes[a] * (1.f - w) + boxes[b] * w);
        }
    }
    // trailing run: extrapolate forwards from the last detections
    const int last = det.back();
    if (last < n - 1 && n - 1 - last <= max_gap) {
        const cv::Vec4f v = velocity(det.size() - 1, -1);
        for (int i = last + 1; i < n; ++i) mark(i, boxes[last] + v * static_cast<float>(i - last));
    }
    return status;
}

float fraction_inside(const cv::Vec4f& box, int width, int height) {
    const float a = area(box);
    if (!(a > 0.f)) return 0.f;
    const float iw = std::min(box[2], static_cast<float>(width)) - std::max(box[0], 0.f);
    const float ih = std::min(box[3], static_cast<float>(height)) - std::max(box[1], 0.f);
    if (!(iw > 0.f) || !(ih > 0.f)) return 0.f;
    return iw * ih / a;
}

int gap_frames(float seconds, int fps_num, int fps_den) {
    const double fps = fps_num > 0 && fps_den > 0 ? static_cast<double>(fps_num) / fps_den : 25.0;
    return static_cast<int>(std::lround(std::max(0.0, static_cast<double>(seconds)) * fps));
}

std::vector<cv::Vec4f> median_smooth(const std::vector<cv::Vec4f>& boxes, int window) {
    const int n = static_cast<int>(boxes.size());
    int w = std::min(window, n);
    if (w % 2 == 0) --w;
    if (w <= 1) return boxes;
    const int r = w / 2;
    auto reflect = [n](int i) {  // scipy 'reflect' / cv::BORDER_REFLECT: d c b a | a b c d | d c b a
        while (i < 0 || i >= n) i = i < 0 ? -i - 1 : 2 * n - i - 1;
        return i;
    };
    std::vector<cv::Vec4f> out(n);
    std::vector<float> buf(w);
    for (int c = 0; c < 4; ++c)
        for (int i = 0; i < n; ++i) {
            for (int k = -r; k <= r; ++k) buf[k + r] = boxes[reflect(i + k)][c];
            std::nth_element(buf.begin(), buf.begin() + r, buf.end());
            out[i][c] = buf[r];
        }
    return out;
}

float thumbnail_difference(const cv::Mat& a, const cv::Mat& b) {
    NED_CHECK(a.type() == CV_8UC3 && b.type() == CV_8UC3 && a.size() == b.size(),
              "thumbnail_difference: two BGR u8 images");
    return static_cast<float>(cv::norm(a, b, cv::NORM_L1) / (255.0 * static_cast<double>(a.total()) * 3.0));
}

bool is_cut(float histogram_distance, float thumbnail_difference, float cut_threshold) {
    constexpr float kThumbThreshold = 0.1f;
    constexpr float kAlone = 2.5f;  // either signal alone at 2.5x its threshold
    return (histogram_distance > cut_threshold && thumbnail_difference > kThumbThreshold) ||
           histogram_distance > kAlone * cut_threshold || thumbnail_difference > kAlone * kThumbThreshold;
}

std::vector<float> grey_histogram(const cv::Mat& grey) {
    NED_CHECK(grey.type() == CV_8UC1, "grey_histogram expects u8 grey");
    std::vector<float> h(64, 0.f);
    for (int y = 0; y < grey.rows; ++y) {
        const uint8_t* p = grey.ptr<uint8_t>(y);
        for (int x = 0; x < grey.cols; ++x) h[p[x] >> 2] += 1.f;
    }
    const float total = static_cast<float>(grey.total());
    if (total > 0)
        for (auto& v : h) v /= total;
    return h;
}

float histogram_distance(const std::vector<float>& a, const std::vector<float>& b) {
    NED_CHECK(a.size() == b.size(), "histogram sizes differ");
    float s = 0.f;
    for (size_t i = 0; i < a.size(); ++i) s += std::abs(a[i] - b[i]);
    return 0.5f * s;
}

namespace {

/// A downscaled frame (grey for HOG, colour for the learned detectors) for the detection threads.
struct DetectItem {
    long index;
    cv::Mat grey;
};

/// --face-at: the frame nearest the time (from the first frame) and the detection nearest the point there. When
/// that frame has no face near the point, the nearest frames of the same shot within max(1, max_gap) frames
/// are tried. InputError (exit 2) naming the time when the time is outside the video or no face is near.
std::pair<long, int> find_face_at(const std::vector<std::vector<Detection>>& detections, const std::vector<bool>& cuts,
                                  const std::vector<double>& times, const FaceAt& at, int max_gap,
                                  const std::string& video) {
    const long T = static_cast<long>(times.size());
    const double t0 = times.front(), want = t0 + at.seconds;
    const double step = T > 1 ? (times.back() - t0) / static_cast<double>(T - 1) : 0.0;
    if (want > times.back() + std::max(step, 1e-3))
        throw OptionError("TrackOptions::face_at",
                          cat(" ", at.seconds, " s: the video ", video, " ends at ", times.back() - t0, " s"));
    long anchor = 0;
    for (long t = 1; t < T; ++t)
        if (std::abs(times[t] - want) < std::abs(times[anchor] - want)) anchor = t;
    auto cut = [&](long t) { return t > 0 && t < static_cast<long>(cuts.size()) && cuts[t]; };
    const long reach = std::max(1, max_gap);
    bool stop_back = false, stop_fwd = false;
    for (long d = 0; d <= reach; ++d) {
        for (const long t : {anchor - d, anchor + d}) {
            if (t < 0 || t >= T || (d > 0 && t == anchor - d && stop_back) || (d > 0 && t == anchor + d && stop_fwd))
                continue;
            const int i = nearest_face(detections[t], at.x, at.y);
            if (i >= 0) return {t, i};
        }
        if (cut(anchor - d)) stop_back = true;  // do not look across a cut
        if (cut(anchor + d + 1)) stop_fwd = true;
    }
    std::string seen;
    for (const auto& d : detections[anchor])
        seen += cat(seen.empty() ? "" : ", ", "x ", std::lround(d.box[0]), "-", std::lround(d.box[2]), " y ",
                    std::lround(d.box[1]), "-", std::lround(d.box[3]));
    throw OptionError(
        "TrackOptions::face_at",
        cat(" ", at.seconds, " s: no face near (", at.x, ", ", at.y, ") at ", at.seconds, " s (frame ", anchor, ") of ",
            video, "; faces detected there: ", seen.empty() ? std::string("none") : seen));
}

}  // namespace

void TrackOptions::validate() const {
    const auto in = [](double v, double lo, double hi) { return v >= lo && v <= hi; };  // false for NaN
    if (!in(face_index, 0, 1000))
        throw OptionError("TrackOptions::face_index", cat(" must be in 0..1000 (got ", face_index, ")"));
    if (!in(identity_threshold, 0.05, 2.0))
        throw OptionError("TrackOptions::identity_threshold",
                          cat(" must be in [0.05, 2] (got ", identity_threshold, ")"));
    if (!in(detect_scale, 0, 16))
        throw OptionError("TrackOptions::detect_scale", cat(" must be in [0, 16] (got ", detect_scale, ")"));
    if (!in(upsample, 0, 2))
        throw OptionError("TrackOptions::upsample", cat(" must be 0, 1 or 2 (got ", upsample, ")"));
    if (smooth_window < 1)
        throw OptionError("TrackOptions::smooth_window", cat(" must be >= 1 (got ", smooth_window, ")"));
    if (!(cut_threshold > 0.f))
        throw OptionError("TrackOptions::cut_threshold", cat(" must be > 0 (got ", cut_threshold, ")"));
    if (!in(min_iou, 0, 1)) throw OptionError("TrackOptions::min_iou", cat(" must be in [0, 1] (got ", min_iou, ")"));
    if (!in(max_gap_s, 0, 3600))
        throw OptionError("TrackOptions::max_gap_s",
                          cat(" must be a number of seconds in [0, 3600] (got ", max_gap_s, ")"));
    if (!in(min_inside, 0, 1))
        throw OptionError("TrackOptions::min_inside", cat(" must be in [0, 1] (got ", min_inside, ")"));
    if (!in(margin, 0, 10000))
        throw OptionError("TrackOptions::margin", cat(" must be in [0, 10000] (got ", margin, ")"));
    if (crop_size < 16) throw OptionError("TrackOptions::crop_size", cat(" must be >= 16 (got ", crop_size, ")"));
    if (threads < 0) throw OptionError("TrackOptions::threads", cat(" must be >= 0 (got ", threads, ")"));
    if (max_frames < 0) throw OptionError("TrackOptions::max_frames", cat(" must be >= 0 (got ", max_frames, ")"));
}

nlohmann::json to_json(const TrackOptions& o) {
    using json = nlohmann::json;
    return json{
        {"detector", detector_name(o.detector)},
        {"identity", o.identity},
        {"target_face", o.target_face},
        {"identity_threshold", o.identity_threshold},
        {"detect_scale", o.detect_scale},
        {"upsample", o.upsample},
        {"face_index", o.face_index},
        {"face_at", o.face_at.active() ? json::array({o.face_at.seconds, o.face_at.x, o.face_at.y}) : json(nullptr)},
        {"smooth_window", o.smooth_window},
        {"cut_threshold", o.cut_threshold},
        {"min_iou", o.min_iou},
        {"max_gap_s", o.max_gap_s},
        {"min_inside", o.min_inside},
        {"margin", o.margin},
        {"crop_size", o.crop_size},
        {"threads", o.threads},
        {"max_frames", o.max_frames}};
}

#if defined(__GLIBCXX__) && defined(__x86_64__)
// A field added to TrackOptions changes its size: list it in to_json (it then takes part in the stage keys) and in
// validate, then update the size here (test_options_validate checks to_json's keys too).
static_assert(sizeof(TrackOptions) == 120, "TrackOptions changed: update to_json and validate, then this size");
#endif

namespace {

/// What the detection pass saw: each frame's detections, whether a shot cut starts it, and its time.
struct Detected {
    std::vector<std::vector<Detection>> detections;
    std::vector<bool> cuts;
    std::vector<double> times;  // frame time in seconds (for --face-at)
    long frames = 0;
};

/// Shot cuts from the grey histogram and an 8x8 thumbnail of consecutive frames.
class CutDetector {
public:
    explicit CutDetector(float threshold) : threshold_(threshold) {}
    /// True when `frame` (frame number `index`) starts a new shot; `g`: its grey image.
    bool next(const cv::Mat& small_bgr, const cv::Mat& g, long index) {
        auto hist = grey_histogram(g);
        cv::Mat thumb;
        cv::resize(small_bgr, thumb, cv::Size(8, 8), 0, 0, cv::INTER_AREA);
        bool cut = false;
        if (!prev_hist_.empty()) {
            const float d = histogram_distance(hist, prev_hist_);
            const float m = thumbnail_difference(thumb, prev_thumb_);
            cut = is_cut(d, m, threshold_);
            if (cut)
                NED_LOG_DEBUG("[crop] shot cut at frame {} (histogram distance {:.3f}, thumbnail {:.3f})", index, d, m);
        }
        prev_hist_ = std::move(hist);
        prev_thumb_ = thumb;
        return cut;
    }

private:
    const float threshold_;
    std::vector<float> prev_hist_;
    cv::Mat prev_thumb_;
};

/// The detection pass: this thread decodes, downsizes and finds shot cuts while `nthreads` workers detect faces.
class DetectionPass {
public:
    DetectionPass(const DetectorOptions& dopts, float scale, int nthreads)
        : queue_(static_cast<size_t>(2 * nthreads + 2)) {
        for (int i = 0; i < nthreads; ++i) workers_.emplace_back([this, dopts, scale] { work(dopts, scale); });
    }

    Detected run(io::VideoReader& reader, const std::string& video_path, const TrackOptions& opts,
                 const cv::Size& small_size, float scale, long total, const ProgressFn& progress) {
        const int W = reader.info().display_width, H = reader.info().display_height;
        Detected out;
        std::exception_ptr reader_error;
        try {
            io::Frame fr;
            CutDetector cuts(opts.cut_threshold);
            long& frames = out.frames;
            while ((opts.max_frames <= 0 || frames < opts.max_frames) && reader.read(fr)) {
                if (fr.bgr.cols != W || fr.bgr.rows != H)
                    throw InputError(cat(video_path, ": frame ", frames, " is ", fr.bgr.cols, "x", fr.bgr.rows,
                                         ", expected ", W, "x", H, " (size changes mid-stream are not supported)"));
                cv::Mat small_bgr;
                if (small_size.width == W && small_size.height == H)
                    small_bgr = fr.bgr;
                else
                    cv::resize(fr.bgr, small_bgr, small_size, 0, 0, scale < 1.f ? cv::INTER_AREA : cv::INTER_LINEAR);
                cv::Mat g;
                cv::cvtColor(small_bgr, g, cv::COLOR_BGR2GRAY);
                out.cuts.push_back(cuts.next(small_bgr, g, frames));
                out.times.push_back(fr.time_s);
                // HOG detects on the grey image, the learned detectors on colour (small_bgr may share the decoder's
                // buffer)
                queue_.push({frames, detector_needs_colour(opts.detector) ? small_bgr.clone() : std::move(g)});
                ++frames;
                {
                    std::lock_guard<std::mutex> lk(mutex_);
                    if (worker_error_) break;
                }
                if (progress) progress(done_.load(), std::max(total, frames));
            }
        } catch (...) {
            reader_error = std::current_exception();
        }
        stop();
        if (reader_error) std::rethrow_exception(reader_error);
        if (worker_error_) std::rethrow_exception(worker_error_);
        out.detections = std::move(detections_);
        return out;
    }

    ~DetectionPass() { stop(); }

private:
    void work(const DetectorOptions& dopts, float scale) {
        try {
            FaceDetector det(dopts);
            DetectItem it;
            while (queue_.pop(it)) {
                auto d = det.detect_scaled(it.grey, scale);
                {
                    std::lock_guard<std::mutex> lk(mutex_);
                    if (static_cast<long>(detections_.size()) <= it.index) detections_.resize(it.index + 1);
                    detections_[it.index] = std::move(d);
                }
                ++done_;
            }
        } catch (...) {
            std::lock_guard<std::mutex> lk(mutex_);
            if (!worker_error_) worker_error_ = std::current_exception();
            queue_.close();
        }
    }

    void stop() {
        queue_.close();
        for (auto& w : workers_)
            if (w.joinable()) w.join();
    }

    std::vector<std::vector<Detection>> detections_;
    std::mutex mutex_;
    std::atomic<long> done_{0};
    std::exception_ptr worker_error_;
    BoundedQueue<DetectItem> queue_;
    std::vector<std::thread> workers_;
};

/// The target's detection in each frame: the face --face-at points at or --target-face shows (followed from
/// there), else the --face-index-th largest; warns where it was picked among several faces.
TargetSelection choose_target(const Detected& d, const std::string& video_path, const TrackOptions& opts, int max_gap,
                              int fps_num, int fps_den) {
    const auto& detections = d.detections;
    auto at_time = [&](long t) {
        return fps_num > 0 ? cat("frame ", t, " (", std::round(10.0 * t * fps_den / fps_num) / 10.0, " s)")
                           : cat("frame ", t);
    };
    TargetSelection sel;
    // --target-face picks the person by identity (unless --face-at points at them), then follows them as --face-at
    const bool by_photo = !opts.face_at.active() && !opts.target_face.empty() && opts.identity;
    if (opts.face_at.active() || by_photo) {
        IdentityOptions io;
        io.target_face = opts.target_face;
        io.threshold = opts.identity_threshold;
        const auto [anchor, det] = by_photo
                                       ? find_target_face(video_path, detections, io)
                                       : find_face_at(detections, d.cuts, d.times, opts.face_at, max_gap, video_path);
        NED_LOG_INFO("[crop] {}: target is the face at x {:.0f}-{:.0f}, y {:.0f}-{:.0f} in frame {}",
                     by_photo ? "--target-face" : "--face-at", detections[anchor][det].box[0],
                     detections[anchor][det].box[2], detections[anchor][det].box[1], detections[anchor][det].box[3],
                     anchor);
        sel = select_target_at(detections, d.cuts, anchor, det, opts.min_iou, max_gap);
        for (long t = 0; t < d.frames; ++t)
            if (sel.acquired_among[t] > 1)
                NED_LOG_WARN(
                    "[crop] {}: target picked again among {} faces as the one most similar in position and "
                    "size to the --face-at target's last box; check the contact sheet",
                    at_time(t), sel.acquired_among[t]);
    } else {
        sel = select_target(detections, d.cuts, opts.face_index, opts.min_iou, max_gap);
        for (long t = 0; t < d.frames; ++t)
            if (sel.acquired_among[t] > 1)
                NED_LOG_WARN(
                    "[crop] {}: target picked among {} faces by size (--face-index {}); faces are not told "
                    "apart by identity, so check the contact sheet when the shot shows other people "
                    "(or point at the person with --face-at)",
                    at_time(t), sel.acquired_among[t], opts.face_index);
    }
    return sel;
}

/// Frames t..e-1 (one segment: a shot or a re-acquisition) of the track: gaps filled, each run of valid frames
/// median-smoothed on its own (never across an invalid gap), boxes squared, crop transforms.
void fill_segment(face::FaceTrack& track, long t, long e, const Detected& d, const TargetSelection& sel,
                  const TrackOptions& opts, int max_gap) {
    const auto& detections = d.detections;
    track.frames[t].shot_start = true;
    std::vector<cv::Vec4f> boxes(e - t);
    std::vector<bool> present(e - t);
    for (long i = t; i < e; ++i) {
        present[i - t] = sel.chosen[i] >= 0;
        if (present[i - t]) boxes[i - t] = hog_to_ned_box(detections[i][sel.chosen[i]].box);
    }
    const std::vector<face::FrameStatus> status = fill_gaps(boxes, present, max_gap);
    for (long r = t; r < e;) {
        if (status[r - t] == face::FrameStatus::NoFace) {
            track.frames[r++].status = face::FrameStatus::NoFace;
            continue;
        }
        long q = r;
        while (q < e && status[q - t] != face::FrameStatus::NoFace) ++q;
        const std::vector<cv::Vec4f> run(boxes.begin() + (r - t), boxes.begin() + (q - t));
        const std::vector<cv::Vec4f> smooth = median_smooth(run, opts.smooth_window);
        for (long i = r; i < q; ++i) {
            face::FaceFrame& f = track.frames[i];
            f.box = face::make_square(smooth[i - r]);
            if (fraction_inside(f.box, track.width, track.height) < opts.min_inside) {
                f.status = face::FrameStatus::OutsideFrame;
                continue;
            }
            f.status = status[i - t];
            f.valid = true;
            f.detected = f.status == face::FrameStatus::Detected;
            if (f.detected) {
                f.detector = detections[i][sel.chosen[i]].source;
                f.detector_yaw_deg = detections[i][sel.chosen[i]].yaw_deg;
            }
            f.crop_to_frame = face::crop_transform(f.box, opts.crop_size, opts.margin);
        }
        r = q;
    }
}

}  // namespace

face::FaceTrack build_track(const std::string& video_path, const TrackOptions& opts, const ProgressFn& progress) {
    opts.validate();
    DetectorOptions dopts;
    dopts.kind = opts.detector;
    dopts.detect_scale = opts.detect_scale;
    dopts.upsample = opts.upsample;
    FaceDetector probe_det(dopts);  // validates the options before any decoding

    io::VideoReader reader(video_path);
    const io::VideoInfo& info = reader.info();
    const int W = info.display_width, H = info.display_height;
    if (opts.face_at.active() && (opts.face_at.x >= W || opts.face_at.y >= H))
        throw OptionError("TrackOptions::face_at",
                          cat(" ", opts.face_at.seconds, ":", opts.face_at.x, ",", opts.face_at.y,
                              ": the point lies outside the ", W, "x", H, " frame of ", video_path));
    const float scale = resolve_detect_scale(dopts, W, H);
    const cv::Size small_size(std::max(1, static_cast<int>(std::lround(W * scale))),
                              std::max(1, static_cast<int>(std::lround(H * scale))));
    long total = info.frame_count > 0 ? static_cast<long>(info.frame_count) : 0;
    if (opts.max_frames > 0 && (total <= 0 || total > opts.max_frames)) total = opts.max_frames;
    NED_LOG_DEBUG("[crop] {}: {}x{}, detecting at {}x{} (scale {:.3f}, upsample {})", video_path, W, H,
                  small_size.width, small_size.height, scale, opts.upsample);

    int nthreads = opts.threads > 0 ? opts.threads : static_cast<int>(std::thread::hardware_concurrency());
    nthreads = std::max(1, nthreads);
    Detected d;
    {
        // the learned detectors run on `nthreads` frame workers at once: each single-threaded (ScopedTorchThreads)
        std::optional<ScopedTorchThreads> torch_threads;
        if (nthreads > 1) torch_threads.emplace(1);
        DetectionPass pass(dopts, scale, nthreads);
        d = pass.run(reader, video_path, opts, small_size, scale, total, progress);
    }
    if (progress) progress(d.frames, d.frames);
    if (d.frames == 0) throw InputError(cat(video_path, ": no video frames could be decoded"));
    d.detections.resize(d.frames);

    const int fps_num = info.frame_rate.num, fps_den = info.frame_rate.den > 0 ? info.frame_rate.den : 1;
    const int max_gap = gap_frames(opts.max_gap_s, fps_num, fps_den);
    const TargetSelection sel = choose_target(d, video_path, opts, max_gap, fps_num, fps_den);

    face::FaceTrack track;
    track.source = video_path;
    track.width = W;
    track.height = H;
    track.fps_num = fps_num;
    track.fps_den = fps_den;
    track.crop_size = opts.crop_size;
    track.frames.resize(d.frames);
    for (long t = 0; t < d.frames;) {
        long e = t + 1;
        while (e < d.frames && !sel.segment_start[e]) ++e;
        fill_segment(track, t, e, d, sel, opts, max_gap);
        t = e;
    }
    if (opts.identity) {
        IdentityOptions io;
        io.target_face = opts.target_face;
        io.threshold = opts.identity_threshold;
        apply_identity(video_path, track, io);
    }
    const face::TrackCounts counts = face::count_frames(track);
    if (counts.valid == 0) throw InputError(cat("no face found in ", video_path));
    NED_LOG_INFO("[crop] {} ({} shots or re-acquisitions, --max-gap {} frames)", face::describe(counts), counts.shots,
                 max_gap);
    return track;
}

}  // namespace ned::track
