// EvalReport output: JSON, the text summary, the per-frame plot.
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "ned/core/error.hpp"
#include "ned/core/image_io.hpp"
#include "ned/core/fs_util.hpp"
#include "ned/eval/eval.hpp"

namespace ned::eval {
namespace {

nlohmann::ordered_json num(double v) {
    if (!std::isfinite(v)) return nullptr;
    return v;
}

nlohmann::ordered_json probs_json(const std::array<double, 7>& p) {
    nlohmann::ordered_json j = nlohmann::ordered_json::object();
    for (int e = 0; e < 7; ++e) j[ned_emotions()[e]] = p[e];
    return j;
}

std::string fmt(double v, int prec = 3) {
    if (std::isnan(v)) return "n/a";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", prec, v);
    return buf;
}

int argmax(const std::array<double, 7>& p) {
    return static_cast<int>(std::max_element(p.begin(), p.end()) - p.begin());
}

}  // namespace

nlohmann::ordered_json EvalReport::to_json(bool with_per_frame) const {
    nlohmann::ordered_json j;
    j["original"] = original;
    j["edited"] = edited;
    j["frames"] = frames_evaluated;
    j["frames_total"] = frames_total;
    j["frames_face_original"] = original_valid;
    j["frames_face_edited"] = edited_valid;
    j["apd"] = num(apd);
    j["fapd"] = num(fapd);
    j["mapd"] = num(mapd);
    j["fid"] = num(fid);
    j["csim"] = num(csim);
    j["mouth_open_pearson"] = num(mouth_open_pearson);
    j["mouth_landmark_distance"] = num(mouth_landmark_distance);
    j["background_psnr"] = num(background_psnr);  // null when infinite (identical background): see background_mse
    j["background_mse"] = num(background_mse);
    j["landmark_jitter"] = {{"original", num(jitter_original)}, {"edited", num(jitter_edited)}};
    nlohmann::ordered_json em;
    em["classifiers"] = classifiers;
    em["mean_probs_original"] = probs_json(mean_probs_original);
    em["mean_probs_edited"] = probs_json(mean_probs_edited);
    em["target"] = target.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(target);
    em["target_share_original"] = num(target_share_original);
    em["target_share_edited"] = num(target_share_edited);
    em["combination"] = "mean of the classifiers' probabilities; a frame counts for the emotion of highest probability";
    nlohmann::ordered_json per = nlohmann::ordered_json::object();
    for (size_t k = 0; k < classifiers.size() && k < static_cast<size_t>(kNumClassifiers); ++k)
        per[classifiers[k]] = {{"mean_probs_original", probs_json(classifier_mean_original[k])},
                               {"mean_probs_edited", probs_json(classifier_mean_edited[k])},
                               {"target_share_original", num(classifier_share_original[k])},
                               {"target_share_edited", num(classifier_share_edited[k])}};
    em["per_classifier"] = per;
    j["emotion"] = em;
    j["units"] = {{"apd_fapd_mapd", "mean l2 distance of RGB values, 0..255 scale, NED 256x256 crop of the original"},
                  {"mouth", "pixels of NED's 256x256 aligned crop"},
                  {"landmark_jitter", "pixels of the 256x256 crop (mean second difference)"},
                  {"background_psnr", "dB, 8-bit; null = identical"}};
    j["seconds"] = seconds;
    j["fps"] = seconds > 0 ? nlohmann::ordered_json(frames_total / seconds) : nlohmann::ordered_json(nullptr);
    if (with_per_frame) {
        nlohmann::ordered_json pf;
        auto series = [&](const char* key, auto get) {
            nlohmann::ordered_json a = nlohmann::ordered_json::array();
            for (const auto& f : per_frame) a.push_back(f.evaluated ? num(get(f)) : nlohmann::ordered_json(nullptr));
            pf[key] = a;
        };
        nlohmann::ordered_json ev = nlohmann::ordered_json::array();
        for (const auto& f : per_frame) ev.push_back(f.evaluated);
        pf["evaluated"] = ev;
        series("apd", [](const FrameMetrics& f) { return f.apd; });
        series("fapd", [](const FrameMetrics& f) { return f.fapd; });
        series("mapd", [](const FrameMetrics& f) { return f.mapd; });
        series("csim", [](const FrameMetrics& f) { return f.csim; });
        series("mouth_open_original", [](const FrameMetrics& f) { return f.mouth_open_original; });
        series("mouth_open_edited", [](const FrameMetrics& f) { return f.mouth_open_edited; });
        series("mouth_landmark_distance", [](const FrameMetrics& f) { return f.mouth_distance; });
        series("background_mse", [](const FrameMetrics& f) { return f.background_mse; });
        for (int e = 0; e < 7; ++e) {
            const std::string name = ned_emotions()[e];
            series(("prob_original_" + name).c_str(), [e](const FrameMetrics& f) { return f.probs_original[e]; });
            series(("prob_edited_" + name).c_str(), [e](const FrameMetrics& f) { return f.probs_edited[e]; });
        }
        j["per_frame"] = pf;
    }
    return j;
}

std::string EvalReport::summary() const {
    std::ostringstream s;
    s << "ned eval: " << edited << " against " << original << "\n";
    s << "  frames            " << frames_evaluated << " evaluated of " << frames_total << " (face in original "
      << original_valid << ", edited " << edited_valid << ")\n";
    s << "  pixels (0..255)   APD " << fmt(apd, 2) << "   FAPD " << fmt(fapd, 2) << "   MAPD " << fmt(mapd, 2) << "\n";
    s << "  identity          CSIM " << fmt(csim, 4) << "   FID " << fmt(fid, 4) << " (face descriptors)\n";
    s << "  speech            mouth-open Pearson " << fmt(mouth_open_pearson, 3) << "   mouth landmarks "
      << fmt(mouth_landmark_distance, 2) << " px (aligned 256)\n";
    s << "  background        PSNR " << fmt(background_psnr, 2) << " dB outside the dilated face\n";
    s << "  landmark jitter   original " << fmt(jitter_original, 3) << "   edited " << fmt(jitter_edited, 3)
      << " px (crop 256)\n";
    s << "  emotion           ";
    for (int e = 0; e < 7; ++e) s << ned_emotions()[e] << (e < 6 ? " " : "");
    s << "\n    original        ";
    for (int e = 0; e < 7; ++e) s << fmt(mean_probs_original[e], 2) << " ";
    s << " (top: " << ned_emotions()[argmax(mean_probs_original)] << ")\n    edited          ";
    for (int e = 0; e < 7; ++e) s << fmt(mean_probs_edited[e], 2) << " ";
    s << " (top: " << ned_emotions()[argmax(mean_probs_edited)] << ")\n";
    s << "    (mean of " << classifiers.size() << " classifiers; JSON emotion.per_classifier has each)\n";
    if (!target.empty())
        s << "  target '" << target << "'  recognised in " << fmt(100 * target_share_edited, 1)
          << "% of edited frames (" << fmt(100 * target_share_original, 1) << "% of original)\n";
    s << "  time              " << fmt(seconds, 1) << " s (" << fmt(seconds > 0 ? frames_total / seconds : NAN, 2)
      << " frames/s)\n";
    return s.str();
}

namespace {

struct Curve {
    std::string label;
    cv::Scalar colour;
    std::function<double(const FrameMetrics&)> get;
};
struct Panel {
    std::string title;
    std::vector<Curve> curves;
    double lo, hi;  // hi < lo: from data
};
/// Where a panel's plot lies in the image: x from pad_l to pad_l + plot_w, y from y0 (top) to y1.
struct PanelBox {
    int pad_l, plot_w, y0, y1;
};

/// The plot's panels: pixel distances, identity, mouth opening, and the target emotion's probability (the
/// edited video's most likely emotion without a target).
std::vector<Panel> plot_panels(const EvalReport& r) {
    int target = -1;
    for (int e = 0; e < 7; ++e)
        if (ned_emotions()[e] == r.target) target = e;
    const int emo = target >= 0
                        ? target
                        : static_cast<int>(std::max_element(r.mean_probs_edited.begin(), r.mean_probs_edited.end()) -
                                           r.mean_probs_edited.begin());
    return {
        {"pixel distance (0..255)",
         {{"APD", {200, 120, 0}, [](const FrameMetrics& f) { return f.apd; }},
          {"FAPD", {0, 160, 0}, [](const FrameMetrics& f) { return f.fapd; }},
          {"MAPD", {0, 0, 220}, [](const FrameMetrics& f) { return f.mapd; }}},
         0,
         -1},
        {"identity (CSIM)", {{"CSIM", {140, 0, 140}, [](const FrameMetrics& f) { return f.csim; }}}, 0, 1},
        {"mouth opening (px, aligned 256)",
         {{"original", {120, 120, 120}, [](const FrameMetrics& f) { return f.mouth_open_original; }},
          {"edited", {0, 0, 220}, [](const FrameMetrics& f) { return f.mouth_open_edited; }}},
         0,
         -1},
        {"P(" + ned_emotions()[emo] + ")",
         {{"original", {120, 120, 120}, [emo](const FrameMetrics& f) { return f.probs_original[emo]; }},
          {"edited", {0, 0, 220}, [emo](const FrameMetrics& f) { return f.probs_edited[emo]; }}},
         0,
         1},
    };
}

/// Curve `c` of a panel over the frames (a gap where a frame has no value) and its legend entry.
void draw_curve(cv::Mat& img, const Curve& C, size_t c, const std::vector<FrameMetrics>& frames, const PanelBox& b,
                double lo, double hi) {
    const long n = static_cast<long>(frames.size());
    std::vector<cv::Point> run;
    auto flush = [&] {
        if (run.size() == 1) cv::circle(img, run[0], 1, C.colour, -1);
        if (run.size() > 1) cv::polylines(img, run, false, C.colour, 1, cv::LINE_AA);
        run.clear();
    };
    for (long i = 0; i < n; ++i) {
        const FrameMetrics& f = frames[i];
        const double v = f.evaluated ? C.get(f) : NAN;
        if (!std::isfinite(v)) {
            flush();
            continue;
        }
        const double x = b.pad_l + (n > 1 ? static_cast<double>(i) / (n - 1) : 0.5) * b.plot_w;
        const double y = b.y1 - (std::clamp(v, lo, hi) - lo) / (hi - lo) * (b.y1 - b.y0);
        run.emplace_back(cvRound(x), cvRound(y));
    }
    flush();
    const int ly = b.y0 + 18 + 18 * static_cast<int>(c);
    cv::line(img, cv::Point(b.pad_l + b.plot_w + 10, ly - 4), cv::Point(b.pad_l + b.plot_w + 30, ly - 4), C.colour, 2);
    cv::putText(img, C.label, cv::Point(b.pad_l + b.plot_w + 35, ly), cv::FONT_HERSHEY_SIMPLEX, 0.42,
                cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
}

/// One panel: frame, title, value range (from the data where the panel has none), axis labels and curves.
void draw_panel(cv::Mat& img, const Panel& P, const EvalReport& r, const PanelBox& b) {
    const long n = static_cast<long>(r.per_frame.size());
    const int pad_l = b.pad_l, plot_w = b.plot_w, y0 = b.y0, y1 = b.y1;
    double lo = P.lo, hi = P.hi;
    if (hi < lo) {
        hi = 0;
        for (const auto& c : P.curves)
            for (const auto& f : r.per_frame)
                if (f.evaluated && std::isfinite(c.get(f))) hi = std::max(hi, c.get(f));
        if (hi <= lo) hi = lo + 1;
        hi *= 1.05;
    }
    cv::rectangle(img, cv::Point(pad_l, y0), cv::Point(pad_l + plot_w, y1), cv::Scalar(0, 0, 0), 1);
    cv::putText(img, P.title, cv::Point(pad_l + 5, y0 + 14), cv::FONT_HERSHEY_SIMPLEX, 0.45, cv::Scalar(0, 0, 0), 1,
                cv::LINE_AA);
    cv::putText(img, fmt(hi, 2), cv::Point(4, y0 + 10), cv::FONT_HERSHEY_SIMPLEX, 0.38, cv::Scalar(0, 0, 0), 1,
                cv::LINE_AA);
    cv::putText(img, fmt(lo, 2), cv::Point(4, y1), cv::FONT_HERSHEY_SIMPLEX, 0.38, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
    cv::putText(img, "0", cv::Point(pad_l, y1 + 15), cv::FONT_HERSHEY_SIMPLEX, 0.38, cv::Scalar(0, 0, 0), 1,
                cv::LINE_AA);
    cv::putText(img, std::to_string(std::max(0L, n - 1)) + " (frame)", cv::Point(pad_l + plot_w - 70, y1 + 15),
                cv::FONT_HERSHEY_SIMPLEX, 0.38, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
    for (size_t c = 0; c < P.curves.size(); ++c) draw_curve(img, P.curves[c], c, r.per_frame, b, lo, hi);
}

}  // namespace

cv::Mat render_plot(const EvalReport& r, int width) {
    const int panel_h = 180, pad_l = 60, pad_r = 150, top = 30;
    const int panels = 4;
    cv::Mat img(top + panels * panel_h, width, CV_8UC3, cv::Scalar(255, 255, 255));
    cv::putText(img,
                "ned eval: " + std::filesystem::path(r.edited).filename().string() + " vs " +
                    std::filesystem::path(r.original).filename().string(),
                cv::Point(pad_l, 20), cv::FONT_HERSHEY_SIMPLEX, 0.5, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
    const int plot_w = width - pad_l - pad_r;
    const std::vector<Panel> list = plot_panels(r);
    for (int p = 0; p < panels; ++p) {
        const PanelBox box{pad_l, plot_w, top + p * panel_h + 10, top + (p + 1) * panel_h - 25};
        draw_panel(img, list[p], r, box);
    }
    return img;
}

void write_plot(const std::string& path, const EvalReport& report, bool overwrite) {
    check_extension(path, {".png", ".jpg", ".jpeg"}, "plot");
    AtomicFile f(path, overwrite);
    const cv::Mat img = render_plot(report);
    write_image(f.temp_path(), img, "plot", path);
    f.commit();
}

}  // namespace ned::eval
