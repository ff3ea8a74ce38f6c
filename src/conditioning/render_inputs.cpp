// `ned render-inputs` library side: streams the valid frames of a work folder through ConditioningRenderer in
// batches and writes the aligned conditioning PNGs (+ manifest, + optional preview video).
#include "ned/conditioning/render_inputs.hpp"

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <thread>

#include "ned/core/error.hpp"
#include "ned/core/fault.hpp"
#include "ned/core/parallel.hpp"
#include "ned/core/fs_util.hpp"
#include "ned/core/image_io.hpp"
#include "ned/core/output_dir.hpp"
#include "ned/core/log.hpp"
#include "ned/core/torch_util.hpp"
#include "ned/face/alignment.hpp"
#include "ned/face/crop.hpp"
#include "ned/face/face_mask.hpp"
#include "ned/face/face_track.hpp"
#include "ned/io/video.hpp"
#include "ned/recon/deca.hpp"
#include "ned/recon/flame.hpp"
#include "ned/recon/reconstruction.hpp"
#include "ned/conditioning/conditioning.hpp"

namespace fs = std::filesystem;

namespace ned::conditioning {
void RenderInputsOptions::validate() const {
    if (flame.empty()) throw OptionError("RenderInputsOptions::flame", ": a FLAME asset is required");
    if (batch <= 0) throw OptionError("RenderInputsOptions::batch", cat(" must be >= 1 (got ", batch, ")"));
    if (threads < 0) throw OptionError("RenderInputsOptions::threads", cat(" must be >= 0 (got ", threads, ")"));
}

namespace {

constexpr const char* kFormat = "ned.conditioning";
constexpr int kVersion = 1;
const char* const kKinds[3] = {"nmfc", "shape", "eyes"};

void write_png(const std::string& path, const cv::Mat& img) {
    AtomicFile f(path, /*overwrite=*/true);
    write_image(f.temp_path(), img, "[render] conditioning image", path);
    f.commit();
}

}  // namespace

cv::Mat edit_mask(const cv::Mat& source_mask, const cv::Mat& nmfc) {
    NED_CHECK(source_mask.type() == CV_8UC1 && nmfc.type() == CV_8UC3 && source_mask.size() == nmfc.size(),
              "edit_mask: a u8 grey mask and a BGR NMFC image of one size");
    std::vector<cv::Mat> ch;
    cv::split(nmfc, ch);
    const cv::Mat coverage = cv::max(cv::max(ch[0], ch[1]), ch[2]) > 0;
    return cv::max(source_mask > 127, coverage);
}

void draw_edit_mask(cv::Mat& img, const cv::Mat& source_mask, const cv::Mat& nmfc) {
    NED_CHECK(img.type() == CV_8UC3 && img.size() == nmfc.size(), "draw_edit_mask: BGR u8 image of the NMFC's size");
    const cv::Mat src = source_mask > 127, all = edit_mask(source_mask, nmfc);
    const cv::Mat added = all & ~src;
    cv::Mat tinted;
    cv::addWeighted(img, 0.5, cv::Mat(img.size(), img.type(), cv::Scalar(0, 0, 255)), 0.5, 0.0, tinted);
    tinted.copyTo(img, added);
    std::vector<std::vector<cv::Point>> contours;
    cv::findContours(all.clone(), contours, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_NONE);
    cv::drawContours(img, contours, -1, cv::Scalar(0, 0, 255), 1);
    contours.clear();
    cv::findContours(src.clone(), contours, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_NONE);
    cv::drawContours(img, contours, -1, cv::Scalar(0, 255, 0), 1);
}

std::vector<int64_t> frames_to_render(const face::FaceTrack& track, const recon::Reconstruction& rec) {
    std::vector<int64_t> frames;
    const int64_t n = std::min<int64_t>(rec.num_frames(), static_cast<int64_t>(track.frames.size()));
    for (int64_t t = 0; t < n; ++t)
        if (rec.valid[t] && track.frames[t].valid) frames.push_back(t);
    return frames;
}

namespace {

/// Where render_inputs reads and writes.
struct Paths {
    std::string track, reconstruction;
    fs::path out_dir;      ///< WORKDIR/conditioning
    std::string manifest;  ///< out_dir/conditioning.json
};

/// Checks the options; returns `eyes` as an EyeSource (auto: mesh when a reconstruction is given).
EyeSource check_options(const RenderInputsOptions& o) {
    if (o.workdir.empty() || !fs::is_directory(o.workdir))
        throw InputError(cat("[render] work folder '", o.workdir, "' does not exist"));
    o.validate();
    if (o.eyes == EyesChoice::Track) return EyeSource::Track;
    if (o.eyes == EyesChoice::Mesh) return EyeSource::Mesh;
    return o.reconstruction.empty() ? EyeSource::Track : EyeSource::Mesh;
}

/// Checks that the inputs exist and that the outputs may be written; returns the paths.
Paths plan_paths(const RenderInputsOptions& o) {
    Paths p;
    const fs::path wd(o.workdir);
    p.track = (wd / "track.safetensors").string();
    p.reconstruction = o.reconstruction.empty() ? (wd / "reconstruction.safetensors").string() : o.reconstruction;
    check_input_file(p.track, "face track");
    check_input_file(p.reconstruction, "reconstruction");
    p.out_dir = wd / "conditioning";
    p.manifest = (p.out_dir / "conditioning.json").string();
    if (fs::exists(p.manifest) && !o.overwrite)
        throw InputError(cat("[render] ", p.manifest, " already exists (use -y to overwrite)"));
    if (!o.preview.empty()) {
        check_extension(o.preview, {".mp4", ".mov", ".mkv"}, "preview video");
        check_output_path(o.preview, o.overwrite, "preview video");
    }
    return p;
}

/// The loaded track and reconstruction must belong together, and the track must be analysed.
void check_inputs(const face::FaceTrack& track, const recon::Reconstruction& rec, const Paths& p,
                  const RenderInputsOptions& o) {
    declare_input(track.source, "source video of the track");
    if (!o.preview.empty()) check_output_path(o.preview, o.overwrite, "preview video");
    if (!track.has_analysis)
        throw InputError(
            cat("[render] ", p.track, " has no analysis (landmarks, alignment, pupils); run `ned analyze`"));
    if (rec.num_frames() != static_cast<int64_t>(track.frames.size()))
        throw InputError(cat("[render] ", p.reconstruction, " has ", rec.num_frames(), " frames but ", p.track, " has ",
                             track.frames.size()));
}

// Output folders (stale PNGs of an earlier run are removed when overwriting).
// A failure or a signal before the manifest is written removes the images written so far and the folders
// this run created (OutputDir); stale crop images of an earlier run with --save-images are removed too.
void prepare_output_dirs(OutputDirs& out_dirs, const Paths& p, bool save_images) {
    if (fs::exists(p.manifest)) fs::remove(p.manifest);
    for (const char* k : kKinds) out_dirs.add((p.out_dir / k).string(), true);
    for (const char* k : kKinds) {
        if (save_images)
            out_dirs.add((p.out_dir / "crop" / k).string(), true);
        else
            remove_files_with_extension((p.out_dir / "crop" / k).string(), ".png");
    }
}

/// The optional preview video: aligned crop | NMFC | shape | eyes, one panel row per source frame (black where
/// the frame was not rendered).
class Preview {
public:
    Preview(const RenderInputsOptions& o, const face::FaceTrack& track) : o_(o), track_(track), S_(track.crop_size) {
        if (o.preview.empty()) return;
        reader_ = std::make_unique<io::VideoReader>(track.source);
        io::VideoInfo info = reader_->info();
        info.width = info.display_width = 4 * S_;
        info.height = info.display_height = S_;
        info.rotation = 0;
        file_ = std::make_unique<AtomicFile>(o.preview, o.overwrite);
        io::VideoWriterOptions wopt;
        wopt.name = o.preview;
        wopt.copy_audio = false;
        writer_ = std::make_unique<io::VideoWriter>(file_->temp_path(), info, wopt);
    }

