#pragma once
// `ned crop`'s second decoding pass: the crops of a track's valid frames as PNGs and a contact sheet.
#include <string>

#include "ned/core/progress.hpp"
#include "ned/face/face_track.hpp"

namespace ned::track {

/// What save_crop_images writes.
// No validate(): paths checked as outputs where they are written; counts and sizes set by code, not by users.
struct CropImagesOptions {
    std::string crops_dir;     ///< if set: one PNG per valid frame, named frame_name(i, ".png"); created if missing
    std::string preview_path;  ///< if set: a JPEG/PNG contact sheet of `preview_count` crops with frame indices
    int preview_count = 8;     ///< crops on the contact sheet (evenly spaced over the valid frames)
    int preview_tile = 160;    ///< tile size of the contact sheet (pixels)
    bool overwrite = false;    ///< replace an existing preview file / crop PNGs
};

/// Second decoding pass over `video_path`: writes the crops of the valid frames of `track` (frames beyond
/// the track are ignored) and/or the contact sheet. Returns the number of crops written.
long save_crop_images(const std::string& video_path, const face::FaceTrack& track, const CropImagesOptions& options,
                      const ProgressFn& progress = {});

}  // namespace ned::track
