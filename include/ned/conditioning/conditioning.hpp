#pragma once
// The renderer's conditioning images of a frame (ned-reference §1.9, §5.1-§5.3): NMFC, shape and eye
// images in aligned space, made from a FaceTrack (crop -> aligned transform, FAN eye landmarks, pupils)
// and a Reconstruction (FLAME/DECA parameters and DECA's crop tform), with FLAME (and DECA's D_detail for
// the detailed shape image).
//
// Per frame: FLAME forward -> DecaImageRenderer at 224 -> deca_to_crop (skimage bilinear with tform,
// img_as_ubyte) -> crop_to_aligned (Lanczos4 with the track's `align`). The eye image is drawn directly
// in aligned space from the eye points mapped by `align`, as NED's renderer does with eye_landmarks_aligned.
//
// Eye points: EyeSource::Track uses the FAN landmarks 36-47 and pupils of the track (the source frame,
// NED's preprocessing). EyeSource::Mesh is create_inputs.py for edited expressions: the contour is the
// FLAME 2D landmarks 36-47 of the rendered mesh mapped to crop pixels by tform^-1(112 + 112 * lmk), and
// each pupil = source pupil + (target contour centre - source contour centre).
#include <opencv2/core.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "ned/face/eye_image.hpp"
#include "ned/face/face_track.hpp"
#include "ned/conditioning/deca_images.hpp"

namespace ned::recon {
class FlameModel;
class DecaModel;
struct Reconstruction;
}  // namespace ned::recon

namespace ned::conditioning {

/// A frame's eye points (face/eye_image.hpp: face::eye_points reads them from the track, NED's eye_landmarks
/// files; face::draw_eye_image draws NED's eye image of them).
using face::EyePoints;
/// create_inputs.py: contour := target_contour (12 points, crop pixels), pupil := source pupil + (mean of
/// the target eye's 6 points - mean of the source eye's 6 points), everything then truncated to int
/// (NED saves int32).
EyePoints move_pupils_with_contour(const EyePoints& source, const std::array<cv::Point2f, 12>& target_contour);
/// Every point mapped by the 2x3 affine `m` (cv2.transform).
EyePoints transform_eye_points(const EyePoints& p, const cv::Matx23f& m);
/// FLAME 2D landmarks 36-47 of one frame (lmk2d [68*2] model-space x,y) -> crop pixels:
/// tform^-1 (112 + 112 * (s (x + tx), -s (y + ty))).
std::array<cv::Point2f, 12> mesh_eye_contour(const float* lmk2d, const float cam[3], const cv::Matx33f& tform);

/// The FLAME asset's topology, NMFC colours and (if present) UV data, as plain arrays.
MeshTopology topology_from_flame(const recon::FlameModel& flame);

enum class EyeSource { Track, Mesh };

// No validate(): filled from RenderInputsOptions (validated there) or the track's crop size by render_inputs and
// the streamed pass.
struct ConditioningOptions {
    int crop_size = 256;
    EyeSource eyes = EyeSource::Track;
    bool keep_crop_images = false;  ///< also return the crop-space images (NED's nmfcs/, shapes/)
    int threads = 1;                ///< frames rendered in parallel (image work; torch uses its own threads)
    DecaImageOptions deca;          ///< DECA render size and rasterizer backend (threads per image)
};

/// Conditioning images of one frame. Images are BGR u8, crop_size^2 (NMFC: R=x, G=y, B=z).
struct ConditioningFrame {
    int64_t frame_index = -1;
    cv::Mat nmfc, shape, eyes;                 ///< aligned space (what the neural renderer reads)
    cv::Mat nmfc_crop, shape_crop, eyes_crop;  ///< crop space (only with keep_crop_images)
    EyePoints eye_points;                      ///< crop pixels
    bool detailed = false;                     ///< shape used DECA's detail normals
};

/// One frame's DECA images + eye points (crop pixels) -> conditioning images: NMFC and shape through
/// deca_to_crop (tform) and crop_to_aligned (align), the eye image drawn from the points mapped by align.
ConditioningFrame conditioning_from_deca(const DecaImages& deca, const cv::Matx33f& tform, const cv::Matx23f& align,
                                         const EyePoints& eyes, int crop_size, bool keep_crop_images = false);

/// Renders conditioning frames from a track + reconstruction. Holds references to the models.
class ConditioningRenderer {
public:
    /// `deca` may be null (coarse shape image). Throws InputError when the FLAME asset and the
    /// options do not fit.
    ConditioningRenderer(const recon::FlameModel& flame, recon::DecaModel* deca, const ConditioningOptions& options);

    /// Whether the shape image will be detailed for this reconstruction (DECA given, detail codes present,
    /// UV data in the FLAME asset); `why_not` explains otherwise.
    bool detailed_for(const recon::Reconstruction& rec, std::string* why_not = nullptr) const;

    /// Render `frames` (indices into track and rec; each must be valid in both and the track analysed):
    /// one batched FLAME (and D_detail) forward, then images of the frames in parallel.
    /// Throws InputError naming the frame when a needed parameter is missing or a frame is invalid.
    std::vector<ConditioningFrame> render(const face::FaceTrack& track, const recon::Reconstruction& rec,
                                          const std::vector<int64_t>& frames) const;

    const DecaImageRenderer& deca_renderer() const { return deca_renderer_; }

private:
    const recon::FlameModel& flame_;
    recon::DecaModel* deca_;
    ConditioningOptions options_;
    DecaImageRenderer deca_renderer_;
};

}  // namespace ned::conditioning
