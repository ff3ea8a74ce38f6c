// The pipeline layer: `ned translate` / `ned style` as one library call (include/ned/pipeline/translate.hpp).
#include "ned/pipeline/translate.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/file.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <sstream>

#include "ned/blend/composite.hpp"
#include "ned/core/error.hpp"
#include "ned/core/fs_util.hpp"
#include "ned/core/image_io.hpp"
#include "ned/core/log.hpp"
#include "ned/core/progress.hpp"
#include "ned/detect/analyze.hpp"
#include "ned/detect/face_track.hpp"
#include "ned/io/video.hpp"
#include "ned/manip/manipulate.hpp"
#include "ned/manip/networks.hpp"
#include "ned/recon/reconstruct.hpp"
#include "ned/recon/reconstruction.hpp"
#include "ned/render/render_inputs.hpp"
#include "ned/renderer/render.hpp"
#include "pipeline/stage_record.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace ned::pipeline {
namespace {

// --- models ---------------------------------------------------------------------------------------------

struct ModelSpec {
    const char* what;
    const char* format;
    const char* converter;  // docs/models.md
};

const ModelSpec kFlame{"FLAME asset", "ned.flame",
                       "python3 scripts/convert_flame.py --flame generic_model.pkl --deca-data DECA/data --out "
                       "models/flame.safetensors (docs/models.md section 1)"};
const ModelSpec kDeca{"DECA weights", "ned.deca",
                      "python3 scripts/convert_deca.py --deca deca_model.tar --out models/deca.safetensors "
                      "(docs/models.md section 2)"};
const ModelSpec kManipulator{"manipulator checkpoint", "ned.manipulator",
                             "python3 scripts/convert_ned_manipulator.py 02_nets_finetuned.pth "
                             "models/manipulator.safetensors (docs/models.md section 4), or `ned train-manipulator`"};
const ModelSpec kSegmentation{"segmentation U-Net", "ned.fsgan_unet",
                              "python3 scripts/convert_fsgan_unet.py --checkpoint "
                              "lfw_figaro_unet_256_2_0_segmentation_v1.pth --out models/unet.safetensors "
                              "(docs/models.md section 5)"};
const ModelSpec kRenderer{"renderer checkpoint", "ned.renderer",
                          "`ned train-renderer`, or python3 scripts/convert_ned_renderer.py 20_net_G.pth "
                          "models/<actor>_renderer.safetensors (docs/models.md section 7)"};

/// The `format` of a safetensors file's __metadata__, reading only its header. Empty string plus `why`
/// when the file is not a readable safetensors file.
std::string safetensors_format(const std::string& path, std::string& why) {
    std::ifstream is(path, std::ios::binary);
    if (!is) {
        why = "cannot be opened";
        return {};
    }
    unsigned char len_bytes[8];
    if (!is.read(reinterpret_cast<char*>(len_bytes), 8)) {
        why = "is too short for a safetensors file";
        return {};
    }
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | len_bytes[i];
    std::error_code ec;
    const auto size = fs::file_size(path, ec);
    if (ec || n == 0 || n > 100000000ULL || n + 8 > size) {
        why = "is not a safetensors file (bad header length)";
        return {};
    }
    std::string header(static_cast<size_t>(n), '\0');
    if (!is.read(header.data(), static_cast<std::streamsize>(n))) {
        why = "is truncated";
        return {};
    }
    try {
        const json j = json::parse(header);
        if (j.contains("__metadata__") && j["__metadata__"].contains("format") &&
            j["__metadata__"]["format"].is_string())
            return j["__metadata__"]["format"].get<std::string>();
        why = "has no __metadata__ format";
    } catch (const std::exception&) {
        why = "is not a safetensors file (header is not JSON)";
    }
    return {};
}

void check_model(const std::string& path, const ModelSpec& spec, std::vector<std::string>& problems) {
    if (path.empty() || !fs::exists(path)) {
        problems.push_back(cat(spec.what, " not found: ", path.empty() ? std::string("(no path)") : path,
                               "; make it with: ", spec.converter));
        return;
    }
    if (!fs::is_regular_file(path)) {
        problems.push_back(cat(spec.what, " ", path, " is not a regular file"));
        return;
    }
    std::string why;
    const std::string format = safetensors_format(path, why);
    if (format.empty())
        problems.push_back(cat(spec.what, " ", path, " ", why, "; make it with: ", spec.converter));
    else if (format != spec.format)
        problems.push_back(cat(spec.what, " ", path, " is a '", format, "' file, expected '", spec.format,
                               "'; make it with: ", spec.converter));
}

// --- helpers --------------------------------------------------------------------------------------------

// The temporary work folder is removed on SIGINT/SIGTERM/SIGHUP too: a handler removes the whole tree with
// async-signal-safe calls only (getdents64, unlinkat, openat; no allocation), then hands the signal to the
// handler it replaced (core's signal cleanup: temporary files, then exit 128 + signal).
constexpr int kTreeSignals[] = {SIGINT, SIGTERM, SIGHUP};
char g_temp_work[4096];  // "" = none
struct sigaction g_prev_action[3];

struct LinuxDirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[1];
};

