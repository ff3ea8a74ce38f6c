#include "ned/blend/composite.hpp"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>

#include "ned/blend/laplacian_blend.hpp"
#include "ned/core/error.hpp"
#include "ned/core/fault.hpp"
#include "ned/core/fs_util.hpp"
#include "ned/core/image_io.hpp"
#include "ned/core/log.hpp"
#include "ned/face/crop.hpp"
#include "ned/face/face_mask.hpp"
#include "ned/face/soft_erosion.hpp"
#include "ned/io/video.hpp"

extern "C" {
#include <libavutil/pixdesc.h>
}

namespace fs = std::filesystem;

namespace ned::blend {

cv::Mat blend_mask(const cv::Mat& mask, int erosion_kernel, float threshold) {
    const int k = erosion_kernel > 0 ? erosion_kernel : face::blend_erosion_kernel_size(mask.rows);
    return face::soft_erosion(mask, k, threshold).soft;
}

namespace {
/// An 8-bit (or 16-bit) image on the [0,1] scale.
cv::Mat to_float(const cv::Mat& img) {
    cv::Mat f;
    img.convertTo(f, CV_32F, img.depth() == CV_16U ? 1.0 / 65535.0 : 1.0 / 255.0);
    return f;
}
/// Back to `depth` (CV_8U or CV_16U) from the [0,1] scale.
cv::Mat from_float(const cv::Mat& f, int depth) {
    cv::Mat u;
    f.convertTo(u, depth, depth == CV_16U ? 65535.0 : 255.0);  // saturate_cast rounds and clips
    return u;
}
/// The 8-bit face blended into the crop, at the crop's depth (8 bits, or 16 when compositing a deep source).
cv::Mat blend_with_soft(const cv::Mat& crop_bgr, const cv::Mat& face_bgr, const cv::Mat& soft, int levels) {
    NED_CHECK((crop_bgr.type() == CV_8UC3 || crop_bgr.type() == CV_16UC3) && face_bgr.type() == CV_8UC3,
              "blend_face expects BGR u8 images (the crop may be u16)");
    NED_CHECK(crop_bgr.size() == face_bgr.size(), "blend_face: crop ", crop_bgr.size(), " vs face ", face_bgr.size());
    return from_float(laplacian_blend(to_float(crop_bgr), to_float(face_bgr), soft, levels), crop_bgr.depth());
}
}  // namespace

cv::Mat blend_face(const cv::Mat& crop_bgr, const cv::Mat& face_bgr, const cv::Mat& mask, int levels) {
    NED_CHECK(mask.size() == crop_bgr.size(), "blend_face: mask ", mask.size(), " vs crop ", crop_bgr.size());
    return blend_with_soft(crop_bgr, face_bgr, blend_mask(mask), levels);
}

cv::Mat default_face_mask(int crop_size, float margin) {
    cv::Mat m = cv::Mat::zeros(crop_size, crop_size, CV_8U);
    const float c = 0.5f * static_cast<float>(crop_size - 1);
    const float r = std::max(1.f, 0.5f * (static_cast<float>(crop_size) - margin));  // small crops: no negative axes
    cv::ellipse(m, cv::RotatedRect(cv::Point2f(c, c), cv::Size2f(2 * r, 2 * r), 0.f), cv::Scalar(255), cv::FILLED,
                cv::LINE_8);
    return m;
}

cv::Mat default_mask_for(const face::FaceTrack& track, long t) {
    if (track.has_analysis && t >= 0 && t < static_cast<long>(track.frames.size()))
        return face::landmark_face_mask(track.frames[t].landmarks, track.crop_size);
    return default_face_mask(track.crop_size);
}

PastedRegion warp_crop(cv::Size frame_size, const cv::Mat& crop, const cv::Mat& alpha, const cv::Matx23f& m) {
    NED_CHECK(alpha.type() == CV_32FC1 && alpha.size() == crop.size(),
              "paste_crop: alpha must be CV_32FC1 of crop size");
    PastedRegion r;
    cv::Mat nz = alpha > 0.f;
    const cv::Rect ab = cv::boundingRect(nz);
    if (ab.empty()) return r;
    // Frame region that the alpha support (plus one crop pixel for the bilinear footprint) maps onto.
    float xs[2] = {ab.x - 1.f, ab.x + ab.width + 0.f}, ys[2] = {ab.y - 1.f, ab.y + ab.height + 0.f};
    float x0 = 1e30f, y0 = 1e30f, x1 = -1e30f, y1 = -1e30f;
    for (float u : xs)
        for (float v : ys) {
            const float x = m(0, 0) * u + m(0, 1) * v + m(0, 2), y = m(1, 0) * u + m(1, 1) * v + m(1, 2);
            x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
        }
    // A non-finite or absurd crop_to_frame (edited track) pastes nothing; bounds are clamped to the frame
    // (plus a margin) before the int conversion, which would overflow for huge values.
    if (!(std::isfinite(x0) && std::isfinite(x1) && std::isfinite(y0) && std::isfinite(y1))) return r;
    const float fw = static_cast<float>(frame_size.width) + 4.f, fh = static_cast<float>(frame_size.height) + 4.f;
    x0 = std::clamp(x0, -4.f, fw), x1 = std::clamp(x1, -4.f, fw);
    y0 = std::clamp(y0, -4.f, fh), y1 = std::clamp(y1, -4.f, fh);
    cv::Rect roi(cv::Point(static_cast<int>(std::floor(x0)) - 1, static_cast<int>(std::floor(y0)) - 1),
                 cv::Point(static_cast<int>(std::ceil(x1)) + 2, static_cast<int>(std::ceil(y1)) + 2));
    roi &= cv::Rect(0, 0, frame_size.width, frame_size.height);
    if (roi.empty()) return r;
    cv::Matx23f mr = m;  // crop -> ROI pixels
    mr(0, 2) -= static_cast<float>(roi.x);
    mr(1, 2) -= static_cast<float>(roi.y);
    cv::warpAffine(crop, r.colour, mr, roi.size(), cv::INTER_LANCZOS4, cv::BORDER_REPLICATE);
    cv::warpAffine(alpha, r.alpha, mr, roi.size(), cv::INTER_LINEAR, cv::BORDER_CONSTANT, cv::Scalar(0));
    r.roi = roi;
    return r;
}

namespace {
template <typename T>
void paste_pixels(cv::Mat& frame, const PastedRegion& r) {
    using Px = cv::Vec<T, 3>;
    cv::Mat dst = frame(r.roi);
    for (int y = 0; y < r.roi.height; ++y) {
        const float* a = r.alpha.ptr<float>(y);
        const Px* w = r.colour.ptr<Px>(y);
        Px* d = dst.ptr<Px>(y);
        for (int x = 0; x < r.roi.width; ++x) {
            const float al = blend_alpha(a[x]);
            if (!(al > 0.f)) continue;
            for (int c = 0; c < 3; ++c)
                d[x][c] = cv::saturate_cast<T>(d[x][c] + al * (static_cast<float>(w[x][c]) - d[x][c]));
        }
    }
}
}  // namespace

void paste_region(cv::Mat& frame, const PastedRegion& r) {
    if (r.roi.empty()) return;
    NED_CHECK(frame.type() == r.colour.type(), "paste_region: frame and crop types differ");
    if (frame.type() == CV_8UC3)
        paste_pixels<uint8_t>(frame, r);
    else if (frame.type() == CV_16UC3)
        paste_pixels<uint16_t>(frame, r);
    else
        NED_CHECK(false, "paste_crop expects BGR u8 or u16 images");
}

void paste_crop(cv::Mat& frame, const cv::Mat& crop, const cv::Mat& alpha, const cv::Matx23f& m) {
    NED_CHECK((frame.type() == CV_8UC3 || frame.type() == CV_16UC3) && crop.type() == frame.type(),
              "paste_crop expects BGR u8 (or u16) images of one type");
    paste_region(frame, warp_crop(frame.size(), crop, alpha, m));
}

void CompositeOptions::validate() const {
    if (levels < 0 || levels > 8)
        throw OptionError("CompositeOptions::levels", cat(" must be in [0, 8] (got ", levels, ")"));
    if (erosion_kernel < 0 || (erosion_kernel > 0 && erosion_kernel % 2 == 0))
        throw OptionError("CompositeOptions::erosion_kernel", cat(" must be 0 or odd (got ", erosion_kernel, ")"));
    if (threads < 0) throw OptionError("CompositeOptions::threads", cat(" must be >= 0 (got ", threads, ")"));
    layers.validate();
}

namespace {
/// Work of one frame (runs on a helper thread while the main thread decodes/encodes).
struct FrameJob {
    io::Frame frame;
    bool replace = false;
    cv::Mat matte;  ///< for a matte video (LayerWriter::write_frame)
};

/// The track must have been made from this video: same frame size and frame rate (where both are known).
void check_track_fits(const io::VideoInfo& info, const face::FaceTrack& track, const std::string& video_path) {
    if (info.display_width != track.width || info.display_height != track.height)
        throw InputError(cat("track is for ", track.width, "x", track.height, " frames but ", video_path, " has ",
                             info.display_width, "x", info.display_height, " (was the track made from this video?)"));
    if (track.fps_num > 0 && track.fps_den > 0 && info.frame_rate.num > 0 && info.frame_rate.den > 0 &&
        static_cast<int64_t>(track.fps_num) * info.frame_rate.den !=
            static_cast<int64_t>(info.frame_rate.num) * track.fps_den)
        throw InputError(cat("track is for a ", track.fps_num, "/", track.fps_den, " fps video but ", video_path,
                             " runs at ", info.frame_rate.num, "/", info.frame_rate.den,
                             " fps (was the track made from this video?)"));
}

/// A shorter track (crop --max-frames) covers the first frames and the rest pass through; a longer one cannot
/// have been made from this video. `decoded`: the frames the video had.
void check_frame_count(long decoded, const face::FaceTrack& track, const std::string& video_path) {
    if (decoded == 0) throw InputError(cat(video_path, ": no video frames could be decoded"));
    if (decoded < static_cast<long>(track.frames.size()))
        throw InputError(cat("track has ", track.frames.size(), " frames but ", video_path, " has only ", decoded,
                             " (was the track made from this video?)"));
    if (decoded != static_cast<long>(track.frames.size()))
        NED_LOG_WARN("[composite] the track has {} frames but {} has {}; extra frames pass through",
                     track.frames.size(), video_path, decoded);
}

/// One frame's work: where the track has the face and `faces` gives one, the face blended into the crop and
/// pasted back (the mask from `faces`, else the landmark mask, else `default_soft`); with `layers`, the frame's
/// matte and face layer written (empty ones for an untouched frame).
FrameJob blend_frame(io::Frame fr, const face::FaceTrack& track, const FaceSource& faces, const cv::Mat& default_soft,
                     const CompositeOptions& opts, const LayerWriter* layers) {
    const int cs = track.crop_size;
    FrameJob job;
    const long t = fr.index;
    cv::Mat face, mask;
    PastedRegion pasted;
    if (t < static_cast<long>(track.frames.size()) && track.frames[t].valid && faces(t, face, mask)) {
        if (face.type() != CV_8UC3 || face.cols != cs || face.rows != cs)
            throw InputError(
                cat("the face of frame ", t, " is ", face.cols, "x", face.rows, ", expected ", cs, "x", cs, " BGR"));
        if (!mask.empty() && mask.size() != face.size())
            throw InputError(
                cat("the mask of frame ", t, " is ", mask.cols, "x", mask.rows, ", expected ", cs, "x", cs));
        cv::Mat soft = default_soft;
        if (!mask.empty())
            soft = blend_mask(mask, opts.erosion_kernel, opts.erosion_threshold);
        else if (track.has_analysis)
            soft = blend_mask(default_mask_for(track, t), opts.erosion_kernel, opts.erosion_threshold);
        const cv::Mat crop = face::extract_crop(fr.bgr, track.frames[t], cs);
        const cv::Mat blended = blend_with_soft(crop, face, soft, opts.levels);
        pasted = warp_crop(fr.bgr.size(), blended, soft, track.frames[t].crop_to_frame);
        paste_region(fr.bgr, pasted);
        job.replace = true;
    }
    if (layers) job.matte = layers->write_frame(t, fr.bgr.size(), pasted);
    job.frame = std::move(fr);
    return job;
}

/// The output's encoder options, and whether it is deeper than 8 bits (then frames are composited at the
/// source's depth).
io::VideoWriterOptions writer_options(const CompositeOptions& opts, const std::string& out_path) {
    io::VideoWriterOptions w;
    w.codec = opts.codec;
    w.pix_fmt = opts.pix_fmt;
    w.keep_color = opts.keep_color;
    w.crf = opts.crf;
    w.preset = opts.preset;
    w.threads = opts.threads;
    w.name = out_path;
    w.metadata = opts.metadata;
    return w;
}

bool deeper_than_8_bits(const std::string& pix_fmt) {
    const AVPixFmtDescriptor* d = av_pix_fmt_desc_get(av_get_pix_fmt(pix_fmt.c_str()));
    return d && d->comp[0].depth > 8;
}
}  // namespace

FaceSource face_files(const face::FaceTrack& track, const std::string& faces_dir, const std::string& masks_dir) {
    if (faces_dir.empty() || !fs::is_directory(faces_dir))
        throw InputError(cat("faces folder not found: '", faces_dir, "'"));
    if (!masks_dir.empty() && !fs::is_directory(masks_dir))
        throw InputError(cat("masks folder not found: '", masks_dir, "'"));
    const int cs = track.crop_size;
    auto warned_mask = std::make_shared<std::atomic<bool>>(false);
    return [=](long t, cv::Mat& face, cv::Mat& mask) -> bool {
        const std::string name = frame_name(t, ".png");
        const std::string face_path = faces_dir + "/" + name;
        if (!fs::exists(face_path)) return false;
        face = read_image(face_path, cv::IMREAD_COLOR, "face image");
        if (face.cols != cs || face.rows != cs)
            throw InputError(
                cat("face image ", face_path, " is ", face.cols, "x", face.rows, ", expected ", cs, "x", cs));
        mask = cv::Mat();
        if (!masks_dir.empty()) {
            const std::string mask_path = masks_dir + "/" + name;
            if (fs::exists(mask_path)) {
                mask = read_image(mask_path, cv::IMREAD_GRAYSCALE, "mask image");
                if (mask.size() != face.size())
                    throw InputError(
                        cat("mask image ", mask_path, " is ", mask.cols, "x", mask.rows, ", expected ", cs, "x", cs));
            } else if (!warned_mask->exchange(true)) {
                NED_LOG_WARN("[composite] no mask {} (and maybe others): using the default face mask", mask_path);
            }
        }
        return true;
    };
}

long composite_video(const std::string& video_path, const face::FaceTrack& track, const std::string& out_path,
                     const CompositeOptions& opts, const ProgressFn& progress) {
    opts.validate();
    return composite_video(video_path, track, out_path, opts, face_files(track, opts.faces_dir, opts.masks_dir),
                           progress);
}

long composite_video(const std::string& video_path, const face::FaceTrack& track, const std::string& out_path,
                     const CompositeOptions& opts, const FaceSource& faces, const ProgressFn& progress) {
    opts.validate();
    check_input_file(video_path, "input video");
    AtomicFile out(out_path, opts.overwrite);
    const io::VideoInfo probed = io::probe(video_path, /*count_frames=*/false);
    const io::VideoWriterOptions wopts = writer_options(opts, out_path);
    const bool deep = deeper_than_8_bits(io::output_pix_fmt(probed, wopts));
    io::VideoReader reader(video_path, 0, deep ? io::FrameDepth::Source : io::FrameDepth::Eight);
    const io::VideoInfo& info = reader.info();
    check_track_fits(info, track, video_path);
    io::VideoWriter writer(out.temp_path(), info, wopts);
    std::unique_ptr<LayerWriter> layers;
    if (opts.layers.any()) layers = std::make_unique<LayerWriter>(opts.layers, info, opts.overwrite, opts.threads);

    const cv::Mat default_soft =
        blend_mask(default_face_mask(track.crop_size), opts.erosion_kernel, opts.erosion_threshold);
    long total = info.frame_count > 0 ? static_cast<long>(info.frame_count) : static_cast<long>(track.frames.size());
    long replaced = 0, index = 0;

    // Per-frame work (the face from `faces`, blend, paste, the layer files) runs asynchronously so it overlaps
    // the encoder; at most two frames are in flight (FaceSource).
    std::future<FrameJob> pending;
    auto drain = [&]() {
        FrameJob job = pending.get();
        replaced += job.replace ? 1 : 0;
        writer.write(job.frame);
        if (layers) layers->write_matte_video(job.frame, job.matte);
        fault_point("composite.frames_done", job.frame.index + 1);  // the failure tests (ned/core/fault.hpp)
        if (progress) progress(job.frame.index + 1, std::max(total, job.frame.index + 1));
    };
    io::Frame fr;
    while (reader.read(fr)) {
        if (fr.bgr.cols != track.width || fr.bgr.rows != track.height)
            throw InputError(cat(video_path, ": frame ", fr.index, " has a different size than the track"));
        std::future<FrameJob> next =
            std::async(std::launch::async, blend_frame, std::move(fr), std::cref(track), std::cref(faces),
                       std::cref(default_soft), std::cref(opts), static_cast<const LayerWriter*>(layers.get()));
        fr = io::Frame{};
        if (pending.valid()) drain();
        pending = std::move(next);
        ++index;
    }
    if (pending.valid()) drain();
    check_frame_count(index, track, video_path);
    if (opts.expected_faces >= 0 && replaced != opts.expected_faces)
        throw Error(cat(out_path, ": ", replaced, " frames got a new face but ", opts.expected_faces,
                        " were to be edited; the output is not written (its comment would be wrong)"));
    writer.finish();
    if (layers) layers->commit();
    out.commit();
    return replaced;
}

}  // namespace ned::blend
