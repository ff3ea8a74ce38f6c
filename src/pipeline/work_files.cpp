// Internal helpers of the pipeline layer (src/pipeline/work_files.hpp).
#include "pipeline/work_files.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "ned/core/error.hpp"
#include "ned/core/fs_util.hpp"
#include "ned/io/video.hpp"
#include "ned/recon/reconstruction.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace ned::pipeline {

WorkLock::WorkLock(const std::string& work) {
    const std::string path = (fs::path(work) / ".lock").string();
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw OptionError("TranslateOptions::work", cat(" ", work, ": cannot create ", path));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
        ::close(fd_);
        throw OptionError("TranslateOptions::work", cat(" ", work, " is in use by another ned run (", path,
                                                        " is locked); wait for it or give another folder"));
    }
}

WorkLock::~WorkLock() { ::close(fd_); }

WorkFolder::WorkFolder(std::string path) : folder_(path, "--work") {
    const fs::path p(folder_.path());
    std::error_code ec;
    for (const char* sub : {"stages", "faces", "edit_masks", "edit_masks/crop", "masks", "reference",
                            "reference/stages", "reference/masks"})
        if (fs::exists(p / sub, ec) && !fs::is_directory(p / sub, ec))
            throw OptionError("TranslateOptions::work",
                              cat(" ", p.string(), ": ", (p / sub).string(),
                                  " is a file, expected a folder (remove it or choose another folder)"));
    for (const char* file :
         {".lock", "track.safetensors", "reconstruction.safetensors", "edited.safetensors", "render_resume.safetensors",
          "reference/track.safetensors", "reference/reconstruction.safetensors"})
        if (fs::is_directory(p / file, ec))
            throw OptionError("TranslateOptions::work",
                              cat(" ", p.string(), ": ", (p / file).string(),
                                  " is a folder, expected a file (remove it or choose another folder)"));
    folder_.create();
}

WorkFolder::~WorkFolder() {
    if (keep_) return;
    std::error_code ec;
    const fs::path stages = fs::path(folder_.path()) / "stages";
    for (const auto& e : fs::directory_iterator(stages, ec))
        if (e.path().extension() == ".json") return;  // a finished stage: a re-run continues from it
    folder_.restore();
}

double pearson(const std::vector<double>& a, const std::vector<double>& b) {
    const size_t n = a.size();
    if (n < 2) return std::numeric_limits<double>::quiet_NaN();
    double ma = 0, mb = 0;
    for (size_t i = 0; i < n; ++i) ma += a[i], mb += b[i];
    ma /= n;
    mb /= n;
    double sab = 0, saa = 0, sbb = 0;
    for (size_t i = 0; i < n; ++i) {
        sab += (a[i] - ma) * (b[i] - mb);
        saa += (a[i] - ma) * (a[i] - ma);
        sbb += (b[i] - mb) * (b[i] - mb);
    }
    if (saa <= 0 || sbb <= 0) return std::numeric_limits<double>::quiet_NaN();
    return sab / std::sqrt(saa * sbb);
}

namespace {
json number_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

/// Write `text` to `path` atomically (refuses an existing file without overwrite).
void write_text_atomic(const std::string& path, const std::string& text, bool overwrite) {
    AtomicFile out(path, overwrite);
    {
        std::ofstream os(out.temp_path(), std::ios::trunc);
        os << text;
        os.flush();
        if (!os) throw IoError(cat("cannot write ", out.temp_path()));
    }
    out.commit();
}

}  // namespace

ProgressFn bar_fn(std::unique_ptr<ProgressBar>& bar, const std::string& label) {
    bar = std::make_unique<ProgressBar>(label, 0);
    return bar->fn();
}

long write_preview(const std::string& input, const std::string& edited, const std::string& out_path, int crf,
                   const std::string& preset, bool overwrite) {
    AtomicFile out(out_path, overwrite);
    io::VideoReader a(input), b(edited);
    io::VideoInfo info = a.info();
    info.width = info.display_width = a.info().display_width * 2;
    info.height = info.display_height = a.info().display_height;
    info.rotation = 0;
    io::VideoWriterOptions wo;
    wo.crf = crf;
    wo.preset = preset;
    wo.name = out_path;
    wo.metadata["comment"] = "ned preview: original (left) | edited (right)";
    io::VideoWriter w(out.temp_path(), info, wo);
    io::Frame fa, fb;
    long n = 0;
    while (a.read(fa)) {
        io::Frame f = fa;
        cv::Mat right = fa.bgr;
        if (b.read(fb)) right = fb.bgr;
        cv::hconcat(fa.bgr, right, f.bgr);
        w.write(f);
        ++n;
    }
    w.finish();
    out.commit();
    return n;
}

void summarize_edit(const std::string& source_recon, const std::string& edited_recon, TranslateResult& result) {
    const auto src = recon::load_reconstruction(source_recon);
    const auto dst = recon::load_reconstruction(edited_recon);
    std::vector<double> ja, jb;
    double change = 0;
    long n = 0;
    if (src.has("pose") && dst.has("pose") && src.has("exp") && dst.has("exp")) {
        for (int64_t t = 0; t < src.num_frames() && t < dst.num_frames(); ++t) {
            if (!src.valid[t] || !dst.valid[t]) continue;
            ja.push_back(src.at("pose").row(t)[3]);
            jb.push_back(dst.at("pose").row(t)[3]);
            const float* a = src.at("exp").row(t);
            const float* b = dst.at("exp").row(t);
            double s = 0;
            for (int64_t k = 0; k < src.at("exp").row_size(); ++k) s += double(a[k] - b[k]) * (a[k] - b[k]);
            change += std::sqrt(s);
            ++n;
        }
    }
    result.jaw_correlation = pearson(ja, jb);
    result.mean_expression_change = n ? change / n : 0.0;
}

void write_report(const TranslateOptions& o, const TranslateResult& result) {
    json stages = json::array();
    for (const auto& s : result.stages) {
        json e = {{"stage", s.name},
                  {"skipped", s.skipped},
                  {"wall_s", s.wall_s},
                  {"frames", s.frames},
                  {"fps", number_or_null(s.wall_s > 0 ? s.frames / s.wall_s : NAN)},
                  {"key", s.key}};
        if (!s.busy_s.empty()) e["busy_s"] = s.busy_s;
        stages.push_back(e);
    }
    json ranges = json::array();
    for (const auto& [a, b] : result.edited_ranges) ranges.push_back({a, b});
    const json rep = {{"format", "ned.translate_report"},
                      {"version", 1},
                      {"ned_version", NED_VERSION},
                      {"input", o.input},
                      {"output", o.output},
                      {"edit", o.edit.describe()},
                      {"work", o.work.empty() ? json(nullptr) : json(o.work)},
                      {"frames", result.frames},
                      {"frames_edited", result.edited},
                      {"frames_passed_through", result.passed},
                      {"frames_filled", result.filled},
                      {"render_frames_resumed", result.render_frames_resumed},
                      {"edited_ranges", ranges},
                      {"jaw_correlation", number_or_null(result.jaw_correlation)},
                      {"mean_expression_change", result.mean_expression_change},
                      {"wall_s", result.total_wall_s},
                      {"fps", number_or_null(result.total_wall_s > 0 ? result.frames / result.total_wall_s : NAN)},
                      {"stages", stages}};
    write_text_atomic(o.report, rep.dump(2) + "\n", o.overwrite);
}

}  // namespace ned::pipeline
