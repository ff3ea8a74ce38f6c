// `ned analyze` library side: one streaming pass of landmarks, alignment, pupils, masks over a face track.
#include "ned/analysis/analyze.hpp"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <thread>

#include "ned/core/error.hpp"
#include "ned/core/fs_util.hpp"
#include "ned/core/image_io.hpp"
#include "ned/core/output_dir.hpp"
#include "ned/core/torch_util.hpp"
#include "ned/core/log.hpp"
#include "ned/face/alignment.hpp"
#include "ned/face/crop.hpp"
#include "ned/face/eye_image.hpp"
#include "ned/track/face_detector.hpp"
#include "ned/analysis/pupils.hpp"
#include "ned/analysis/segmentation.hpp"
#include "ned/facenet/facenet.hpp"
#include "ned/io/video.hpp"

namespace fs = std::filesystem;

namespace ned::analysis {

namespace {
CropAnalysis finish_analysis(CropAnalysis a, const cv::Mat& crop_bgr) {
    a.align = face::align_transform(a.averaged, crop_bgr.cols);
    a.aligned = face::transform_landmarks(a.averaged, a.align);
    a.pupils = estimate_pupils(crop_bgr, a.single);
    return a;
}
}  // namespace

CropAnalysis analyze_crop(const FaceLandmarker& landmarker, const cv::Mat& crop_bgr, const cv::Rect2f& rect,
                          float detector_yaw_deg) {
    const LandmarkResult r = landmarker.landmark(crop_bgr, rect, detector_yaw_deg);
    CropAnalysis a;
    a.single = r.single;
    a.averaged = r.averaged;
    a.source = r.source;
    a.yaw_deg = r.yaw_deg;
    return finish_analysis(std::move(a), crop_bgr);
}

CropAnalysis analyze_crop(const track::LandmarkDetector& detector, const cv::Mat& crop_bgr, const cv::Rect2f& rect,
                          bool multisample, int shift) {
    CropAnalysis a;
    if (multisample) {
        a.averaged = detector.landmark_multisample(crop_bgr, rect, shift, &a.single);
    } else {
        a.single = detector.landmark(crop_bgr, rect);
        a.averaged = a.single;
    }
    a.yaw_deg = yaw_from_landmarks(a.averaged);
    return finish_analysis(std::move(a), crop_bgr);
}

face::FaceFrame face_frame_from_detection(const cv::Vec4f& hog_box, int crop_size, float margin) {
    face::FaceFrame f;
    f.valid = f.detected = true;
    f.box = face::make_square(track::hog_to_ned_box(hog_box));
    f.crop_to_frame = face::crop_transform(f.box, crop_size, margin);
    return f;
}

namespace {

int resolve_workers(int requested) {
    if (requested > 0) return requested;
    return std::max(1u, std::thread::hardware_concurrency());
}

void write_png(const std::string& path, const cv::Mat& img) { write_image(path, img, "image"); }

cv::Point2f to_frame(const cv::Matx23f& m, cv::Point2f p) {
    return {m(0, 0) * p.x + m(0, 1) * p.y + m(0, 2), m(1, 0) * p.x + m(1, 1) * p.y + m(1, 2)};
}

void draw_preview(cv::Mat& frame, const face::FaceFrame& f, const cv::Mat& mask) {
    const int thick = std::max(1, frame.cols / 640);
    const cv::Scalar box_col = f.detected ? cv::Scalar(0, 255, 0) : cv::Scalar(0, 165, 255);
    cv::rectangle(frame, cv::Point2f(f.box[0], f.box[1]), cv::Point2f(f.box[2], f.box[3]), box_col, thick, cv::LINE_AA);
    if (!mask.empty()) {
        std::vector<std::vector<cv::Point>> contours;
        cv::findContours(mask, contours, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_SIMPLE);
        for (auto& c : contours)
            for (auto& p : c) p = to_frame(f.crop_to_frame, cv::Point2f(p));
        cv::polylines(frame, contours, true, cv::Scalar(0, 255, 255), thick, cv::LINE_AA);
    }
    const float s = f.crop_to_frame(0, 0);
    const int r = std::max(1, static_cast<int>(std::lround(1.5f * s)));
    // the models behind the frame (issue 22): magenta points where they are not dlib's
    const cv::Scalar pts_col =
        f.landmark_source == face::LandmarkSource::Dlib ? cv::Scalar(255, 255, 0) : cv::Scalar(255, 80, 255);
    for (const auto& p : f.landmarks) cv::circle(frame, to_frame(f.crop_to_frame, p), r, pts_col, -1, cv::LINE_AA);
    const std::string label = cat(f.detected ? face::source_name(f.detector) : "filled", " / ",
                                  face::landmark_source_name(f.landmark_source), " yaw ", std::lround(f.yaw_deg));
    const double fs = 0.5 * thick;
    const cv::Point at(static_cast<int>(f.box[0]), std::max(12 * thick, static_cast<int>(f.box[1]) - 4 * thick));
    cv::putText(frame, label, at, cv::FONT_HERSHEY_SIMPLEX, fs, cv::Scalar(0, 0, 0), 3 * thick, cv::LINE_AA);
    cv::putText(frame, label, at, cv::FONT_HERSHEY_SIMPLEX, fs, pts_col, thick, cv::LINE_AA);
    for (const auto& p : f.pupils)
        cv::circle(frame, to_frame(f.crop_to_frame, p), 2 * r + 1, cv::Scalar(0, 0, 255), -1, cv::LINE_AA);
}

struct Job {
    io::Frame frame;
    cv::Mat mask;  // crop-space mask (empty = none)
};

/// The image folders a pass writes (empty: not written).
struct ImageDirs {
    std::string crops, aligned, eyes, masks;
};

// Image folders: created if missing; existing frame PNGs are refused without overwrite and removed with it.
// Until the analysis completes, a failure or a signal removes the images written so far (OutputDir).
ImageDirs add_image_dirs(OutputDirs& out_dirs, const std::string& workdir, const AnalyzeOptions& options,
                         bool want_masks) {
    ImageDirs d;
    auto add_dir = [&](const char* name) {
        return out_dirs.add((fs::path(workdir) / name).string(), options.overwrite);
    };
    if (options.save_images) {
        d.crops = add_dir("crops");
        d.aligned = add_dir("aligned");
        d.eyes = add_dir("eyes");
    }
    if (want_masks) d.masks = add_dir("masks");
    return d;
}

/// The streaming pass over the video: batches of frames analysed by `workers` threads while the next batch is
/// decoded, then the masks and the preview frames written in frame order.
class AnalysisPass {
public:
    AnalysisPass(face::FaceTrack& track, const FaceLandmarker& landmarker, FaceSegmenter* segmenter,
                 const AnalyzeOptions& options, const ImageDirs& dirs, io::VideoReader& reader,
                 io::VideoWriter* preview, int workers)
        : track_(track), landmarker_(landmarker), segmenter_(segmenter), options_(options), dirs_(dirs),
          reader_(reader), preview_(preview), workers_(workers), errors_(workers) {}

