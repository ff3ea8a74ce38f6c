#include "ned/manip/manipulate.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "ned/core/error.hpp"
#include "ned/core/log.hpp"
#include "ned/core/torch_util.hpp"
#include "ned/manip/style.hpp"
#include "manip/internal.hpp"

namespace ned::manip {

std::vector<float> manipulator_inputs(const recon::Reconstruction& r) {
    const auto& exp = r.at("exp");
    const auto& pose = r.at("pose");
    const int64_t T = r.num_frames();
    std::vector<float> x(static_cast<size_t>(T) * kNumCoeffs);
    for (int64_t t = 0; t < T; ++t) {
        float* row = x.data() + t * kNumCoeffs;
        row[0] = pose.row(t)[3];
        std::copy_n(exp.row(t), 50, row + 1);
    }
    return x;
}

std::vector<Run> valid_runs(const std::vector<uint8_t>& valid) {
    std::vector<Run> runs;
    const int64_t T = static_cast<int64_t>(valid.size());
    for (int64_t t = 0; t < T;) {
        if (!valid[t]) {
            ++t;
            continue;
        }
        int64_t e = t;
        while (e < T && valid[e]) ++e;
        runs.push_back({t, e - t});
        t = e;
    }
    return runs;
}

PaddedRun pad_run(const std::vector<float>& x, const Run& run) {
    PaddedRun p;
    p.run = run;
    const int64_t n = std::max<int64_t>(run.len, kSeqLen);
    p.left = (n - run.len) / 2;
    p.rows.resize(static_cast<size_t>(n) * kNumCoeffs);
    for (int64_t i = 0; i < n; ++i) {
        const int64_t src = run.start + std::clamp<int64_t>(i - p.left, 0, run.len - 1);
        std::copy_n(x.data() + src * kNumCoeffs, kNumCoeffs, p.rows.data() + i * kNumCoeffs);
    }
    return p;
}

torch::Tensor encode_styles(const recon::Reconstruction& r, Nets& nets, const torch::Device& device, int batch_size) {
    torch::NoGradGuard no_grad;
    nets.style_encoder->eval();
    const auto x = manipulator_inputs(r);
    std::vector<torch::Tensor> out;
    for (const auto& run : valid_runs(r.valid)) {
        const PaddedRun p = pad_run(x, run);
        auto seq = torch::from_blob(const_cast<float*>(p.rows.data()), {p.length(), kNumCoeffs}, torch::kFloat32);
        auto windows = seq.unfold(0, kSeqLen, 1).permute({0, 2, 1});  // [W,10,51]
        for (int64_t b = 0; b < windows.size(0); b += batch_size) {
            auto xb = windows.slice(0, b, std::min<int64_t>(b + batch_size, windows.size(0))).contiguous().to(device);
            out.push_back(nets.style_encoder->forward(xb).to(torch::kCPU));
        }
    }
    if (out.empty())
        throw InputError(
            cat(r.source.empty() ? std::string("reconstruction") : r.source, ": no valid frames to take a style from"));
    return torch::cat(out, 0);
}

torch::Tensor median_style(const torch::Tensor& styles) {
    auto s = styles.to(torch::kCPU, torch::kFloat64).contiguous();
    std::vector<std::vector<double>> pts(s.size(0));
    for (int64_t i = 0; i < s.size(0); ++i) pts[i].assign(s[i].data_ptr<double>(), s[i].data_ptr<double>() + s.size(1));
    const auto m = geometric_median(pts);
    return torch::tensor(std::vector<float>(m.begin(), m.end()), torch::kFloat32);
}

std::vector<Keyframe> parse_schedule(const std::string& text) {
    std::vector<Keyframe> keys;
    if (text.find_first_not_of(" \t") == std::string::npos)
        throw OptionError("ManipulateOptions::schedule", " is empty");
    std::stringstream ss(text + ",");  // the extra comma makes a trailing "a," yield its empty last entry
    std::string item;
    while (std::getline(ss, item, ',')) {
        item.erase(0, item.find_first_not_of(" \t"));
        item.erase(item.find_last_not_of(" \t") + 1);
        if (item.empty())
            throw OptionError("ManipulateOptions::schedule", cat(" '", text,
                                                                 "': empty entry (a stray comma?); expected "
                                                                 "TIME:EMOTION[@INTENSITY],..."));
        const auto colon = item.find(':');
        if (colon == std::string::npos)
            throw OptionError("ManipulateOptions::schedule",
                              cat(" entry '", item, "': expected TIME:EMOTION[@INTENSITY]"));
        Keyframe k;
        std::string emo = item.substr(colon + 1);
        try {
            size_t used = 0;
            k.time_s = std::stod(item.substr(0, colon), &used);
            if (used != colon) throw std::invalid_argument("trailing");
            const auto at = emo.find('@');
            if (at != std::string::npos) {
                const std::string a = emo.substr(at + 1);
                k.intensity = std::stod(a, &used);
                if (used != a.size()) throw std::invalid_argument("trailing");
                emo = emo.substr(0, at);
            }
        } catch (const std::logic_error&) {
            throw OptionError("ManipulateOptions::schedule",
                              cat(" entry '", item, "': expected TIME:EMOTION[@INTENSITY] with numbers"));
        }
        if (!(k.time_s >= 0) || !std::isfinite(k.time_s) || !std::isfinite(k.intensity))
            throw OptionError("ManipulateOptions::schedule",
                              cat(" entry '", item, "': time must be >= 0 and values finite"));
        emotion_index(emo);  // validates
        k.emotion = emo;
        if (!keys.empty() && k.time_s <= keys.back().time_s)
            throw OptionError("ManipulateOptions::schedule",
                              cat(": times must increase ('", item, "' after ", keys.back().time_s, " s)"));
        keys.push_back(k);
    }
    if (keys.empty()) throw OptionError("ManipulateOptions::schedule", " is empty");
    return keys;
}

void ManipulateOptions::validate() const {
    const int modes = !emotions.empty() + (reference != nullptr) + !schedule.empty();
    if (modes != 1)
        throw OptionError("ManipulateOptions::emotions",
                          cat(": give exactly one of emotions, reference or schedule (got ", modes, ")"));
    if (!std::isfinite(intensity))
        throw OptionError("ManipulateOptions::intensity", cat(" must be a finite number (got ", intensity, ")"));
    if (batch_size < 1) throw OptionError("ManipulateOptions::batch_size", cat(" must be >= 1 (got ", batch_size, ")"));
    for (const auto& e : emotions) emotion_index(e);
}

namespace {

double parse_fps(const recon::Reconstruction& r) {
    double num = 0, den = 1;
    const auto slash = r.fps.find('/');
    try {
        if (slash == std::string::npos) {
            num = std::stod(r.fps);
        } else {
            num = std::stod(r.fps.substr(0, slash));
            den = std::stod(r.fps.substr(slash + 1));
        }
    } catch (const std::exception&) {
        num = 0;
    }
    if (!(num > 0 && den > 0))
        throw InputError(cat(r.source, ": reconstruction has no usable fps ('", r.fps,
                             "') but a schedule needs one to convert seconds to frames"));
    return num / den;
}

std::string join(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& e : v) s += (s.empty() ? "" : ",") + e;
    return s;
}

/// The styles the generator is given: K styles over K equal parts of the video (label / reference mode) or one
/// per keyframe (schedule mode), and the text that names them in the output's metadata.
struct TargetStyles {
    std::vector<torch::Tensor> parts;  ///< label / reference mode: K styles over K equal parts
    std::vector<torch::Tensor> keys;   ///< schedule mode: one per keyframe
    std::string what;
    const std::vector<Keyframe>* schedule = nullptr;
    int64_t frames = 0;  ///< T
    double fps = 0;      ///< schedule mode: seconds -> frames

