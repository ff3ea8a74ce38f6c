#pragma once
// The contact sheet of a face track (`ned crop --preview`): tiles of chosen frames and a timeline strip,
// so a person sees at a glance where the face is tracked and why other frames are passed through.
//
//   - tiles: `count` crops spread evenly over the valid frames (label "#t", "#t filled"), plus up to
//     count/2 invalid frames, one per invalid run, longest runs first, shown as the whole frame (with the
//     stale or outside box in red when there is one) and labelled with the reason ("#t no face",
//     "#t outside frame"); tiles are in frame order;
//     plus up to count/4 frames, one per run of frames found by another detector than HOG or landmarked by
//     another model than dlib, labelled with the model ("blazeface", "hog-rotated", "facemesh yaw 48");
//   - timeline (bottom strip, one column per slice of frames): green = detected, yellow = filled,
//     red = no face, magenta = outside frame (the worst status of the slice wins); white ticks mark cuts and
//     re-acquisitions of the target; above it a thin model band where the slice's detected frames were found
//     by another detector than HOG: blue = hog-rotated, cyan = blazeface, orange = ssd.
#include <opencv2/core.hpp>

#include <vector>

#include "ned/face/face_track.hpp"

namespace ned::track {

class ContactSheet {
public:
    ContactSheet(const face::FaceTrack& track, int count, int tile);
    /// Frames whose picture the sheet needs, ascending.
    const std::vector<long>& frames() const { return frames_; }
    /// Give the picture of frame t: `crop` (crop_size BGR) for valid frames, else the whole frame `bgr`.
    /// Frames that are not on the sheet are ignored.
    void add(long t, const cv::Mat& bgr, const cv::Mat& crop);
    /// The finished sheet (tiles in frame order and the timeline).
    cv::Mat image() const;

private:
    const face::FaceTrack& track_;
    int tile_;
    std::vector<long> frames_;
    cv::Mat sheet_;
};

}  // namespace ned::track
