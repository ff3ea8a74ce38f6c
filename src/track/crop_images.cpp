#include "ned/track/crop_images.hpp"

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
#include "ned/track/contact_sheet.hpp"
#include "ned/face/crop.hpp"
#include "ned/io/video.hpp"

namespace ned::track {

long save_crop_images(const std::string& video_path, const face::FaceTrack& track, const CropImagesOptions& opts,
                      const ProgressFn& progress) {
    namespace fs = std::filesystem;
    const long T = static_cast<long>(track.frames.size());
    std::unique_ptr<ContactSheet> sheet;
    if (!opts.preview_path.empty())
        sheet = std::make_unique<ContactSheet>(track, opts.preview_count, opts.preview_tile);
    std::unique_ptr<AtomicFile> preview_out;
    if (!opts.preview_path.empty()) {
        check_extension(opts.preview_path, {".jpg", ".jpeg", ".png"}, "preview");
        preview_out = std::make_unique<AtomicFile>(opts.preview_path, opts.overwrite);
    }
    // Created if missing; stale frame crops of an earlier, longer run are removed (a later `composite --faces`
    // would blend them). On a failure or a signal the crops written so far go too (and the folder, if created).
    std::unique_ptr<OutputDir> crops_out;
    if (!opts.crops_dir.empty())
        crops_out = std::make_unique<OutputDir>(opts.crops_dir, /*overwrite=*/true, ".png", "crops folder");
    io::VideoReader reader(video_path);
    io::Frame fr;
    long written = 0, t = 0;
    std::future<void> pending;
    while (t < T && reader.read(fr)) {
        const face::FaceFrame& f = track.frames[t];
        if (sheet && !f.valid) sheet->add(t, fr.bgr, cv::Mat());  // ignores frames not on the sheet
        if (f.valid) {
            cv::Mat crop = face::extract_crop(fr.bgr, f, track.crop_size);
            if (sheet) sheet->add(t, fr.bgr, crop);
            if (!opts.crops_dir.empty()) {
                if (pending.valid()) pending.get();
                const std::string path = opts.crops_dir + "/" + frame_name(t, ".png");
                pending = std::async(std::launch::async, [path, crop] { write_image(path, crop, "crop image"); });
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

}  // namespace ned::track