    /// Runs the pass; returns the frames decoded.
    long run(const ProgressFn& progress) {
        std::vector<Job> current, next;
        read_batch(current);
        while (!current.empty()) {
            std::vector<std::thread> pool = start_batch(current);
            try {
                read_batch(next);  // decode the next batch while the workers run
            } catch (...) {
                for (auto& t : pool) t.join();
                throw;
            }
            for (auto& t : pool) t.join();
            for (auto& e : errors_)
                if (e) std::rethrow_exception(e);
            finish_batch(current, progress);
            std::swap(current, next);
        }
        return done_;
    }

private:
    bool want_masks() const { return !dirs_.masks.empty(); }

    /// One frame (on a worker): landmarks, alignment, pupils into the track; its mask, images and preview marks.
    void process(Job& job) {
        const int cs = track_.crop_size;
        const long i = job.frame.index;
        if (i < 0 || i >= total_) return;
        face::FaceFrame& f = track_.frames[i];
        if (!f.valid) return;
        const cv::Mat crop = face::extract_crop(job.frame.bgr, f, cs);
        const CropAnalysis a = analyze_crop(landmarker_, crop, track::predictor_rect(f), f.detector_yaw_deg);
        f.landmarks = a.single;
        f.aligned_landmarks = a.aligned;
        f.align = a.align;
        f.pupils = a.pupils;
        f.landmark_source = a.source;
        f.yaw_deg = a.yaw_deg;
        if (segmenter_) {
            job.mask = segmenter_->segment(crop);
        } else if (want_masks() || preview_) {
            job.mask = face::landmark_face_mask(f.landmarks, cs, options_.mask);
        }
        if (options_.save_images) {
            const std::string name = frame_name(i, ".png");
            write_png(dirs_.crops + "/" + name, crop);
            write_png(dirs_.aligned + "/" + name, face::warp_to_aligned(crop, f.align));
            write_png(dirs_.eyes + "/" + name, face::frame_eye_image(f, cs, true));
        }
        if (preview_) draw_preview(job.frame.bgr, f, job.mask);
    }

    void read_batch(std::vector<Job>& jobs) {
        jobs.clear();
        while (!ended_ && jobs.size() < batch_) {
            Job j;
            if (!reader_.read(j.frame)) {
                ended_ = true;
                break;
            }
            if (j.frame.index >= total_) {  // track built with max_frames: stop there
                ended_ = true;
                break;
            }
            jobs.push_back(std::move(j));
        }
    }

