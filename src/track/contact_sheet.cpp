#include "ned/track/contact_sheet.hpp"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <array>
#include <cmath>

#include "ned/core/error.hpp"

namespace ned::track {
namespace {
constexpr int kCols = 4;
constexpr int kTimelineHeight = 24;  // 6 px model band above the 18 px status strip

/// Colour of a detected frame's model in the model band and its tile label; HOG (the usual case) stays grey.
cv::Scalar source_colour(face::DetectionSource s) {
    switch (s) {
        case face::DetectionSource::HogRotated: return {255, 140, 40};  // blue
        case face::DetectionSource::BlazeFace: return {230, 230, 0};    // cyan
        case face::DetectionSource::Ssd: return {0, 165, 255};          // orange
        case face::DetectionSource::Hog:
        case face::DetectionSource::None: break;
    }
    return {90, 90, 90};
}
/// Whether a frame's model is worth naming on its tile: any detector but HOG, any landmarks but dlib's.
bool unusual_model(const face::FaceTrack& track, const face::FaceFrame& f) {
    const bool det = face::effective_status(f) == face::FrameStatus::Detected &&
                     f.detector != face::DetectionSource::Hog && f.detector != face::DetectionSource::None;
    return det || (track.has_analysis && f.valid && f.landmark_source != face::LandmarkSource::Dlib);
}

cv::Scalar status_colour(face::FrameStatus s) {
    switch (s) {
        case face::FrameStatus::Detected: return {60, 190, 60};
        case face::FrameStatus::Filled: return {0, 210, 240};
        case face::FrameStatus::NoFace: return {40, 40, 220};
        case face::FrameStatus::OutsideFrame: return {200, 60, 200};
        case face::FrameStatus::OtherPerson: return {0, 120, 255};
    }
    return {128, 128, 128};
}
int severity(face::FrameStatus s) {
    switch (s) {
        case face::FrameStatus::Detected: return 0;
        case face::FrameStatus::Filled: return 1;
        case face::FrameStatus::OutsideFrame: return 2;
        case face::FrameStatus::OtherPerson: return 2;
        case face::FrameStatus::NoFace: return 3;
    }
    return 0;
}

void label(cv::Mat& img, const std::string& text, cv::Point at, const cv::Scalar& colour) {
    cv::putText(img, text, at, cv::FONT_HERSHEY_SIMPLEX, 0.45, cv::Scalar(0, 0, 0), 3, cv::LINE_AA);
    cv::putText(img, text, at, cv::FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv::LINE_AA);
}
}  // namespace

ContactSheet::ContactSheet(const face::FaceTrack& track, int count, int tile)
    : track_(track), tile_(std::max(32, tile)) {
    const long T = static_cast<long>(track.frames.size());
    std::vector<long> valid;
    std::vector<std::pair<long, long>> runs;  // invalid runs (length, first frame)
    for (long t = 0; t < T;) {
        if (track.frames[t].valid) {
            valid.push_back(t++);
            continue;
        }
        long e = t;
        while (e < T && !track.frames[e].valid) ++e;
        runs.emplace_back(e - t, t);
        t = e;
    }
    count = std::max(1, count);
    if (!valid.empty()) {
        const int n = std::min<int>(count, static_cast<int>(valid.size()));
        for (int i = 0; i < n; ++i)
            frames_.push_back(valid[n == 1 ? 0 : static_cast<size_t>(i) * (valid.size() - 1) / (n - 1)]);
    }
    std::stable_sort(runs.begin(), runs.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    const size_t n_invalid = std::min(runs.size(), static_cast<size_t>(std::max(1, count / 2)));
    for (size_t i = 0; i < n_invalid; ++i) frames_.push_back(runs[i].second + runs[i].first / 2);  // mid-run
    // frames handled by another model than HOG / dlib: one tile per run, longest runs first, up to count/4
    std::vector<std::pair<long, long>> model_runs;
    for (long t = 0; t < T;) {
        if (!unusual_model(track, track.frames[t])) {
            ++t;
            continue;
        }
        long e = t;
        while (e < T && unusual_model(track, track.frames[e])) ++e;
        model_runs.emplace_back(e - t, t);
        t = e;
    }
    std::stable_sort(model_runs.begin(), model_runs.end(),
                     [](const auto& a, const auto& b) { return a.first > b.first; });
    const size_t n_model = std::min(model_runs.size(), static_cast<size_t>(std::max(1, count / 4)));
    for (size_t i = 0; i < n_model; ++i) frames_.push_back(model_runs[i].second + model_runs[i].first / 2);
    std::sort(frames_.begin(), frames_.end());
    frames_.erase(std::unique(frames_.begin(), frames_.end()), frames_.end());
    const int cols = std::min<int>(kCols, std::max<int>(1, static_cast<int>(frames_.size())));
    const int rows = std::max(1, (static_cast<int>(frames_.size()) + cols - 1) / cols);
    sheet_ = cv::Mat(rows * tile_ + kTimelineHeight, cols * tile_, CV_8UC3, cv::Scalar(32, 32, 32));
}

void ContactSheet::add(long t, const cv::Mat& bgr, const cv::Mat& crop) {
    const auto it = std::lower_bound(frames_.begin(), frames_.end(), t);
    if (it == frames_.end() || *it != t) return;
    const int i = static_cast<int>(it - frames_.begin());
    const int cols = sheet_.cols / tile_;
    const cv::Rect cell((i % cols) * tile_, (i / cols) * tile_, tile_, tile_);
    const face::FaceFrame& f = track_.frames.at(t);
    const face::FrameStatus s = face::effective_status(f);
    if (f.valid && !crop.empty()) {
        cv::Mat small;
        cv::resize(crop, small, cell.size(), 0, 0, cv::INTER_AREA);
        small.copyTo(sheet_(cell));
    } else if (!bgr.empty()) {
        // whole frame, letterboxed; the box (stale or outside) in red where there is one
        const double k = std::min(static_cast<double>(tile_) / bgr.cols, static_cast<double>(tile_) / bgr.rows);
        const cv::Size sz(std::max(1, static_cast<int>(bgr.cols * k)), std::max(1, static_cast<int>(bgr.rows * k)));
        cv::Mat small;
        cv::resize(bgr, small, sz, 0, 0, cv::INTER_AREA);
        const cv::Rect r(cell.x + (tile_ - sz.width) / 2, cell.y + (tile_ - sz.height) / 2, sz.width, sz.height);
        small.copyTo(sheet_(r));
        const cv::Vec4f& b = f.box;
        if (b[2] > b[0] && b[3] > b[1] && std::isfinite(b[0]) && std::isfinite(b[3])) {
            cv::Mat roi = sheet_(r);
            cv::rectangle(roi,
                          cv::Point(static_cast<int>(std::clamp(b[0] * k, -1e4, 1e4)),
                                    static_cast<int>(std::clamp(b[1] * k, -1e4, 1e4))),
                          cv::Point(static_cast<int>(std::clamp(b[2] * k, -1e4, 1e4)),
                                    static_cast<int>(std::clamp(b[3] * k, -1e4, 1e4))),
                          cv::Scalar(40, 40, 220), 1, cv::LINE_AA);
        }
    }
    const std::string text = s == face::FrameStatus::Detected ? cat("#", t) : cat("#", t, " ", face::status_name(s));
    label(sheet_, text, {cell.x + 5, cell.y + 16}, f.valid ? cv::Scalar(255, 255, 255) : status_colour(s));
    // the models behind the tile, where they are not the usual HOG + dlib
    int y = cell.y + 34;
    if (s == face::FrameStatus::Detected && f.detector != face::DetectionSource::Hog &&
        f.detector != face::DetectionSource::None) {
        label(sheet_, face::source_name(f.detector), {cell.x + 5, y}, source_colour(f.detector));
        y += 18;
    }
    if (track_.has_analysis && f.valid && f.landmark_source != face::LandmarkSource::Dlib)
        label(sheet_, cat(face::landmark_source_name(f.landmark_source), " yaw ", std::lround(f.yaw_deg)),
              {cell.x + 5, y}, cv::Scalar(255, 120, 255));
}

cv::Mat ContactSheet::image() const {
    cv::Mat out = sheet_.clone();
    const long T = static_cast<long>(track_.frames.size());
    const int W = out.cols, y0 = out.rows - kTimelineHeight;
    if (T == 0) return out;
    for (int x = 0; x < W; ++x) {
        const long a = x * T / W, b = std::max(a + 1, (x + 1) * T / W);
        face::FrameStatus worst = face::FrameStatus::Detected;
        bool shot = false;
        for (long t = a; t < b && t < T; ++t) {
            const face::FrameStatus s = face::effective_status(track_.frames[t]);
            if (severity(s) > severity(worst)) worst = s;
            shot = shot || (t > 0 && track_.frames[t].shot_start);
        }
        cv::line(out, {x, y0 + 8}, {x, out.rows - 1}, status_colour(worst));
        if (shot) cv::line(out, {x, y0 + 6}, {x, y0 + 12}, cv::Scalar(255, 255, 255));
        // model band: the detector of the slice's detected frames when any is not HOG (most frequent wins)
        std::array<long, face::kNumDetectionSources> n{};
        for (long t = a; t < b && t < T; ++t)
            if (face::effective_status(track_.frames[t]) == face::FrameStatus::Detected)
                ++n[static_cast<int>(track_.frames[t].detector)];
        int best = static_cast<int>(face::DetectionSource::Hog);
        for (int k = 2; k < face::kNumDetectionSources; ++k)
            if (n[k] > 0 && n[k] >= n[best]) best = k;
        if (n[best] > 0) cv::line(out, {x, y0}, {x, y0 + 4}, source_colour(static_cast<face::DetectionSource>(best)));
    }
    return out;
}

}  // namespace ned::track
