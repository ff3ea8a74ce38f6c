#pragma once
// Helpers shared by render.cpp and train.cpp (private to ned_renderer).
#include <opencv2/core.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "ned/detect/face_track.hpp"

namespace ned::renderer::detail {

/// Frames with conditioning: conditioning.json's "frames" when the manifest exists, else the nmfc/ PNGs.
std::vector<int64_t> conditioning_frames(const std::filesystem::path& dir);
/// Read an image (cv::imread flags) that must be size x size; InputError naming `what` otherwise.
cv::Mat read_image(const std::filesystem::path& p, int flags, int size, const char* what);
/// Write a PNG atomically (IoError on failure).
void write_png(const std::filesystem::path& p, const cv::Mat& img);
/// The analysis face mask of frame t: WORKDIR/masks/NNNNNN.png (crop space) when present, else the landmark
/// mask of the track; and its aligned version (nearest). Both u8 0/255.
void analysis_masks(const detect::FaceTrack& track, const std::filesystem::path& workdir, int64_t t,
                    cv::Mat& crop_mask, cv::Mat& aligned_mask);

}  // namespace ned::renderer::detail