/// Remove everything inside the open folder `dirfd` (async-signal-safe; at most 16 levels deep). Rescans until
/// a pass removes nothing, since writer threads may still add a file while it runs.
void remove_tree_at(int dirfd, int depth) {
    if (depth > 16) return;
    alignas(8) char buf[4096];
    for (int pass = 0; pass < 8; ++pass) {
        int removed = 0;
        ::lseek(dirfd, 0, SEEK_SET);
        for (;;) {
            const long n = ::syscall(SYS_getdents64, dirfd, buf, sizeof buf);
            if (n <= 0) break;
            for (long off = 0; off < n;) {
                const auto* d = reinterpret_cast<const LinuxDirent64*>(buf + off);
                off += d->d_reclen;
                const char* name = d->d_name;
                if (name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0))) continue;
                if (::unlinkat(dirfd, name, 0) == 0) {
                    ++removed;
                    continue;
                }
                const int sub = ::openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (sub < 0) continue;
                remove_tree_at(sub, depth + 1);
                ::close(sub);
                if (::unlinkat(dirfd, name, AT_REMOVEDIR) == 0) ++removed;
            }
        }
        if (removed == 0) break;
    }
}

void ned_pipeline_on_signal(int sig) {
    const int saved_errno = errno;
    if (g_temp_work[0]) {
        const int fd = ::open(g_temp_work, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0) {
            remove_tree_at(fd, 0);
            ::close(fd);
        }
        ::rmdir(g_temp_work);
    }
    errno = saved_errno;
    for (int i = 0; i < 3; ++i) {
        if (kTreeSignals[i] != sig) continue;
        const struct sigaction& prev = g_prev_action[i];
        if (prev.sa_handler == SIG_IGN) return;
        if (prev.sa_handler == SIG_DFL) {
            ::signal(sig, SIG_DFL);
            ::raise(sig);
            return;
        }
        if (prev.sa_flags & SA_SIGINFO)
            prev.sa_sigaction(sig, nullptr, nullptr);
        else
            prev.sa_handler(sig);
    }
}

/// A temporary work folder removed at the end, on errors, and on SIGINT/SIGTERM/SIGHUP.
class TempWork {
public:
    TempWork() {
        std::string tmpl = (fs::temp_directory_path() / "ned-translate-XXXXXX").string();
        if (!::mkdtemp(tmpl.data())) throw IoError(cat("cannot create a temporary work folder in ", fs::temp_directory_path().string()));
        path_ = fs::absolute(tmpl).string();
        if (path_.size() < sizeof g_temp_work) {
            std::memcpy(g_temp_work, path_.c_str(), path_.size() + 1);
            struct sigaction sa {};
            sa.sa_handler = ned_pipeline_on_signal;
            sigemptyset(&sa.sa_mask);
            for (int s : kTreeSignals) sigaddset(&sa.sa_mask, s);
            for (int i = 0; i < 3; ++i) ::sigaction(kTreeSignals[i], &sa, &g_prev_action[i]);
            armed_ = true;
        }
    }
    ~TempWork() {
        if (armed_) {
            for (int i = 0; i < 3; ++i) ::sigaction(kTreeSignals[i], &g_prev_action[i], nullptr);
            g_temp_work[0] = 0;
        }
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    TempWork(const TempWork&) = delete;
    TempWork& operator=(const TempWork&) = delete;
    const std::string& path() const { return path_; }

private:
    std::string path_;
    bool armed_ = false;
};

/// An exclusive lock on WORK/.lock for the whole run: two runs never write one work folder at once.
class WorkLock {
public:
    explicit WorkLock(const std::string& work) {
        const std::string path = (fs::path(work) / ".lock").string();
        fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd_ < 0) throw InputError(cat("--work ", work, ": cannot create ", path));
        if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
            ::close(fd_);
            throw InputError(cat("work folder ", work, " is in use by another ned run (", path,
                                 " is locked); wait for it or give another --work"));
        }
    }
    ~WorkLock() { ::close(fd_); }
    WorkLock(const WorkLock&) = delete;
    WorkLock& operator=(const WorkLock&) = delete;

