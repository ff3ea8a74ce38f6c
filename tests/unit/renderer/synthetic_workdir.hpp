#pragma once
// A synthetic work folder for the renderer tests: an analysed track (crop size 64, a rotation + scale
// alignment), random conditioning PNGs, crop-space masks in WORKDIR/masks/ and a small random renderer.
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "ned/core/fs_util.hpp"
#include "ned/detect/face_track.hpp"
#include "ned/renderer/checkpoint.hpp"

namespace ned::test {

constexpr int kSynthCrop = 64;

/// Small generator sizes for tests (ngf 4, 3 downsamplings, 3 ResNet blocks).
inline renderer::GeneratorConfig small_generator_config() {
    renderer::GeneratorConfig c;
    c.ngf = 4;
    c.n_blocks = 3;
    return c;
}

/// The alignment of synthetic frame t (crop -> aligned): rotation + scale + translation.
inline cv::Matx23f synthetic_align(int t) {
    const float a = 0.05f + 0.01f * t, s = 0.9f;
    return cv::Matx23f(s * std::cos(a), -s * std::sin(a), 6.f + t, s * std::sin(a), s * std::cos(a), 2.f);
}

/// Crop-space mask of frame t: an ellipse, 0/255.
inline cv::Mat synthetic_crop_mask(int t) {
    cv::Mat m = cv::Mat::zeros(kSynthCrop, kSynthCrop, CV_8UC1);
    cv::ellipse(m, cv::Point(32 + t % 3, 34), cv::Size(20, 24), 0, 0, 360, cv::Scalar(255), cv::FILLED);
    return m;
}

/// Writes WORKDIR/track.safetensors (num_frames frames, all valid), conditioning PNGs + manifest for
/// `cond_frames`, and WORKDIR/masks/. Returns the path of a random renderer checkpoint (WORKDIR/renderer.safetensors).
inline std::string write_synthetic_workdir(const std::string& dir, int num_frames, const std::vector<int64_t>& cond_frames,
                                           bool with_discriminators = false, const std::vector<int64_t>& shot_starts = {}) {
    namespace fs = std::filesystem;
    detect::FaceTrack track;
    track.source = dir + "/missing.mp4";
    track.width = 320;
    track.height = 240;
    track.fps_num = 25;
    track.crop_size = kSynthCrop;
    track.has_analysis = true;
    track.frames.resize(num_frames);
    for (int t = 0; t < num_frames; ++t) {
        auto& f = track.frames[t];
        f.valid = f.detected = true;
        f.box = {100, 60, 200, 160};
        f.crop_to_frame = cv::Matx23f(100.f / kSynthCrop, 0, 100, 0, 100.f / kSynthCrop, 60);
        for (int k = 0; k < 68; ++k) f.landmarks[k] = {12.f + 0.6f * k, 20.f + (k % 9) * 3};
        f.aligned_landmarks = f.landmarks;
        f.align = synthetic_align(t);
        f.shot_start = t == 0 || std::find(shot_starts.begin(), shot_starts.end(), t) != shot_starts.end();
    }
    detect::save_track(dir + "/track.safetensors", track);
    cv::RNG rng(1234);
    for (const char* k : {"nmfc", "eyes", "shape"}) fs::create_directories(dir + "/conditioning/" + k);
    fs::create_directories(dir + "/masks");
    std::string frames_json;
    for (int64_t t : cond_frames) {
        for (const char* k : {"nmfc", "eyes", "shape"}) {
            cv::Mat img(kSynthCrop, kSynthCrop, CV_8UC3);
            rng.fill(img, cv::RNG::UNIFORM, 0, 256);
            cv::imwrite(dir + "/conditioning/" + k + "/" + frame_name(t, ".png"), img);
        }
        frames_json += (frames_json.empty() ? "" : ",") + std::to_string(t);
    }
    for (int t = 0; t < num_frames; ++t) cv::imwrite(dir + "/masks/" + frame_name(t, ".png"), synthetic_crop_mask(t));
    {
        std::ofstream os(dir + "/conditioning/conditioning.json");
        os << "{\"format\": \"ned.conditioning\", \"version\": 1, \"crop_size\": " << kSynthCrop
           << ", \"frames\": [" << frames_json << "]}\n";
    }
    torch::manual_seed(7);
    renderer::Generator g(small_generator_config());
    renderer::init_weights(*g);
    renderer::MultiscaleDiscriminator d{nullptr}, dm{nullptr};
    if (with_discriminators) {
        renderer::DiscriminatorConfig dc;
        dc.ndf = 4;
        d = renderer::MultiscaleDiscriminator(dc);
        dm = renderer::MultiscaleDiscriminator(dc);
    }
    const std::string ckpt = dir + "/renderer.safetensors";
    renderer::save_renderer(ckpt, g, d, dm);
    return ckpt;
}

}  // namespace ned::test