    /// Starts the workers on `jobs` (worker w takes every workers-th job); a worker's error is kept in errors_.
    std::vector<std::thread> start_batch(std::vector<Job>& jobs) {
        std::vector<std::thread> pool;
        for (int w = 0; w < workers_; ++w) {
            pool.emplace_back([&, w] {
                try {
                    for (size_t k = w; k < jobs.size(); k += workers_) process(jobs[k]);
                } catch (...) {
                    errors_[w] = std::current_exception();
                }
            });
        }
        return pool;
    }

    void finish_batch(std::vector<Job>& jobs, const ProgressFn& progress) {
        for (auto& job : jobs) {
            const long i = job.frame.index;
            if (want_masks() && i < total_ && track_.frames[i].valid) {
                // A frame without a mask takes the previous frame's (NED segment_face.py).
                if (cv::countNonZero(job.mask) == 0 && !prev_mask_.empty()) job.mask = prev_mask_;
                if (cv::countNonZero(job.mask) > 0) prev_mask_ = job.mask;
                write_png(dirs_.masks + "/" + frame_name(i, ".png"), job.mask);
            }
            if (preview_) preview_->write(job.frame);
        }
        done_ += static_cast<long>(jobs.size());
        if (progress) progress(done_, total_);
    }

    face::FaceTrack& track_;
    const FaceLandmarker& landmarker_;
    FaceSegmenter* segmenter_;
    const AnalyzeOptions& options_;
    const ImageDirs& dirs_;
    io::VideoReader& reader_;
    io::VideoWriter* preview_;
    const int workers_;
    const size_t batch_ = static_cast<size_t>(std::max(8, 4 * workers_));
    const long total_ = static_cast<long>(track_.frames.size());
    std::vector<std::exception_ptr> errors_;
    cv::Mat prev_mask_;
    long done_ = 0;
    bool ended_ = false;
};

}  // namespace

void AnalyzeOptions::validate() const {
    if (multisample_shift < 0)
        throw OptionError("AnalyzeOptions::multisample_shift", cat(" must be >= 0 (got ", multisample_shift, ")"));
    if (threads < 0) throw OptionError("AnalyzeOptions::threads", cat(" must be >= 0 (got ", threads, ")"));
    mask.validate();
}

void analyze_track(face::FaceTrack& track, const std::string& video_path, const std::string& workdir,
                   const AnalyzeOptions& options, const ProgressFn& progress) {
    const track::LandmarkDetector detector(options.landmark_model);
    analyze_track(track, detector, video_path, workdir, options, progress);
}

void analyze_track(face::FaceTrack& track, const track::LandmarkDetector& detector, const std::string& video_path,
                   const std::string& workdir, const AnalyzeOptions& options, const ProgressFn& progress,
                   FaceSegmenter* loaded_segmenter) {
    options.validate();
    FaceLandmarkerOptions lo;
    lo.mode = options.landmarks;
    lo.multisample = options.multisample;
    lo.multisample_shift = options.multisample_shift;
    const FaceLandmarker landmarker(detector, lo);
    std::unique_ptr<FaceSegmenter> own;
    FaceSegmenter* segmenter = loaded_segmenter;
    if (!segmenter && !options.segmentation_model.empty()) {
        own = std::make_unique<FaceSegmenter>(options.segmentation_model);
        segmenter = own.get();
    }

    const bool want_masks = options.save_images || segmenter;
    OutputDirs out_dirs;
    const ImageDirs dirs = add_image_dirs(out_dirs, workdir, options, want_masks);

    io::VideoReader reader(video_path);
    std::unique_ptr<AtomicFile> preview_file;
    std::unique_ptr<io::VideoWriter> preview;
    if (!options.preview_path.empty()) {
        preview_file = std::make_unique<AtomicFile>(options.preview_path, options.overwrite);
        io::VideoWriterOptions wo;
        wo.name = options.preview_path;
        wo.crf = 23;
        wo.preset = "veryfast";
        preview = std::make_unique<io::VideoWriter>(preview_file->temp_path(), reader.info(), wo);
    }

    const int workers = resolve_workers(options.threads);
    // FaceMesh / face-api run on `workers` frame workers at once: each single-threaded (ScopedTorchThreads)
    std::optional<ScopedTorchThreads> torch_threads;
    if (workers > 1) torch_threads.emplace(1);
    const long total = static_cast<long>(track.frames.size());
    AnalysisPass pass(track, landmarker, segmenter, options, dirs, reader, preview.get(), workers);
    const long done = pass.run(progress);
    if (done < total) {
        NED_LOG_WARN("[analyze] {}: decoded {} frames but the track has {}; the rest are marked invalid", video_path,
                     done, total);
        for (long i = done; i < total; ++i) track.frames[i].valid = false;
    }
    if (preview) {
        preview->finish();
        preview_file->commit();
        NED_LOG_INFO("[analyze] wrote preview {}", options.preview_path);
    }
    track.has_analysis = true;
    out_dirs.commit();
}

namespace {

/// analyze_video's outputs may be written: the work folder (or its parent), the track file and the preview.
void check_outputs(const std::string& workdir, bool workdir_existed, const std::string& track_path,
                   const AnalyzeOptions& options) {
    if (workdir_existed && !fs::is_directory(workdir))
        throw InputError(cat("work folder ", workdir, " is not a folder"));
    if (!workdir_existed) {
        const fs::path parent = fs::path(workdir).has_parent_path() ? fs::path(workdir).parent_path() : fs::path(".");
        if (!fs::is_directory(parent))
            throw InputError(cat("work folder ", workdir, ": parent folder '", parent.string(), "' does not exist"));
    }
    if (workdir_existed)
        check_output_path(track_path, options.overwrite, "track file");
    else
        check_not_input(track_path, "track file");
    if (!options.preview_path.empty()) {
        check_extension(options.preview_path, {".mp4", ".mov", ".mkv"}, "preview video");
        // A preview inside the work folder this run will create (`analyze in.mp4 work --preview work/a.mp4`)
        // is fully checked when it is opened, after the folder exists.
        std::error_code ec;
        const fs::path pdir = fs::path(options.preview_path).parent_path();
        const bool in_new_workdir =
            !workdir_existed && !pdir.empty() &&
            fs::weakly_canonical(fs::absolute(pdir), ec) == fs::weakly_canonical(fs::absolute(workdir), ec);
        if (in_new_workdir)
            check_not_input(options.preview_path, "preview video");
        else
            check_output_path(options.preview_path, options.overwrite, "preview video");
    }
}

}  // namespace

face::FaceTrack analyze_video(const std::string& video_path, const std::string& workdir, const AnalyzeOptions& options,
                              const ProgressFn& track_progress, const ProgressFn& analyze_progress) {
    options.validate();
    check_input_file(video_path, "input video");
    // Models first: a missing or invalid model is a ModelError before any decoding.
    const track::LandmarkDetector detector(options.landmark_model);
    if (options.landmarks != LandmarkMode::Dlib) {
        // FaceMesh's and face-api's files too: loaded once here (~0.1 s) so that a missing or damaged one is a
        // ModelError now, not after the tracking pass
        FaceLandmarkerOptions lo;
        lo.mode = options.landmarks;
        (void)FaceLandmarker(detector, lo);
    }
    std::unique_ptr<FaceSegmenter> segmenter;
    if (!options.segmentation_model.empty()) segmenter = std::make_unique<FaceSegmenter>(options.segmentation_model);
    // The work folder is created only once the video has proved readable and to hold a face; a folder this run
    // created is removed again if the analysis fails.
    const bool workdir_existed = fs::exists(workdir);
    const std::string track_path = (fs::path(workdir) / "track.safetensors").string();
    check_outputs(workdir, workdir_existed, track_path, options);

    const auto t0 = std::chrono::steady_clock::now();
    track::TrackOptions to = options.track;
    if (to.threads == 0) to.threads = options.threads;
    face::FaceTrack track = track::build_track(video_path, to, track_progress);
    if (track.num_valid() == 0) throw InputError(cat("no face found in ", video_path));
    struct RemoveCreated {
        std::string dir;
        bool armed = false;
        ~RemoveCreated() {
            std::error_code ec;
            if (armed) fs::remove_all(dir, ec);
        }
    } remove_created{workdir};
    std::unique_ptr<OutputDir> created;  // also removes the folder on a signal (when it is empty by then)
    if (!workdir_existed) {
        created = std::make_unique<OutputDir>(workdir, false, ".png", "work folder");
        remove_created.armed = true;
    }
    const auto t1 = std::chrono::steady_clock::now();
    analyze_track(track, detector, video_path, workdir, options, analyze_progress, segmenter.get());
    const auto t2 = std::chrono::steady_clock::now();
    face::save_track(track_path, track);
    remove_created.armed = false;
    if (created) created->commit();
    const double s_track = std::chrono::duration<double>(t1 - t0).count();
    const double s_an = std::chrono::duration<double>(t2 - t1).count();
    NED_LOG_INFO("[analyze] {} frames ({} with a face): track {:.1f} s, analysis {:.1f} s ({:.1f} frames/s); wrote {}",
                 track.frames.size(), track.num_valid(), s_track, s_an, s_an > 0 ? track.frames.size() / s_an : 0.0,
                 track_path);
    return track;
}

}  // namespace ned::analysis
