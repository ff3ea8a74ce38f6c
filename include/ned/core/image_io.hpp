#pragma once
// Reading the image files ned's commands take (face, mask and conditioning PNGs): one helper, so that a
// corrupt file gives ned's one error line and nothing else on stderr.
#include <opencv2/core.hpp>
#include <string>

namespace ned {

/// Read the image `path` as cv::imread(path, flags) would, for flags cv::IMREAD_COLOR (8-bit BGR) or
/// cv::IMREAD_GRAYSCALE (8-bit gray). PNG files (recognised by their signature) are decoded by libpng with
/// ned's own error and warning handlers, so libpng prints nothing ("libpng error: ..." never reaches stderr);
/// other formats go through cv::imread. Throws InputError "<what> <path>: ..." when the file is missing,
/// is a folder, is truncated or corrupt (naming libpng's reason), or is larger than 8192 x 8192.
cv::Mat read_image(const std::string& path, int flags, const std::string& what = "image");

/// Write `img` to `path` (format from the extension: .png, .jpg, .jpeg): encoded in memory, then written with
/// checked system calls, so a full disk gives one IoError "<what> <path>: <strerror>" (no libpng message on
/// stderr, no crash). The file is written in place (callers that need atomicity pass an AtomicFile's temp_path
/// and `shown`, the final path, for messages). A partly written file is removed.
void write_image(const std::string& path, const cv::Mat& img, const std::string& what = "image",
                 const std::string& shown = {});

/// Decode PNG bytes already in memory (same rules as read_image); `what` names the source in messages.
cv::Mat decode_png(const unsigned char* data, size_t size, int flags, const std::string& what);

}  // namespace ned