private:
    int fd_ = -1;
};

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

ProgressFn bar_fn(std::unique_ptr<ProgressBar>& bar, const std::string& label) {
    bar = std::make_unique<ProgressBar>(label, 0);
    return bar->fn();
}

/// The mask stage: for every frame with conditioning, the union of the source face mask (crop space:
/// WORK/masks/ from the segmenter when present, else the landmark mask) and the coverage of the edited NMFC
/// (aligned space), written to WORK/edit_masks/aligned/ (for the renderer) and WORK/edit_masks/crop/ (for
/// the compositor). Returns the number of frames.
long write_edit_masks(const std::string& work, const detect::FaceTrack& track, bool segmentation_masks) {
    const fs::path cond = fs::path(work) / "conditioning" / "nmfc";
    const fs::path aligned_dir = fs::path(work) / "edit_masks" / "aligned", crop_dir = fs::path(work) / "edit_masks" / "crop";
    std::error_code ec;
    fs::remove_all(fs::path(work) / "edit_masks", ec);
    fs::create_directories(aligned_dir);
    fs::create_directories(crop_dir);
    const int cs = track.crop_size;
    long n = 0;
    for (long t = 0; t < static_cast<long>(track.frames.size()); ++t) {
        if (!track.frames[t].valid) continue;
        const std::string name = frame_name(t, ".png");
        const fs::path nmfc_path = cond / name;
        if (!fs::exists(nmfc_path)) continue;
        const cv::Mat nmfc = read_image(nmfc_path.string(), cv::IMREAD_COLOR, "NMFC image");
        const cv::Mat coverage = render::edit_mask(cv::Mat::zeros(nmfc.size(), CV_8UC1), nmfc);  // NMFC > 0
        cv::Mat src_crop;
        const fs::path seg = fs::path(work) / "masks" / name;
        if (segmentation_masks && fs::exists(seg)) src_crop = read_image(seg.string(), cv::IMREAD_GRAYSCALE, "mask");
        if (src_crop.empty()) src_crop = blend::default_mask_for(track, t);
        src_crop = src_crop > 127;
        const cv::Size size(cs, cs);
        cv::Mat src_aligned, cov_crop;
        cv::warpAffine(src_crop, src_aligned, cv::Mat(track.frames[t].align), size, cv::INTER_NEAREST);
        cv::warpAffine(coverage, cov_crop, cv::Mat(track.frames[t].align), size,
                       cv::INTER_NEAREST | cv::WARP_INVERSE_MAP);
        const cv::Mat aligned_union = cv::max(src_aligned, coverage), crop_union = cv::max(src_crop, cov_crop);
        write_image((aligned_dir / name).string(), aligned_union, "edit mask");
        write_image((crop_dir / name).string(), crop_union, "edit mask");
        ++n;
    }
    return n;
}

/// Original | edited side by side, the input's timestamps and audio. Returns frames written.
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

}  // namespace

// --- public ---------------------------------------------------------------------------------------------

std::string Edit::describe() const {
    std::ostringstream os;
    if (!emotions.empty()) {
        os << "emotion=";
        for (size_t i = 0; i < emotions.size(); ++i) os << (i ? "," : "") << emotions[i];
    } else if (!schedule.empty()) {
        os << "schedule=" << schedule;
    } else {
        os << "reference=" << fs::path(reference).filename().string();
    }
    os << " intensity=" << intensity;
    if (reference.empty()) os << " seed=" << seed;
    return os.str();
}

