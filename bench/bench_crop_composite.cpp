// Benchmark of `crop` (track: decode + dlib HOG detection + smoothing; crop images) and `composite`
// (decode + blend + paste + libx264 encode) on one video, and the round trip's PSNR over the face boxes (the
// input against the output with the crops pasted back). Not a test.
//   bench_crop_composite [VIDEO] [--threads N] [--preset P] [--crop-size S] [--margin M] [--max-frames N]
// Default VIDEO: ../shared/data/video/wav2lip-gfpgan__kim_7s_raw.mp4 (1920x1080, 223 frames).
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>

#include <sys/resource.h>
#include <unistd.h>

#include <cmath>

#include <opencv2/core.hpp>

#include "ned/blend/composite.hpp"
#include "ned/face/crop.hpp"
#include "ned/io/video.hpp"
#include "ned/track/crop_images.hpp"
#include "ned/track/face_tracker.hpp"

namespace fs = std::filesystem;

namespace {

/// PSNR (dB, 8-bit) of `out` against `in` over the tracked face boxes (clipped to the frame) of the valid frames.
double face_psnr(const std::string& in, const std::string& out, const ned::face::FaceTrack& track) {
    ned::io::VideoReader a(in), b(out);
    ned::io::Frame fa, fb;
    double se = 0, n = 0;
    for (size_t t = 0; t < track.frames.size() && a.read(fa) && b.read(fb); ++t) {
        const auto& f = track.frames[t];
        if (!f.valid) continue;
        const cv::Rect box =
            cv::Rect(cv::Point(int(f.box[0]), int(f.box[1])), cv::Point(int(f.box[2]), int(f.box[3]))) &
            cv::Rect(0, 0, fa.bgr.cols, fa.bgr.rows);
        cv::Mat d;
        cv::subtract(fa.bgr(box), fb.bgr(box), d, cv::noArray(), CV_64F);
        se += d.dot(d);
        n += static_cast<double>(box.area()) * 3;
    }
    return 10 * std::log10(255.0 * 255.0 / std::max(1e-12, se / std::max(1.0, n)));
}

}  // namespace

int main(int argc, char** argv) {
    std::string video = std::string(NED_SOURCE_DIR_BENCH) + "/../shared/data/video/wav2lip-gfpgan__kim_7s_raw.mp4";
    int threads = 0;
    std::string preset = "medium";
    ned::track::TrackOptions topts;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = std::atoi(argv[++i]);
        else if (!std::strcmp(argv[i], "--preset") && i + 1 < argc)
            preset = argv[++i];
        else if (!std::strcmp(argv[i], "--crop-size") && i + 1 < argc)
            topts.crop_size = std::atoi(argv[++i]);
        else if (!std::strcmp(argv[i], "--margin") && i + 1 < argc)
            topts.margin = static_cast<float>(std::atof(argv[++i]));
        else if (!std::strcmp(argv[i], "--max-frames") && i + 1 < argc)
            topts.max_frames = std::atol(argv[++i]);
        else
            video = argv[i];
    }
    const fs::path tmp = fs::temp_directory_path() / ("ned-bench-crop-" + std::to_string(::getpid()));
    fs::create_directories(tmp);
    using clock = std::chrono::steady_clock;
    auto secs = [](clock::time_point a) { return std::chrono::duration<double>(clock::now() - a).count(); };
    auto cpu = [] {  // process CPU seconds (user + system), all threads
        rusage u{};
        getrusage(RUSAGE_SELF, &u);
        return u.ru_utime.tv_sec + u.ru_stime.tv_sec + 1e-6 * (u.ru_utime.tv_usec + u.ru_stime.tv_usec);
    };
    try {
        topts.threads = threads;
        auto t0 = clock::now();
        double c0 = cpu();
        const auto track = ned::track::build_track(video, topts);
        const double t_track = secs(t0);
        const double n = static_cast<double>(track.frames.size());
        std::printf("video %s: %zu frames %dx%d, threads %d (hardware %u)\n", video.c_str(), track.frames.size(),
                    track.width, track.height, threads, std::thread::hardware_concurrency());
        std::printf("crop (track only)       : %6.2f s  %6.1f frames/s  cpu %5.1f ms/frame\n", t_track, n / t_track,
                    1e3 * (cpu() - c0) / n);
        ned::track::CropImagesOptions io;
        io.crops_dir = (tmp / "crops").string();
        t0 = clock::now();
        c0 = cpu();
        ned::track::save_crop_images(video, track, io);
        const double t_img = secs(t0);
        std::printf(
            "crop --save-images pass : %6.2f s  %6.1f frames/s  cpu %5.1f ms/frame  (crop incl. images: %.1f "
            "frames/s)\n",
            t_img, n / t_img, 1e3 * (cpu() - c0) / n, n / (t_track + t_img));
        ned::blend::CompositeOptions c;
        c.faces_dir = io.crops_dir;
        c.preset = preset;
        c.threads = threads;
        c.overwrite = true;
        t0 = clock::now();
        c0 = cpu();
        ned::blend::composite_video(video, track, (tmp / "out.mp4").string(), c);
        const double t_comp = secs(t0);
        std::printf("composite (preset %-6s): %6.2f s  %6.1f frames/s  cpu %5.1f ms/frame\n", preset.c_str(), t_comp,
                    n / t_comp, 1e3 * (cpu() - c0) / n);
        std::printf("round trip at crop size %d, margin %.0f: PSNR over the face boxes %.2f dB (%zu frames)\n",
                    topts.crop_size, topts.margin, face_psnr(video, (tmp / "out.mp4").string(), track),
                    track.frames.size());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_crop_composite: %s\n", e.what());
        fs::remove_all(tmp);
        return 1;
    }
    fs::remove_all(tmp);
    return 0;
}
