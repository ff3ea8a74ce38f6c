#pragma once
// Helpers shared by render.cpp and train.cpp (private to ned_renderer).
#include <opencv2/core.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace ned::renderer::detail {

/// Frames with conditioning: conditioning.json's "frames" when the manifest exists, else the nmfc/ PNGs.
std::vector<int64_t> conditioning_frames(const std::filesystem::path& dir);
/// Read an image (cv::imread flags) that must be size x size; InputError naming `what` otherwise.
cv::Mat read_image(const std::filesystem::path& p, int flags, int size, const char* what);
/// Write a PNG atomically (IoError on failure).
void write_png(const std::filesystem::path& p, const cv::Mat& img);
}  // namespace ned::renderer::detail