std::string format_ranges(const std::vector<std::pair<long, long>>& ranges) {
    std::ostringstream os;
    for (size_t i = 0; i < ranges.size(); ++i) {
        if (i) os << ",";
        os << ranges[i].first;
        if (ranges[i].second != ranges[i].first) os << "-" << ranges[i].second;
    }
    return os.str();
}

ModelPaths resolve_models(const ModelSearch& s) {
    std::string dir = s.models_dir;
    if (dir.empty()) {
        const char* env = std::getenv("NED_MODELS");
        dir = env && *env ? env : "models";
    }
    auto in_dir = [&](const char* name) { return (fs::path(dir) / name).string(); };
    ModelPaths m;
    m.flame = s.flame.empty() ? in_dir("flame.safetensors") : s.flame;
    m.manipulator = s.manipulator.empty() ? in_dir("manipulator.safetensors") : s.manipulator;
    m.renderer = s.renderer;
    if (!s.deca.empty())
        m.deca = s.deca;
    else if (fs::exists(in_dir("deca.safetensors")))
        m.deca = in_dir("deca.safetensors");
    if (!s.segmentation.empty())
        m.segmentation = s.segmentation;
    else if (fs::exists(in_dir("unet.safetensors")))
        m.segmentation = in_dir("unet.safetensors");
    return m;
}

namespace {
/// Every model file of the set is checked before anything is decoded; all problems are named in one ModelError.
void check_model_set(const ModelPaths& m, bool need_manipulator, bool need_renderer) {
    std::vector<std::string> problems;
    check_model(m.flame, kFlame, problems);
    if (!m.deca.empty()) check_model(m.deca, kDeca, problems);
    if (need_manipulator) check_model(m.manipulator, kManipulator, problems);
    if (!m.segmentation.empty()) check_model(m.segmentation, kSegmentation, problems);
    if (need_renderer) check_model(m.renderer, kRenderer, problems);
    const std::string lm = m.landmarks.empty() ? detect::kDefaultLandmarkModel : m.landmarks;
    if (!fs::exists(lm))
        problems.push_back(cat("dlib landmark model not found: ", lm, "; install Debian's libdlib-data (docs/models.md section 6)"));
    if (problems.empty()) return;
    std::string msg = problems.size() == 1 ? problems[0] : cat(problems.size(), " model files are missing or invalid:");
    if (problems.size() > 1)
        for (const auto& p : problems) msg += "\n  " + p;
    throw ModelError(msg);
}
}  // namespace

void check_reconstruction_models(const ModelPaths& m) { check_model_set(m, false, false); }

void check_models(const ModelPaths& m, bool need_renderer) { check_model_set(m, true, need_renderer); }

