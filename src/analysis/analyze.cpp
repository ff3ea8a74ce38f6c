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
    cv::rectangle(frame, cv::Point2f(f.box[0], f.box[1]), cv::Point2f(f.box[2], f.box[3]), box_col, thick,
                  cv::LINE_AA);
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
    const cv::Scalar pts_col = f.landmark_source == face::LandmarkSource::Dlib ? cv::Scalar(255, 255, 0) : cv::Scalar(255, 80, 255);
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
    cv::Mat mask;   // crop-space mask (empty = none)
};

}  // namespace

void analyze_track(face::FaceTrack& track, const std::string& video_path, const std::string& workdir,
                   const AnalyzeOptions& options, const ProgressFn& progress) {
    const track::LandmarkDetector detector(options.landmark_model);
    analyze_track(track, detector, video_path, workdir, options, progress);
}

void analyze_track(face::FaceTrack& track, const track::LandmarkDetector& detector, const std::string& video_path,
                   const std::string& workdir, const AnalyzeOptions& options, const ProgressFn& progress,
                   FaceSegmenter* loaded_segmenter) {
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
    std::string crops_dir, aligned_dir, eyes_dir, masks_dir;
    // Image folders: created if missing; existing frame PNGs are refused without overwrite and removed with it.
    // Until the analysis completes, a failure or a signal removes the images written so far (OutputDir).
    OutputDirs out_dirs;
    auto add_dir = [&](const char* name) { return out_dirs.add((fs::path(workdir) / name).string(), options.overwrite); };
    if (options.save_images) {
        crops_dir = add_dir("crops");
        aligned_dir = add_dir("aligned");
        eyes_dir = add_dir("eyes");
    }
    if (want_masks) masks_dir = add_dir("masks");

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
    const size_t batch = static_cast<size_t>(std::max(8, 4 * workers));
    const long total = static_cast<long>(track.frames.size());
    const int cs = track.crop_size;
    cv::Mat prev_mask;
    long done = 0;
    bool ended = false;

    auto process = [&](Job& job) {
        const long i = job.frame.index;
        if (i < 0 || i >= total) return;
        face::FaceFrame& f = track.frames[i];
        if (!f.valid) return;
        const cv::Mat crop = face::extract_crop(job.frame.bgr, f, cs);
        const CropAnalysis a = analyze_crop(landmarker, crop, track::predictor_rect(f), f.detector_yaw_deg);
        f.landmarks = a.single;
        f.aligned_landmarks = a.aligned;
        f.align = a.align;
        f.pupils = a.pupils;
        f.landmark_source = a.source;
        f.yaw_deg = a.yaw_deg;
        if (segmenter) {
            job.mask = segmenter->segment(crop);
        } else if (want_masks || preview) {
            job.mask = face::landmark_face_mask(f.landmarks, cs, options.mask);
        }
        if (options.save_images) {
            const std::string name = frame_name(i, ".png");
            write_png(crops_dir + "/" + name, crop);
            write_png(aligned_dir + "/" + name, face::warp_to_aligned(crop, f.align));
            write_png(eyes_dir + "/" + name, face::frame_eye_image(f, cs, true));
        }
        if (preview) draw_preview(job.frame.bgr, f, job.mask);
    };

    auto read_batch = [&](std::vector<Job>& jobs) {
        jobs.clear();
        while (!ended && jobs.size() < batch) {
            Job j;
            if (!reader.read(j.frame)) {
                ended = true;
                break;
            }
            if (j.frame.index >= total) {  // track built with max_frames: stop there
                ended = true;
                break;
            }
            jobs.push_back(std::move(j));
        }
    };

    std::vector<std::exception_ptr> errors(workers);
    auto run_batch = [&](std::vector<Job>& jobs) {
        std::vector<std::thread> pool;
        for (int w = 0; w < workers; ++w) {
            pool.emplace_back([&, w] {
                try {
                    for (size_t k = w; k < jobs.size(); k += workers) process(jobs[k]);
                } catch (...) {
                    errors[w] = std::current_exception();
                }
            });
        }
        return pool;
    };

    auto finish_batch = [&](std::vector<Job>& jobs) {
        for (auto& job : jobs) {
            const long i = job.frame.index;
            if (want_masks && i < total && track.frames[i].valid) {
                // A frame without a mask takes the previous frame's (NED segment_face.py).
                if (cv::countNonZero(job.mask) == 0 && !prev_mask.empty()) job.mask = prev_mask;
                if (cv::countNonZero(job.mask) > 0) prev_mask = job.mask;
                write_png(masks_dir + "/" + frame_name(i, ".png"), job.mask);
            }
            if (preview) preview->write(job.frame);
        }
        done += static_cast<long>(jobs.size());
        if (progress) progress(done, total);
    };

    std::vector<Job> current, next;
    read_batch(current);
    while (!current.empty()) {
        std::vector<std::thread> pool = run_batch(current);
        try {
            read_batch(next);  // decode the next batch while the workers run
        } catch (...) {
            for (auto& t : pool) t.join();
            throw;
        }
        for (auto& t : pool) t.join();
        for (auto& e : errors)
            if (e) std::rethrow_exception(e);
        finish_batch(current);
        std::swap(current, next);
    }
    if (done < total) {
        NED_LOG_WARN("[analyze] {}: decoded {} frames but the track has {}; the rest are marked invalid",
                     video_path, done, total);
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

face::FaceTrack analyze_video(const std::string& video_path, const std::string& workdir, const AnalyzeOptions& options,
                        const ProgressFn& track_progress, const ProgressFn& analyze_progress) {
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
    if (workdir_existed && !fs::is_directory(workdir)) throw InputError(cat("work folder ", workdir, " is not a folder"));
    if (!workdir_existed) {
        const fs::path parent = fs::path(workdir).has_parent_path() ? fs::path(workdir).parent_path() : fs::path(".");
        if (!fs::is_directory(parent))
            throw InputError(cat("work folder ", workdir, ": parent folder '", parent.string(), "' does not exist"));
    }
    const std::string track_path = (fs::path(workdir) / "track.safetensors").string();
    if (workdir_existed) check_output_path(track_path, options.overwrite, "track file");
    else check_not_input(track_path, "track file");
    if (!options.preview_path.empty()) {
        check_extension(options.preview_path, {".mp4", ".mov", ".mkv"}, "preview video");
        // A preview inside the work folder this run will create (`analyze in.mp4 work --preview work/a.mp4`)
        // is fully checked when it is opened, after the folder exists.
        std::error_code ec;
        const fs::path pdir = fs::path(options.preview_path).parent_path();
        const bool in_new_workdir = !workdir_existed && !pdir.empty() &&
                                    fs::weakly_canonical(fs::absolute(pdir), ec) ==
                                        fs::weakly_canonical(fs::absolute(workdir), ec);
        if (in_new_workdir) check_not_input(options.preview_path, "preview video");
        else check_output_path(options.preview_path, options.overwrite, "preview video");
    }

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
                 track.frames.size(), track.num_valid(), s_track, s_an,
                 s_an > 0 ? track.frames.size() / s_an : 0.0, track_path);
    return track;
}

}  // namespace ned::analysis
