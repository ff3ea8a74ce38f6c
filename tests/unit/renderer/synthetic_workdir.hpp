#pragma once
// A synthetic work folder for the renderer tests: an analysed track (crop size 64, a rotation + scale
// alignment), random conditioning PNGs, crop-space masks in WORKDIR/masks/ and a small random renderer
// (synthetic_renderer.hpp, torch-only).
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "ned/core/fs_util.hpp"
#include "ned/face/face_track.hpp"
#include "ned/io/video.hpp"
#include "ned/renderer/checkpoint.hpp"
#include "unit/renderer/synthetic_renderer.hpp"

namespace ned::test {

constexpr int kSynthCrop = 64;

/// The alignment of synthetic frame t (crop -> aligned): rotation + scale + translation.
inline cv::Matx23f synthetic_align(int t) {
    const float a = 0.05f + 0.01f * t, s = 0.9f;
    return cv::Matx23f(s * std::cos(a), -s * std::sin(a), 6.f + t, s * std::sin(a), s * std::cos(a), 2.f);
}

inline face::Landmarks transform_landmarks_simple(const face::Landmarks& p, const cv::Matx23f& m) {
    face::Landmarks out;
    for (size_t k = 0; k < p.size(); ++k)
        out[k] = {m(0, 0) * p[k].x + m(0, 1) * p[k].y + m(0, 2), m(1, 0) * p[k].x + m(1, 1) * p[k].y + m(1, 2)};
    return out;
}

/// Crop-space mask of frame t: an ellipse, 0/255 (at crop size S: the 64 one scaled).
inline cv::Mat synthetic_crop_mask(int t, int S = kSynthCrop) {
    cv::Mat m = cv::Mat::zeros(S, S, CV_8UC1);
    const int k = S / kSynthCrop > 0 ? S / kSynthCrop : 1;
    cv::ellipse(m, cv::Point((32 + t % 3) * k, 34 * k), cv::Size(20 * k, 24 * k), 0, 0, 360, cv::Scalar(255),
                cv::FILLED);
    return m;
}

/// Writes WORKDIR/track.safetensors (num_frames frames, all valid), conditioning PNGs + manifest for
/// `cond_frames`, and WORKDIR/masks/, all at crop size `crop_size` (64; a multiple of 64). Returns the path of a
/// random renderer checkpoint trained at that size (WORKDIR/renderer.safetensors).
/// A 320x240 25 fps clip whose face region (frame box (100,60)-(200,160), the synthetic crop) shows a smooth
/// pattern that moves with the frame index, so aligned faces differ from frame to frame.
inline std::string write_synthetic_video(const std::string& dir, int num_frames) {
    io::VideoInfo info;
    info.width = info.display_width = 320;
    info.height = info.display_height = 240;
    info.time_base = {1, 25};
    info.frame_rate = {25, 1};
    io::VideoWriterOptions o;
    o.preset = "ultrafast";
    o.copy_audio = false;
    const std::string path = dir + "/clip.mp4";
    io::VideoWriter w(path, info, o);
    for (int i = 0; i < num_frames; ++i) {
        io::Frame f;
        f.bgr = cv::Mat(240, 320, CV_8UC3, cv::Scalar(40, 60, 80));
        cv::ellipse(f.bgr, cv::Point(150, 110), cv::Size(38, 46), 0, 0, 360, cv::Scalar(90, 140, 200), cv::FILLED);
        cv::circle(f.bgr, cv::Point(135 + i % 5, 100), 6, cv::Scalar(30, 30, 30), cv::FILLED);
        cv::circle(f.bgr, cv::Point(165 + i % 5, 100), 6, cv::Scalar(30, 30, 30), cv::FILLED);
        cv::ellipse(f.bgr, cv::Point(150, 135), cv::Size(14, 3 + i % 6), 0, 0, 360, cv::Scalar(40, 40, 160),
                    cv::FILLED);
        f.index = i;
        f.pts = i;
        w.write(f);
    }
    w.finish();
    return path;
}

inline std::string write_synthetic_workdir(const std::string& dir, int num_frames,
                                           const std::vector<int64_t>& cond_frames, bool with_discriminators = false,
                                           const std::vector<int64_t>& shot_starts = {}, bool with_video = false,
                                           int crop_size = kSynthCrop) {
    const int S = crop_size;
    const float k64 = static_cast<float>(S) / kSynthCrop;
    namespace fs = std::filesystem;
    face::FaceTrack track;
    track.source = with_video ? write_synthetic_video(dir, num_frames) : dir + "/missing.mp4";
    track.width = 320;
    track.height = 240;
    track.fps_num = 25;
    track.crop_size = S;
    track.has_analysis = true;
    track.frames.resize(num_frames);
    for (int t = 0; t < num_frames; ++t) {
        auto& f = track.frames[t];
        f.valid = f.detected = true;
        f.box = {100, 60, 200, 160};
        f.crop_to_frame = cv::Matx23f(100.f / S, 0, 100, 0, 100.f / S, 60);
        for (int k = 0; k < 68; ++k) f.landmarks[k] = {(12.f + 0.6f * k) * k64, (20.f + (k % 9) * 3) * k64};
        f.aligned_landmarks = transform_landmarks_simple(f.landmarks, synthetic_align(t));
        f.align = synthetic_align(t);
        f.shot_start = t == 0 || std::find(shot_starts.begin(), shot_starts.end(), t) != shot_starts.end();
    }
    face::save_track(dir + "/track.safetensors", track);
    cv::RNG rng(1234);
    for (const char* k : {"nmfc", "eyes", "shape"}) fs::create_directories(dir + "/conditioning/" + k);
    fs::create_directories(dir + "/masks");
    std::string frames_json;
    for (int64_t t : cond_frames) {
        for (const char* k : {"nmfc", "eyes", "shape"}) {
            cv::Mat img(S, S, CV_8UC3);
            rng.fill(img, cv::RNG::UNIFORM, 0, 256);
            cv::imwrite(dir + "/conditioning/" + k + "/" + frame_name(t, ".png"), img);
        }
        frames_json += (frames_json.empty() ? "" : ",") + std::to_string(t);
    }
    for (int t = 0; t < num_frames; ++t)
        cv::imwrite(dir + "/masks/" + frame_name(t, ".png"), synthetic_crop_mask(t, S));
    {
        std::ofstream os(dir + "/conditioning/conditioning.json");
        os << "{\"format\": \"ned.conditioning\", \"version\": 1, \"crop_size\": " << S << ", \"frames\": ["
           << frames_json << "]}\n";
    }
    return write_synthetic_renderer(dir + "/renderer.safetensors", with_discriminators, S);
}

}  // namespace ned::test
