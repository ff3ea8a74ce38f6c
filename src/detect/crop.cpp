#include "ned/detect/crop.hpp"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <future>
#include <memory>

#include "ned/core/error.hpp"
#include "ned/core/fs_util.hpp"
#include "ned/core/image_io.hpp"
#include "ned/core/output_dir.hpp"
#include "ned/detect/contact_sheet.hpp"
#include "ned/io/video.hpp"

namespace ned::detect {

cv::Vec4f make_square(const cv::Vec4f& b) {
    // NED detect.py: w = x1-x0, h = y1-y0, d = (h-w)/2; x0 -= d; x1 += d (height_recentre = 0).
    const float w = b[2] - b[0], h = b[3] - b[1];
    const float d = 0.5f * (h - w);
    return {b[0] - d, b[1], b[2] + d, b[3]};
}

cv::Matx23f crop_transform(const cv::Vec4f& square_box, int crop_size, float margin) {
    if (crop_size <= 0) throw InputError(cat("crop size must be positive (got ", crop_size, ")"));
    if (!(margin >= 0.f) || margin >= static_cast<float>(crop_size))
        throw InputError(cat("crop margin must be in [0, crop size) (got ", margin, ")"));
    const cv::Vec4f b = make_square(square_box);
    const float side_box = b[3] - b[1];
    NED_CHECK(side_box > 0.f, "face box has no height: ", b);
    // facenet extract_face: mx = margin * w / (size - margin); crop = [x0 - mx/2, x1 + mx/2]
    const float side = side_box * static_cast<float>(crop_size) / (static_cast<float>(crop_size) - margin);
    const float a = side / static_cast<float>(crop_size);
    const float cx = 0.5f * (b[0] + b[2]), cy = 0.5f * (b[1] + b[3]);
    const float c = 0.5f * static_cast<float>(crop_size - 1);
    return cv::Matx23f(a, 0.f, cx - a * c, 0.f, a, cy - a * c);
}

cv::Matx23f invert_affine(const cv::Matx23f& m) {
    cv::Matx23f inv;
    cv::invertAffineTransform(m, inv);
    return inv;
}

cv::Mat extract_crop(const cv::Mat& frame_bgr, const FaceFrame& face, int crop_size) {
    return extract_crop(frame_bgr, face.crop_to_frame, crop_size);
}

cv::Mat extract_crop(const cv::Mat& frame, const cv::Matx23f& m, int crop_size) {
    NED_CHECK(!frame.empty(), "empty frame given to extract_crop");
    NED_CHECK(crop_size > 0, "crop size ", crop_size);
    const float a = std::sqrt(std::abs(m(0, 0) * m(1, 1) - m(0, 1) * m(1, 0)));
    const cv::Size cs(crop_size, crop_size);
    cv::Mat out;
    const int n = static_cast<int>(std::lround(a * crop_size));
    if (n > crop_size + 1) {
        // Downscale: resample at ~1:1 to an n x n square (bilinear, replicated border), then INTER_AREA.
        // Intermediate pixel i sits at crop coordinate u = (i + 0.5) * cs / n - 0.5 (resize convention).
        const float r = static_cast<float>(crop_size) / static_cast<float>(n);
        const float off = 0.5f * r - 0.5f;
        cv::Matx23f im;  // intermediate -> frame
        for (int row = 0; row < 2; ++row) {
            im(row, 0) = m(row, 0) * r;
            im(row, 1) = m(row, 1) * r;
            im(row, 2) = m(row, 0) * off + m(row, 1) * off + m(row, 2);
        }
        cv::Mat mid;
        cv::warpAffine(frame, mid, im, cv::Size(n, n), cv::INTER_LINEAR | cv::WARP_INVERSE_MAP,
                       cv::BORDER_REPLICATE);
        cv::resize(mid, out, cs, 0, 0, cv::INTER_AREA);
    } else {
        cv::warpAffine(frame, out, m, cs, cv::INTER_LINEAR | cv::WARP_INVERSE_MAP, cv::BORDER_REPLICATE);
    }
    return out;
}

}  // namespace ned::detect

// ---- crop images and contact sheet ----

namespace ned::detect {

long save_crop_images(const std::string& video_path, const FaceTrack& track, const CropImagesOptions& opts,
                      const ProgressFn& progress) {
    namespace fs = std::filesystem;
    const long T = static_cast<long>(track.frames.size());
    std::unique_ptr<ContactSheet> sheet;
    if (!opts.preview_path.empty()) sheet = std::make_unique<ContactSheet>(track, opts.preview_count, opts.preview_tile);
    std::unique_ptr<AtomicFile> preview_out;
    if (!opts.preview_path.empty()) {
        check_extension(opts.preview_path, {".jpg", ".jpeg", ".png"}, "preview");
        preview_out = std::make_unique<AtomicFile>(opts.preview_path, opts.overwrite);
    }
    // Created if missing; stale frame crops of an earlier, longer run are removed (a later `composite --faces`
    // would blend them). On a failure or a signal the crops written so far go too (and the folder, if created).
    std::unique_ptr<OutputDir> crops_out;
    if (!opts.crops_dir.empty()) crops_out = std::make_unique<OutputDir>(opts.crops_dir, /*overwrite=*/true, ".png", "crops folder");
    io::VideoReader reader(video_path);
    io::Frame fr;
    long written = 0, t = 0;
    std::future<void> pending;
    while (t < T && reader.read(fr)) {
        const FaceFrame& f = track.frames[t];
        if (sheet && !f.valid) sheet->add(t, fr.bgr, cv::Mat());  // ignores frames not on the sheet
        if (f.valid) {
            cv::Mat crop = extract_crop(fr.bgr, f, track.crop_size);
            if (sheet) sheet->add(t, fr.bgr, crop);
            if (!opts.crops_dir.empty()) {
                if (pending.valid()) pending.get();
                const std::string path = opts.crops_dir + "/" + frame_name(t, ".png");
                pending = std::async(std::launch::async, [path, crop] {
                    write_image(path, crop, "crop image");
                });
                ++written;
            }
        }
        ++t;
        if (progress) progress(t, T);
    }
    if (pending.valid()) pending.get();
    if (preview_out) {
        write_image(preview_out->temp_path(), sheet->image(), "preview", opts.preview_path);
        preview_out->commit();
    }
    if (crops_out) crops_out->commit();
    return written;
}

}  // namespace ned::detect