    /// Style of a window whose first frame is `start` (global frame index, may be < 0 for padded runs).
    torch::Tensor at(double start) const {
        if (!parts.empty()) {
            const double K = static_cast<double>(parts.size());
            const int k = std::clamp(static_cast<int>(std::floor(std::max(0.0, start) / (frames / K))), 0,
                                     static_cast<int>(parts.size()) - 1);
            return parts[k];
        }
        const double t = (start + 0.5 * (kSeqLen - 1)) / fps;  // centre of the window, seconds
        const auto& ks = *schedule;
        if (t <= ks.front().time_s) return keys.front();
        for (size_t k = 0; k + 1 < ks.size(); ++k) {
            if (t < ks[k + 1].time_s) {
                const double u = (t - ks[k].time_s) / (ks[k + 1].time_s - ks[k].time_s);
                const double w = u * u * (3 - 2 * u);  // smoothstep
                return (1 - w) * keys[k] + w * keys[k + 1];
            }
        }
        return keys.back();
    }
};

TargetStyles target_styles(const recon::Reconstruction& in, Nets& nets, const torch::Device& device,
                           const ManipulateOptions& opts) {
    auto gen = at::detail::createCPUGenerator(opts.seed);
    const torch::Tensor z = torch::randn({1, kLatentDim}, gen).to(device);
    auto label_style = [&](const std::string& emo) {
        auto y = torch::full({1}, emotion_index(emo), torch::TensorOptions().dtype(torch::kLong).device(device));
        return nets.mapping_network->forward(z, y).squeeze(0).to(torch::kCPU);
    };
    torch::Tensor source_style;  // geometric median of E over the source, only when an intensity != 1 needs it
    auto src_style = [&]() {
        if (!source_style.defined()) source_style = median_style(encode_styles(in, nets, device, opts.batch_size));
        return source_style;
    };
    auto with_intensity = [&](const torch::Tensor& s, double a) {
        return a == 1.0 ? s : src_style() + a * (s - src_style());
    };

    TargetStyles ts;
    if (!opts.emotions.empty()) {
        for (const auto& e : opts.emotions) ts.parts.push_back(with_intensity(label_style(e), opts.intensity));
        ts.what = cat("emotion=", join(opts.emotions), " seed=", opts.seed);
    } else if (opts.reference) {
        const auto ref = median_style(encode_styles(*opts.reference, nets, device, opts.batch_size));
        ts.parts.push_back(with_intensity(ref, opts.intensity));
        ts.what = cat("reference=", opts.reference->source);
    } else {
        for (const auto& k : opts.schedule)
            ts.keys.push_back(with_intensity(label_style(k.emotion), k.intensity * opts.intensity));
        std::string sched;
        for (const auto& k : opts.schedule)
            sched += cat(sched.empty() ? "" : ",", k.time_s, ":", k.emotion, "@", k.intensity);
        ts.what = cat("schedule=", sched, " seed=", opts.seed);
    }
    if (opts.intensity != 1.0) ts.what += cat(" intensity=", opts.intensity);
    ts.fps = opts.schedule.empty() ? 0.0 : parse_fps(in);
    ts.schedule = &opts.schedule;
    ts.frames = in.num_frames();
    return ts;
}

/// Translates every window of one valid run (batches of windows, overlap-added) into `out`'s exp and jaw pose;
/// `done` counts the windows for the progress.
void translate_run(const Run& run, const std::vector<float>& x, Nets& nets, const torch::Device& device,
                   const ManipulateOptions& opts, const TargetStyles& styles, recon::Reconstruction& out, int64_t& done,
                   int64_t total_windows) {
    auto& exp = out.at("exp");
    auto& pose = out.at("pose");
    const PaddedRun p = pad_run(x, run);
    const int64_t n = p.length(), W = n - kSeqLen + 1;
    auto seq = torch::from_blob(const_cast<float*>(p.rows.data()), {n, kNumCoeffs}, torch::kFloat32);
    auto windows = seq.unfold(0, kSeqLen, 1).permute({0, 2, 1});  // [W,10,51]
    OverlapAdder adder(static_cast<int>(n), kSeqLen, kNumCoeffs);
    for (int64_t b = 0; b < W; b += opts.batch_size) {
        const int64_t e = std::min<int64_t>(b + opts.batch_size, W);
        std::vector<torch::Tensor> sv;
        for (int64_t i = b; i < e; ++i) sv.push_back(styles.at(static_cast<double>(run.start - p.left + i)));
        auto xb = windows.slice(0, b, e).contiguous().to(device);
        auto sb = torch::stack(sv).to(device);
        auto yb = nets.generator->forward(xb, sb).to(torch::kCPU, torch::kFloat32).contiguous();
        for (int64_t i = b; i < e; ++i) adder.add(static_cast<int>(i), yb[i - b].data_ptr<float>());
        done += e - b;
        if (opts.progress) opts.progress(done, total_windows);
    }
    const auto y = adder.result();
    for (int64_t i = 0; i < run.len; ++i) {
        const float* row = y.data() + (p.left + i) * kNumCoeffs;
        const int64_t t = run.start + i;
        pose.row(t)[3] = row[0];
        std::copy_n(row + 1, 50, exp.row(t));
    }
}

}  // namespace

recon::Reconstruction manipulate(const recon::Reconstruction& in, Nets& nets, const ManipulateOptions& opts) {
    opts.validate();
    torch::NoGradGuard no_grad;
    const torch::Device device = resolve_device(opts.device);
    nets.to(device);
    nets.train(false);

    const auto x = manipulator_inputs(in);
    const auto runs = valid_runs(in.valid);
    const TargetStyles styles = target_styles(in, nets, device, opts);

    // translate every window of every valid run, overlap-add
    recon::Reconstruction out = in;
    int64_t total_windows = 0, done = 0;
    for (const auto& r : runs) total_windows += std::max<int64_t>(r.len, kSeqLen) - kSeqLen + 1;
    for (const auto& run : runs) translate_run(run, x, nets, device, opts, styles, out, done, total_windows);
    if (runs.empty()) NED_LOG_WARN("[manip] {}: no valid frames; output equals the input", in.source);

    out.extra_metadata["source_method"] = in.method;
    out.extra_metadata["manipulation"] = styles.what;
    out.method = "manipulated";
    return out;
}

}  // namespace ned::manip
