#pragma once
// Compositing of new 256x256 faces into the original video: NED's soft-eroded mask + Laplacian blend in
// crop space, then the blended crop is warped back (Lanczos) into the frame, ONLY inside the face region
// (the warped soft mask is the alpha), so pixels away from the face stay bit-identical.
#include <opencv2/core.hpp>

#include <functional>
#include <map>
#include <string>

#include "ned/blend/layers.hpp"
#include "ned/core/progress.hpp"
#include "ned/face/face_track.hpp"
#include "ned/io/video.hpp"

namespace ned::blend {

struct CompositeOptions {
    int levels = 4;                     ///< Laplacian pyramid levels (NED n_levels)
    int erosion_kernel = 0;             ///< SoftErosion kernel; 0 = NED's rule int(33*H/256) made odd
    float erosion_threshold = 0.8f;     ///< SoftErosion threshold (NED blending: 0.8)
    io::Codec codec = io::Codec::H264;  ///< the output's encoder (io::VideoWriterOptions)
    std::string pix_fmt;                ///< its pixel format ("" = the source's layout and depth, as io resolves it)
    bool keep_color = true;             ///< tag and convert with the source's colour description
    int crf = 18;                       ///< libx264 CRF of the output
    std::string preset = "medium";      ///< libx264 preset
    std::string faces_dir;              ///< per-frame faces (frame_name(i, ".png")); required without a FaceSource
    std::string masks_dir;              ///< per-frame masks (0/255 PNG, same names); empty = default mask
    bool overwrite = false;             ///< replace an existing output
    int threads = 0;                    ///< worker threads (0 = all cores)
    std::map<std::string, std::string> metadata;  ///< container tags of the output (io::VideoWriterOptions)
    /// When >= 0: the number of frames that must get a new face (the frames the metadata names as edited); any
    /// other count is an Error and the output is not written.
    long expected_faces = -1;
    /// The matte and the face layer for compositing applications (--matte, --face-layer; none by default).
    LayerOptions layers;

    /// levels 0..8, erosion_kernel 0 or odd, threads >= 0, layers (LayerOptions::validate): OptionError (exit 2)
    /// naming the field and the value. composite() calls it.
    void validate() const;
};

/// The NED soft blending mask for a crop-space mask (u8 0/255 or float [0,1]): SoftErosion with
/// erosion_kernel (0 = NED's rule) and threshold; returns the soft mask (CV_32FC1 [0,1]).
cv::Mat blend_mask(const cv::Mat& mask, int erosion_kernel = 0, float threshold = 0.8f);

/// Per-frame blend in crop space: the soft-eroded `mask` (NED's rule, k = int(33*H/256) made odd,
/// thr 0.8) then Laplacian blending of `face_bgr` into `crop_bgr`. crop/face: CV_8UC3 same size,
/// mask: u8 0/255 or float [0,1] of the same size. Returns CV_8UC3 (rounded, clipped).
cv::Mat blend_face(const cv::Mat& crop_bgr, const cv::Mat& face_bgr, const cv::Mat& mask, int levels);

/// The default face mask when none is given: the ellipse inscribed in the face box (the square box
/// before NED's margin) mapped into the crop: centre = crop centre, semi-axes = box side/2 in crop
/// pixels (= (crop_size-margin)/2), u8 0/255. Used until landmark masks exist.
cv::Mat default_face_mask(int crop_size, float margin = 70.f);

/// The mask used for frame t when no mask file is given: with analysis (track.has_analysis) the landmark
/// mask of face::landmark_face_mask (jaw + raised eyebrows), else default_face_mask(track.crop_size).
/// u8 0/255, crop_size x crop_size.
cv::Mat default_mask_for(const face::FaceTrack& track, long t);

/// Paste a blended crop into `frame` (in place): the crop and `alpha` (CV_32FC1 [0,1], crop size) are
/// warped through crop_to_frame (crop Lanczos4, alpha bilinear) into the frame region covered by alpha > 0
/// only; there frame = frame*(1-a) + crop*a. Pixels where the warped alpha is 0 are not touched.
/// The frame may also be CV_16UC3 with a CV_16UC3 crop (compositing at a deep source's depth).
void paste_crop(cv::Mat& frame_bgr, const cv::Mat& crop_bgr, const cv::Mat& alpha, const cv::Matx23f& crop_to_frame);

/// paste_crop's two halves: the crop and alpha warped into the frame region they cover (an empty roi when none:
/// no alpha > 0, a non-finite transform, outside the frame) ...
PastedRegion warp_crop(cv::Size frame_size, const cv::Mat& crop_bgr, const cv::Mat& alpha,
                       const cv::Matx23f& crop_to_frame);
/// ... and the blend there: frame = frame*(1-a) + colour*a with a = blend_alpha(alpha), where a > 0.
void paste_region(cv::Mat& frame_bgr, const PastedRegion& region);

/// Where the new faces come from: called once for each frame t valid in the track, from worker threads; at
/// most two calls (frames t and t+1) run at once, so the later one may start first. Returns false when frame t gets
/// no new face (it passes through);
/// else fills `face` (CV_8UC3 BGR, crop_size^2, crop space) and `mask` (u8 0/255 crop-space blend mask, or
/// empty for the default mask: default_mask_for). May throw; the exception ends the composite.
using FaceSource = std::function<bool(long t, cv::Mat& face, cv::Mat& mask)>;

/// The faces of `ned composite`: faces_dir/NNNNNN.png (a frame without one passes through) and, when
/// masks_dir is given, masks_dir/NNNNNN.png (missing: the default mask, with one warning). Throws InputError
/// when a folder does not exist or an image has the wrong size.
FaceSource face_files(const face::FaceTrack& track, const std::string& faces_dir, const std::string& masks_dir);

/// Composite a whole video: for every frame with a valid face in `track` and a face from `faces`, crop
/// (face::extract_crop), blend with the soft-eroded mask, paste_crop; other frames pass through.
/// Written with io::VideoWriter (audio copied) via AtomicFile to out_path. Streaming, one frame at a time. When the
/// output is deeper than 8 bits (io::output_pix_fmt), frames are decoded and composited at the source's depth
/// (CV_16UC3), so untouched pixels keep their 10-bit values; 8-bit outputs composite in 8 bits. With
/// options.layers, the matte and the face layer of every source frame are written too (LayerWriter).
/// Returns the number of frames that got a new face.
long composite_video(const std::string& video_path, const face::FaceTrack& track, const std::string& out_path,
                     const CompositeOptions& options, const FaceSource& faces, const ProgressFn& progress = {});

/// The same with face_files(track, options.faces_dir, options.masks_dir).
long composite_video(const std::string& video_path, const face::FaceTrack& track, const std::string& out_path,
                     const CompositeOptions& options, const ProgressFn& progress = {});

}  // namespace ned::blend
