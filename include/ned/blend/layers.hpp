#pragma once
// The compositing hand-off of `translate`, `style` and `composite` (docs/post-production.md): the matte (the exact
// per-frame alpha with which the new face was blended into the frame) and the face layer (the pasted face with
// that alpha), in full-frame coordinates, one image per source frame -- untouched frames get an all-zero matte
// and a fully transparent layer, so a sequence has no holes and as many frames as the source.
#include <opencv2/core.hpp>

#include <memory>
#include <string>
#include <vector>

#include "ned/io/video.hpp"

namespace ned::blend {

/// Pixel format of the face layer's files.
enum class LayerFormat {
    Png16,  ///< 16-bit RGBA PNG, straight (unpremultiplied) colour, as PNG defines
    Exr,    ///< OpenEXR half float RGBA (FFmpeg's encoder, ZIP compression), premultiplied as EXR's convention
};

struct LayerOptions {
    /// The matte: a folder (one that exists, or a path ending in '/') gets 16-bit grey PNGs NNNNNN.png; any other
    /// path is a lossless grey video (FFV1, gray16le) and must end in .mkv. Empty: none.
    std::string matte;
    std::string face_layer;                         ///< folder of the face layer's frames NNNNNN.png|exr; empty: none
    LayerFormat layer_format = LayerFormat::Png16;  ///< the face layer's format
    long start_number = 0;                          ///< the file number of source frame 0 (matte PNGs and layer)

    bool any() const { return !matte.empty() || !face_layer.empty(); }
    /// The matte is a PNG sequence (a folder), not a video.
    bool matte_is_folder() const;
    /// start_number in [0, 10^9], a matte video path ending in .mkv: OptionError naming the field and the value.
    void validate() const;
};

/// Refuses, before any work (InputError, exit 2), an output that exists without `overwrite`: a matte video, a
/// folder that already holds frame images of its format, a file where a folder is to be written.
void check_layer_outputs(const LayerOptions& options, bool overwrite);

/// The blend of one frame in frame coordinates (made by warp_crop): over `roi`, the blended crop warped into the
/// frame (`colour`, the frame's type) and the warped soft mask (`alpha`, CV_32FC1, raw: blend_alpha() gives the
/// alpha the paste used). An empty roi: nothing is pasted (an untouched frame).
struct PastedRegion {
    cv::Rect roi;
    cv::Mat colour;
    cv::Mat alpha;
};

/// The alpha the paste uses for a warped soft-mask value: std::min(1.f, a), and 0 where that is not > 0.
inline float blend_alpha(float a) {
    const float al = a < 1.f ? a : 1.f;  // std::min(1.f, a)
    return al > 0.f ? al : 0.f;
}

/// The matte of a frame of `frame_size`: round(blend_alpha * 65535) over the region, 0 elsewhere. CV_16UC1.
cv::Mat matte_image(cv::Size frame_size, const PastedRegion& region);
/// The face layer of a frame: Png16: CV_16UC4 BGRA, colour scaled to 16 bits (8-bit x 257) and straight, colour
/// and alpha 0 where the alpha is 0; Exr: CV_32FC4 BGRA in [0,1], colour premultiplied by the alpha.
cv::Mat layer_image(cv::Size frame_size, const PastedRegion& region, LayerFormat format);

/// Writes the matte and the face layer of a composite, frame by frame. Its folders are OutputDirs (emptied with
/// -y, their frames removed when the run fails) and the matte video an AtomicFile, kept by commit() alone.
class LayerWriter {
public:
    /// Prepares the outputs (check_layer_outputs, folders created, the matte video opened for frames like
    /// `source`'s, in its time base, no audio).
    LayerWriter(const LayerOptions& options, const io::VideoInfo& source, bool overwrite, int threads);
    ~LayerWriter();
    LayerWriter(const LayerWriter&) = delete;
    LayerWriter& operator=(const LayerWriter&) = delete;

    /// The files of source frame `index` (matte PNG, layer image), each written under a temporary name and renamed.
    /// Thread-safe (the compositing workers call it, two frames at once). Returns the matte when the matte is a
    /// video (for write_matte_video), else an empty Mat.
    cv::Mat write_frame(long index, cv::Size frame_size, const PastedRegion& region) const;
    /// The matte video's frame for `source` (its pts); frames in order, from one thread.
    void write_matte_video(const io::Frame& source, const cv::Mat& matte);
    /// Finishes the matte video and keeps every output.
    void commit();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// Encodes a CV_32FC4 BGRA image as an OpenEXR file (half float, ZIP compression) with FFmpeg's exr encoder.
std::vector<unsigned char> encode_exr_half(const cv::Mat& bgra);

}  // namespace ned::blend