    /// Writes the rows of the source frames up to `last` (the rendered ones from `batch`).
    void until(int64_t last, const std::vector<ConditioningFrame>& batch) {
        if (!reader_) return;
        size_t bi = 0;
        while (next_video_ <= last && reader_->read(vframe_)) {
            cv::Mat row = cv::Mat::zeros(S_, 4 * S_, CV_8UC3);
            while (bi < batch.size() && batch[bi].frame_index < vframe_.index) ++bi;
            if (bi < batch.size() && batch[bi].frame_index == vframe_.index) draw_row(row, batch[bi]);
            io::Frame out;
            out.bgr = row;
            out.index = vframe_.index;
            out.pts = vframe_.pts;
            out.time_s = vframe_.time_s;
            writer_->write(out);
            ++next_video_;
        }
    }

    /// The remaining rows (the track's frames only), then the file is put in place.
    void finish() {
        if (!writer_) return;
        until(static_cast<int64_t>(track_.frames.size()) - 1, {});
        writer_->finish();
        writer_.reset();
        file_->commit();
    }

private:
    void draw_row(cv::Mat& row, const ConditioningFrame& cf) const {
        const int S = S_;
        const auto& ff = track_.frames[vframe_.index];
        cv::Mat crop = crop_to_aligned(face::extract_crop(vframe_.bgr, ff, S), ff.align, S);
        // the source face mask as the renderer and the pipeline take it: WORKDIR/masks (segmentation or
        // --save-images) when present, else the landmark mask; aligned with nearest
        cv::Mat src;
        const fs::path mp = fs::path(o_.workdir) / "masks" / frame_name(vframe_.index, ".png");
        if (fs::is_regular_file(mp)) src = read_image(mp.string(), cv::IMREAD_GRAYSCALE, "mask");
        if (src.empty() || src.size() != cv::Size(S, S))
            src = track_.has_analysis ? face::landmark_face_mask(ff.landmarks, S) : cv::Mat();
        if (!src.empty()) draw_edit_mask(crop, face::warp_to_aligned(src, ff.align, /*nearest=*/true), cf.nmfc);
        crop.copyTo(row.colRange(0, S));
        cf.nmfc.copyTo(row.colRange(S, 2 * S));
        cf.shape.copyTo(row.colRange(2 * S, 3 * S));
        cf.eyes.copyTo(row.colRange(3 * S, 4 * S));
    }