TranslateResult translate(const TranslateOptions& o) {
    const auto t_start = std::chrono::steady_clock::now();
    // 1. Options, inputs and outputs (exit 2), all before any decoding.
    check_input_file(o.input, "input video");
    const Edit& edit = o.edit;
    const int modes = !edit.emotions.empty() + !edit.schedule.empty() + !edit.reference.empty();
    if (modes != 1) throw InputError("give exactly one of --emotion, --schedule or --reference");
    for (const auto& e : edit.emotions) manip::emotion_index(e);
    std::vector<manip::Keyframe> schedule;
    if (!edit.schedule.empty()) schedule = manip::parse_schedule(edit.schedule);
    if (!std::isfinite(edit.intensity)) throw InputError("--intensity must be a finite number");
    bool reference_is_video = false;
    if (!edit.reference.empty()) {
        check_input_file(edit.reference, "reference");
        std::string ext = fs::path(edit.reference).extension().string();
        std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
        reference_is_video = ext != ".safetensors";
    }
    if (o.face_index < 0) throw InputError("--face-index must be >= 0");
    const detect::FaceAt face_at = detect::parse_face_at(o.face_at);
    if (o.fit_iters < 0) throw InputError("--fit-iters must be >= 0");
    renderer::parse_precision(o.precision);
    check_extension(o.output, {".mp4", ".mov", ".mkv"}, "output video");
    check_output_path(o.output, o.overwrite, "output video");
    if (!o.preview.empty()) {
        check_extension(o.preview, {".mp4", ".mov", ".mkv"}, "preview video");
        check_output_path(o.preview, o.overwrite, "preview video");
        if (fs::absolute(o.preview).lexically_normal() == fs::absolute(o.output).lexically_normal())
            throw InputError("--preview must differ from the output video");
    }
    if (!o.report.empty()) check_output_path(o.report, o.overwrite, "report");
    // 2. Models (exit 3).
    for (const std::string* p : {&o.models.flame, &o.models.deca, &o.models.manipulator, &o.models.segmentation, &o.models.renderer})
        if (!p->empty() && fs::is_regular_file(*p)) declare_input(*p, "model file");
    check_models(o.models, true);

    // 3. Work folder.
    std::unique_ptr<TempWork> temp;
    std::string work = o.work;
    if (work.empty()) {
        temp = std::make_unique<TempWork>();
        work = temp->path();
    } else {
        std::error_code ec;
        fs::create_directories(work, ec);
        if (!fs::is_directory(work)) throw InputError(cat("--work ", work, ": cannot create the folder"));
    }
    const WorkLock lock(work);
    NED_LOG_INFO("[translate] work folder {}", work);
    StageRecords records(work);
    TranslateResult result;
    const int threads = o.threads;
    auto note = [&](const std::string& name, const StageOutcome& s) {
        result.stages.push_back({name, s.skipped, s.wall_s, s.frames, s.key});
    };
    const std::string track_path = (fs::path(work) / "track.safetensors").string();
    const std::string recon_path = (fs::path(work) / "reconstruction.safetensors").string();
    const std::string edited_path = (fs::path(work) / "edited.safetensors").string();
    const json landmark_id = file_identity(o.models.landmarks.empty() ? detect::kDefaultLandmarkModel : o.models.landmarks);

    // Analysis + reconstruction of one video into `dir` (the input, or a reference video).
    auto analyse_and_reconstruct = [&](const std::string& video, const std::string& dir, const std::string& prefix,
                                       int face_index, const detect::FaceAt& at) {
        fs::create_directories(dir);
        const std::string tp = (fs::path(dir) / "track.safetensors").string();
        const std::string rp = (fs::path(dir) / "reconstruction.safetensors").string();
        const json a_in = {{"video", file_identity(video)},
                           {"face_index", face_index},
                           {"face_at", at.active() ? json::array({at.seconds, at.x, at.y}) : json(nullptr)},
                           {"landmarks", landmark_id},
                           {"segmentation", file_identity(o.models.segmentation)}};
        const StageOutcome a = records.run(prefix + "analyze", a_in, [&]() -> long {
            detect::AnalyzeOptions ao;
            ao.track.face_index = face_index;
            ao.track.face_at = at;
            ao.track.threads = threads;
            ao.threads = threads;
            ao.landmark_model = o.models.landmarks;
            ao.segmentation_model = o.models.segmentation;
            ao.overwrite = true;
            std::unique_ptr<ProgressBar> b1, b2;
            auto f1 = bar_fn(b1, prefix + "track");
            b2 = std::make_unique<ProgressBar>(prefix + "analyze", 0);
            auto f2 = b2->fn();
            ProgressBar* b1p = b1.get();
            const auto track = detect::analyze_video(video, dir, ao, f1, [&](long d, long t) {
                b1p->finish();
                f2(d, t);
            });
            b2->finish();
            NED_LOG_INFO("[translate] {}", detect::describe(detect::count_frames(track)));
            return static_cast<long>(track.frames.size());
        });
        note(prefix + "analyze", a);
        const std::string method = o.models.deca.empty() ? "fit" : "deca";
        const json r_in = {{"upstream", a.key},
                           {"track", file_identity(tp)},
                           {"flame", file_identity(o.models.flame)},
                           {"deca", file_identity(o.models.deca)},
                           {"method", method},
                           {"fit_iters", o.fit_iters}};
        const StageOutcome r = records.run(prefix + "reconstruct", r_in, [&]() -> long {
            recon::ReconstructOptions ro;
            ro.flame_path = o.models.flame;
            ro.deca_path = o.models.deca;
            ro.method = method;
            ro.video = video;
            ro.device = o.device;
            ro.overwrite = true;
            if (o.fit_iters > 0) {
                ro.fit.iters = o.fit_iters;
                ro.fit.first_iters = ro.fit.shape_iters = 2 * o.fit_iters;
            }
            std::unique_ptr<ProgressBar> b;
            const auto rec = recon::reconstruct_workdir(dir, ro, bar_fn(b, prefix + "reconstruct"));
            b->finish();
            return static_cast<long>(rec.num_frames());
        });
        note(prefix + "reconstruct", r);
        return std::make_pair(r.key, rp);
    };

    // 4. Stages.
    const auto [recon_key, recon_file] = analyse_and_reconstruct(o.input, work, "", o.face_index, face_at);
    (void)recon_file;
    json reference_id = nullptr;
    std::string reference_recon;
    if (!edit.reference.empty()) {
        if (reference_is_video) {
            const auto [ref_key, ref_path] =
                analyse_and_reconstruct(edit.reference, (fs::path(work) / "reference").string(), "reference-", 0, detect::FaceAt{});
            reference_id = {{"upstream", ref_key}, {"file", file_identity(ref_path)}};
            reference_recon = ref_path;
        } else {
            reference_id = file_identity(edit.reference);
            reference_recon = edit.reference;
        }
    }

    const json m_in = {{"upstream", recon_key},
                       {"reconstruction", file_identity(recon_path)},
                       {"manipulator", file_identity(o.models.manipulator)},
                       {"emotions", edit.emotions},
                       {"schedule", edit.schedule},
                       {"reference", reference_id},
                       {"intensity", edit.intensity},
                       {"seed", edit.seed}};
    const StageOutcome m = records.run("manipulate", m_in, [&]() -> long {
        const auto in = recon::load_reconstruction(recon_path);
        manip::ManipulateOptions mo;
        mo.emotions = edit.emotions;
        mo.schedule = schedule;
        recon::Reconstruction ref;
        if (!reference_recon.empty()) {
            ref = recon::load_reconstruction(reference_recon);
            int64_t run = 0, longest = 0;
            for (uint8_t v : ref.valid) longest = std::max(longest, run = v ? run + 1 : 0);
            if (longest < 10)
                throw InputError(cat("reference ", edit.reference, ": no 10 consecutive valid frames (longest run ",
                                     longest, "); the style encoder needs one such window"));
            mo.reference = &ref;
        }
        mo.intensity = edit.intensity;
        mo.seed = edit.seed;
        mo.device = o.device;
        auto nets = manip::load_checkpoint(o.models.manipulator);
        std::unique_ptr<ProgressBar> b;
        mo.progress = bar_fn(b, "manipulate");
        auto out = manip::manipulate(in, nets, mo);
        b->finish();
        out.extra_metadata["manipulator_checkpoint"] = o.models.manipulator;
        recon::save_reconstruction(edited_path, out);
        return static_cast<long>(out.num_frames());
    });
    note("manipulate", m);

    const json c_in = {{"upstream", m.key},
                       {"edited", file_identity(edited_path)},
                       {"flame", file_identity(o.models.flame)},
                       {"deca", file_identity(o.models.deca)}};
    const StageOutcome c = records.run("condition", c_in, [&]() -> long {
        render::RenderInputsOptions ro;
        ro.workdir = work;
        ro.reconstruction = edited_path;
        ro.flame = o.models.flame;
        ro.deca = o.models.deca;
        ro.threads = threads;
        ro.device = o.device;
        ro.overwrite = true;
        std::unique_ptr<ProgressBar> b;
        const auto r = render::render_inputs(ro, bar_fn(b, "condition"));
        b->finish();
        return static_cast<long>(r.frames_rendered);
    });
    note("condition", c);

    const detect::FaceTrack track = detect::load_track(track_path);
    std::string upstream_key = c.key;
    if (o.follow_edit_mask) {
        const bool seg = !o.models.segmentation.empty();
        const json k_in = {{"upstream", c.key}, {"track", file_identity(track_path)}, {"segmentation_masks", seg}};
        const StageOutcome k = records.run("mask", k_in, [&]() -> long { return write_edit_masks(work, track, seg); });
        note("mask", k);
        upstream_key = k.key;
    }

    const json r_in = {{"upstream", upstream_key},
                       {"renderer", file_identity(o.models.renderer)},
                       {"precision", o.precision},
                       {"follow_edit_mask", o.follow_edit_mask}};
    long render_resumed = 0;
    const StageOutcome r = records.run("render", r_in, [&]() -> long {
        renderer::RenderOptions ro;
        ro.workdir = work;
        ro.renderer = o.models.renderer;
        if (o.follow_edit_mask) ro.masks = (fs::path(work) / "edit_masks" / "aligned").string();
        ro.precision = o.precision;
        ro.device = o.device;
        ro.overwrite = true;
        ro.resume_key = stage_key("render", r_in);  // a killed render continues where it stopped
        std::unique_ptr<ProgressBar> b;
        const auto res = renderer::render_workdir(ro, bar_fn(b, "render"));
        render_resumed = res.frames_resumed;
        b->finish();
        return static_cast<long>(res.frames_rendered);
    });
    note("render", r);
    result.render_frames_resumed = render_resumed;

    // Edited frames: valid in the track with a rendered face.
    const fs::path faces_dir = fs::path(work) / "faces";
    std::vector<uint8_t> edited(track.frames.size(), 0);
    for (size_t t = 0; t < track.frames.size(); ++t)
        edited[t] = track.frames[t].valid && fs::exists(faces_dir / frame_name(static_cast<long>(t), ".png"));
    for (size_t t = 0; t < edited.size(); ++t) {
        if (!edited[t]) continue;
        if (!result.edited_ranges.empty() && result.edited_ranges.back().second == static_cast<long>(t) - 1)
            result.edited_ranges.back().second = static_cast<long>(t);
        else
            result.edited_ranges.push_back({static_cast<long>(t), static_cast<long>(t)});
    }
    result.comment = cat("Edited with ned ", NED_VERSION, " (Neural Emotion Director): ", edit.describe(),
                         "; edited frames ", result.edited_ranges.empty() ? std::string("none") : format_ranges(result.edited_ranges),
                         " of ", track.frames.size(), ". Not original footage.");

    const StageOutcome comp = records.run(
        "composite", json{{"upstream", r.key}, {"output", fs::absolute(o.output).lexically_normal().string()},
                          {"crf", o.crf}, {"preset", o.preset}},
        [&]() -> long {
            blend::CompositeOptions co;
            co.faces_dir = faces_dir.string();
            if (o.follow_edit_mask) co.masks_dir = (fs::path(work) / "edit_masks" / "crop").string();
            co.crf = o.crf;
            co.preset = o.preset;
            co.overwrite = o.overwrite;
            co.threads = threads;
            co.metadata["comment"] = result.comment;
            ProgressBar b("composite", static_cast<long>(track.frames.size()));
            result.edited = blend::composite_video(o.input, track, o.output, co, b.fn());
            b.finish();
            return static_cast<long>(track.frames.size());
        },
        /*always=*/true);
    note("composite", comp);

    if (!o.preview.empty()) {
        const auto t0 = std::chrono::steady_clock::now();
        const long n = write_preview(o.input, o.output, o.preview, o.crf, o.preset, o.overwrite);
        result.stages.push_back(
            {"preview", false, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), n, {}});
    }

    // 5. Summary and report.
    const auto counts = detect::count_frames(track);
    result.frames = counts.frames;
    result.filled = counts.filled;
    result.passed = result.frames - result.edited;
    {
        const auto src = recon::load_reconstruction(recon_path);
        const auto dst = recon::load_reconstruction(edited_path);
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
    result.total_wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    if (!o.report.empty()) {
        json stages = json::array();
        for (const auto& s : result.stages)
            stages.push_back({{"stage", s.name},
                              {"skipped", s.skipped},
                              {"wall_s", s.wall_s},
                              {"frames", s.frames},
                              {"fps", number_or_null(s.wall_s > 0 ? s.frames / s.wall_s : NAN)},
                              {"key", s.key}});
        json ranges = json::array();
        for (const auto& [a, b] : result.edited_ranges) ranges.push_back({a, b});
        const json rep = {{"format", "ned.translate_report"},
                          {"version", 1},
                          {"ned_version", NED_VERSION},
                          {"input", o.input},
                          {"output", o.output},
                          {"edit", edit.describe()},
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
    return result;
}

}  // namespace ned::pipeline
