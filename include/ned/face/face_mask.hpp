#pragma once
// Face masks in crop space. NED segments the face with FSGAN's U-Net (gated weights, see segmentation.hpp);
// without those weights ned derives the mask from the 68 landmarks: the jaw line closed by the eyebrows
// raised towards the forehead, filled, largest component kept, then NED's SoftErosion (k=21, thr 0.6, hard
// mask), the same post-processing NED applies to the U-Net output (ned-reference §1.5, §5.5).
#include <opencv2/core.hpp>

#include "ned/face/face_track.hpp"

namespace ned::face {

struct FaceMaskOptions {
    /// How far the eyebrow points are raised, as a fraction of the face height (chin to mean eyebrow
    /// point), along the face's up direction (chin -> eyebrows), so the mask covers the forehead.
    float forehead_fraction = 0.25f;
    int erosion_kernel = 21;         ///< SoftErosion kernel size (NED segmentation: 21)
    float erosion_threshold = 0.6f;  ///< SoftErosion threshold for the hard mask (NED segmentation: 0.6)

    /// OptionError naming the field for a forehead fraction outside [0, 2], an erosion kernel that is not odd and
    /// >= 1 or an erosion threshold outside [0, 1].
    void validate() const;
};

/// The polygon the landmark mask fills (crop pixels): jaw 0..16 then the raised eyebrows 26..17.
std::vector<cv::Point2f> face_mask_polygon(const Landmarks& crop_landmarks, float forehead_fraction);

/// Keep only the largest 8-connected component of a u8 mask (non-zero = foreground); returns 0/255.
cv::Mat keep_largest_component(const cv::Mat& mask_u8);

/// Face mask from the landmarks of one crop: CV_8UC1 crop_size x crop_size, values 0 or 255.
cv::Mat landmark_face_mask(const Landmarks& crop_landmarks, int crop_size, const FaceMaskOptions& options = {});

/// NED's mask post-processing of a binary face mask (u8, non-zero = face): SoftErosion(k, thr) -> hard mask,
/// then the largest component. Returns 0/255 (all zero if nothing survives).
cv::Mat postprocess_face_mask(const cv::Mat& mask_u8, int erosion_kernel = 21, float erosion_threshold = 0.6f);

}  // namespace ned::face