    const RenderInputsOptions& o_;
    const face::FaceTrack& track_;
    const int S_;
    std::unique_ptr<io::VideoReader> reader_;
    std::unique_ptr<io::VideoWriter> writer_;
    std::unique_ptr<AtomicFile> file_;
    io::Frame vframe_;
    int64_t next_video_ = 0;
};

/// A batch's aligned images (and with --save-images the crop-space ones), frames in parallel.
void write_batch(const std::vector<ConditioningFrame>& batch, const fs::path& out_dir, bool save_images, int threads) {
    parallel_for(static_cast<int64_t>(batch.size()), threads, [&](int64_t i) {
        const auto& cf = batch[i];
        const std::string name = frame_name(cf.frame_index, ".png");
        write_png((out_dir / "nmfc" / name).string(), cf.nmfc);
        write_png((out_dir / "shape" / name).string(), cf.shape);
        write_png((out_dir / "eyes" / name).string(), cf.eyes);
        if (save_images) {
            write_png((out_dir / "crop" / "nmfc" / name).string(), cf.nmfc_crop);
            write_png((out_dir / "crop" / "shape" / name).string(), cf.shape_crop);
            write_png((out_dir / "crop" / "eyes" / name).string(), cf.eyes_crop);
        }
    });
}

/// WORKDIR/conditioning/conditioning.json: what was rendered, and how.
void write_manifest(const Paths& p, const RenderInputsOptions& o, const recon::Reconstruction& rec, int crop_size,
                    const std::vector<int64_t>& frames, bool detailed, const std::string& why_coarse, EyeSource eyes) {
    nlohmann::json j;
    j["format"] = kFormat;
    j["version"] = kVersion;
    j["crop_size"] = crop_size;
    j["space"] = "aligned";
    j["frames"] = frames;
    j["shape"] = detailed ? "detailed" : "coarse";
    j["shape_note"] = detailed ? "DECA detail normals (D_detail + fixed displacement)" : why_coarse;
    j["eyes"] = eyes == EyeSource::Track ? "track" : "mesh";
    j["reconstruction"] = p.reconstruction;
    j["method"] = rec.method;
    j["flame"] = o.flame;
    j["deca"] = o.deca;
    j["crop_images"] = o.save_images;
    AtomicFile f(p.manifest, /*overwrite=*/true);
    std::ofstream os(f.temp_path());
    os << j.dump(2) << "\n";
    os.close();
    if (!os) throw IoError(cat("[render] could not write ", p.manifest));
    f.commit();
}

}  // namespace

RenderInputsResult render_inputs(const RenderInputsOptions& o, const ProgressFn& progress) {
    const EyeSource eyes = check_options(o);
    const Paths paths = plan_paths(o);
    const face::FaceTrack track = face::load_track(paths.track);
    const recon::Reconstruction rec = recon::load_reconstruction(paths.reconstruction);
    check_inputs(track, rec, paths, o);

    const torch::Device device = resolve_device(o.device);
    const recon::FlameModel flame = recon::FlameModel::load(o.flame, device);
    std::optional<recon::DecaModel> deca;
    if (!o.deca.empty()) deca = recon::DecaModel::load(o.deca, device);
    ConditioningOptions copt;
    copt.crop_size = track.crop_size;
    copt.eyes = eyes;
    copt.keep_crop_images = o.save_images;
    copt.threads = o.threads > 0 ? o.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    copt.deca.raster.threads = 1;  // parallel across frames instead
    ConditioningRenderer renderer(flame, deca ? &*deca : nullptr, copt);
    std::string why_coarse;
    const bool detailed = renderer.detailed_for(rec, &why_coarse);
    if (!detailed) NED_LOG_WARN("[render] shape images are coarse (vertex normals): {}", why_coarse);

    const std::vector<int64_t> valid = frames_to_render(track, rec);
    if (valid.empty()) NED_LOG_WARN("[render] no frame has both a face and parameters; nothing to render");
    OutputDirs out_dirs;
    prepare_output_dirs(out_dirs, paths, o.save_images);
    Preview preview(o, track);

    const int64_t total = static_cast<int64_t>(valid.size());
    int64_t done = 0;
    for (int64_t start = 0; start < total; start += o.batch) {
        const std::vector<int64_t> frames(valid.begin() + start,
                                          valid.begin() + std::min<int64_t>(total, start + o.batch));
        const std::vector<ConditioningFrame> batch = renderer.render(track, rec, frames);
        write_batch(batch, paths.out_dir, o.save_images, copt.threads);
        preview.until(frames.back(), batch);
        done += static_cast<int64_t>(batch.size());
        fault_point("render_inputs.frames_done", done);  // the failure tests (ned/core/fault.hpp)
        if (progress) progress(done, total);
    }
    preview.finish();
    write_manifest(paths, o, rec, track.crop_size, valid, detailed, why_coarse, eyes);
    out_dirs.commit();
    NED_LOG_INFO("[render] wrote conditioning images of {} frames to {} (shape {}, eyes {})", total,
                 paths.out_dir.string(), detailed ? "detailed" : "coarse", eyes == EyeSource::Track ? "track" : "mesh");
    RenderInputsResult r;
    r.frames_rendered = total;
    r.detailed = detailed;
    r.output_dir = paths.out_dir.string();
    return r;
}

}  // namespace ned::conditioning
