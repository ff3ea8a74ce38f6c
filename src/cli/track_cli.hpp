#pragma once
// Options shared by every command that tracks the face: --detector, --target-face, --identity-threshold,
// --no-identity (issue 13). One definition so crop, analyze, translate, style and eval say the same thing.
#include <CLI/CLI.hpp>

#include <map>
#include <string>

#include "ned/track/face_detector.hpp"
#include "ned/track/face_tracker.hpp"

namespace ned::cli {

inline void add_track_identity_options(CLI::App* sub, track::TrackOptions& t, const std::string& group = "") {
    static const std::map<std::string, track::DetectorKind> kinds = {
        {"hog", track::DetectorKind::Hog},
        {"hog-rot", track::DetectorKind::HogRot},
        {"ssd", track::DetectorKind::Ssd},
        {"blazeface", track::DetectorKind::BlazeFace},
        {"hog-blazeface", track::DetectorKind::HogBlazeFace},
        {"combined", track::DetectorKind::Combined}};
    auto* d = sub->add_option("--detector", t.detector,
                              "Face detector: combined (hog and blazeface on every frame, blazeface's extra faces "
                              "checked by FaceMesh: faces turned up to ~60 degrees, also beside a frontal one; "
                              "rolled and border-cut faces; hog-rot where neither finds a face), hog (dlib; frontal "
                              "and rolled up to ~40 degrees), hog-rot (hog, and when it finds no face, hog on the "
                              "frame rotated by -55 and +55 degrees), blazeface (MediaPipe BlazeFace), "
                              "hog-blazeface (hog, and blazeface when hog finds no face) or ssd (face-api's "
                              "SSD-MobileNetV1); the learned ones are shipped in models/open")
                  ->transform(CLI::CheckedTransformer(kinds, CLI::ignore_case))
                  ->default_str(track::detector_name(t.detector));
    auto* f = sub->add_option("--target-face", t.target_face,
                              "Photo of the person to edit: picks that person among the faces (nearest face "
                              "descriptor, instead of --face-index), and after cuts and gaps only a face with this "
                              "identity is the target (default: the first confident frames' face)");
    auto* th = sub->add_option("--identity-threshold", t.identity_threshold,
                               "Face-descriptor distance above which a face is another person (dlib's 0.6)")
                   ->check(finite_range(0.05, 2.0))
                   ->capture_default_str();
    auto* n = sub->add_flag("--no-identity", "Do not check the target's identity across cuts and gaps")
                  ->each([&t](const std::string&) { t.identity = false; });
    n->excludes(f);
    if (!group.empty())
        for (auto* o : {d, f, th, n}) o->group(group);
}

}  // namespace ned::cli
