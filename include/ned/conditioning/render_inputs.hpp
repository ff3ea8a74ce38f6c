#pragma once
// `ned render-inputs`: the renderer's conditioning images (NMFC, shape, eyes) of every valid frame of a
// work folder, in aligned space (ned-reference §1.9).
//
// Output (format "ned.conditioning", version 1):
//   WORKDIR/conditioning/nmfc/NNNNNN.png    aligned NMFC, RGB = normalised FLAME template (x, y, z)
//   WORKDIR/conditioning/shape/NNNNNN.png   aligned detailed (or coarse) shape image, grey
//   WORKDIR/conditioning/eyes/NNNNNN.png    aligned eye image, red disks on black
//   WORKDIR/conditioning/crop/{nmfc,shape,eyes}/NNNNNN.png   crop-space versions (only with save_images)
//   WORKDIR/conditioning/conditioning.json  manifest written last: format, version, crop_size, space,
//       frames (indices rendered), shape ("detailed" | "coarse") and shape_note, eyes ("track" | "mesh"),
//       reconstruction, flame, deca, method of the reconstruction.
// NNNNNN = frame index in the video (fs_util frame_name). All PNGs are 8-bit, crop_size x crop_size.
#include <opencv2/core.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "ned/core/progress.hpp"

namespace ned::face {
struct FaceTrack;
}
namespace ned::recon {
struct Reconstruction;
}

namespace ned::conditioning {

/// The frames that get conditioning (and so a rendered face): valid in the track and in the reconstruction,
/// in order.
std::vector<int64_t> frames_to_render(const face::FaceTrack& track, const recon::Reconstruction& rec);

/// Where the eye contours and pupils of the eye image come from (EyeSource), or Auto.
enum class EyesChoice { Auto, Track, Mesh };

struct RenderInputsOptions {
    std::string workdir;                 ///< holds track.safetensors (analysed) and reconstruction.safetensors
    std::string reconstruction;          ///< empty = WORKDIR/reconstruction.safetensors
    std::string flame;                   ///< ned.flame asset (required)
    std::string deca;                    ///< ned.deca weights (optional; without: coarse shape image)
    std::string preview;                 ///< optional contact video: aligned crop | NMFC | shape | eyes; the crop panel
                                         ///< shows the blend mask that follows the edit (draw_edit_mask)
    bool save_images = false;            ///< also write the crop-space images
    EyesChoice eyes = EyesChoice::Auto;  ///< Auto = Mesh when `reconstruction` is given, else Track
    int threads = 0;                     ///< frames in parallel (0 = all cores)
    int batch = 16;                      ///< frames per FLAME/D_detail forward (memory stays O(batch))
    std::string device = "cpu";          ///< where FLAME/D_detail run
    bool overwrite = false;

    /// flame given, batch >= 1, threads >= 0: OptionError (exit 2) naming the field and the value.
    void validate() const;
};

struct RenderInputsResult {
    int64_t frames_rendered = 0;
    bool detailed = false;
    std::string output_dir;
};

/// The blend mask that follows the edit (issue 12): the union of the source face mask and the coverage of the
/// NMFC image (pixels that are not black), both aligned space. Returns 0/255 CV_8UC1.
cv::Mat edit_mask(const cv::Mat& source_mask, const cv::Mat& nmfc);

/// Draw the edit mask on an aligned crop (in place, BGR u8): the source face mask's outline in green; the part
/// the edit adds (NMFC coverage outside the source mask: an opened jaw, raised brows) tinted red (half
/// strength) with the outline of the whole edit mask in red. Pixels outside the edit mask are not changed.
void draw_edit_mask(cv::Mat& aligned_bgr, const cv::Mat& source_mask, const cv::Mat& nmfc);

/// Throws InputError for missing/invalid inputs or existing outputs (without overwrite), ModelError for
/// bad FLAME/DECA assets.
RenderInputsResult render_inputs(const RenderInputsOptions& options, const ProgressFn& progress = {});

}  // namespace ned::conditioning
