#include "ned/track/identity.hpp"

#include <opencv2/imgcodecs.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <map>

#include "ned/core/error.hpp"
#include "ned/core/image_io.hpp"
#include "ned/core/log.hpp"
#include "ned/track/face_detector.hpp"
#include "ned/track/landmarks.hpp"
#include "ned/facenet/facenet.hpp"
#include "ned/io/video.hpp"

namespace ned::track {
namespace {

using Descriptor = std::array<float, 128>;

/// face-api's pipeline: landmarks on the detection box, descriptor on the landmarks' box grown by 20%
/// (FaceLandmarks.align(), alignMinBbox(0.2)). `hog_box` is a HOG-like box (what dlib's predictor expects).
Descriptor describe(const facenet::FaceDescriptor& net, const LandmarkDetector& lm, const cv::Mat& bgr,
                    const cv::Vec4f& hog_box) {
    const face::Landmarks pts =
        lm.landmark(bgr, cv::Rect2f(hog_box[0], hog_box[1], hog_box[2] - hog_box[0], hog_box[3] - hog_box[1]));
    float x0 = pts[0].x, x1 = x0, y0 = pts[0].y, y1 = y0;
    for (const auto& p : pts)
        x0 = std::min(x0, p.x), x1 = std::max(x1, p.x), y0 = std::min(y0, p.y), y1 = std::max(y1, p.y);
    const float w = x1 - x0, h = y1 - y0;
    // frame coordinates (pixel centres at integers) -> facenet's pixel-edge coordinates: + 0.5
    return net.describe(bgr, cv::Rect2f(x0 - 0.1f * w + 0.5f, y0 - 0.1f * h + 0.5f, 1.2f * w, 1.2f * h));
}

double median(std::vector<double> v) {
    if (v.empty()) return NAN;
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/// The descriptor of the largest face of the --target-face photo.
Descriptor describe_photo(const facenet::FaceDescriptor& net, const LandmarkDetector& lm, const std::string& photo_path,
                          const std::filesystem::path& models_dir) {
    const cv::Mat photo = read_image(photo_path, cv::IMREAD_COLOR, "--target-face");
    DetectorOptions dopts;
    dopts.kind = DetectorKind::Ssd;
    dopts.models_dir = models_dir.string();
    const auto faces = FaceDetector(dopts).detect(photo);
    if (faces.empty())
        throw OptionError("TrackOptions::target_face", cat(" ", photo_path, ": no face found in the photo"));
    return describe(net, lm, photo, faces[0].box);
}

/// The track's shots (a segment starts at every shot_start), each accepted until its faces are compared.
std::vector<SegmentIdentity> shot_segments(const face::FaceTrack& track) {
    const long T = static_cast<long>(track.frames.size());
    std::vector<SegmentIdentity> segs;
    for (long t = 0; t < T;) {
        long e = t + 1;
        while (e < T && !track.frames[e].shot_start) ++e;
        segs.push_back({t, e, NAN, true});
        t = e;
    }
    return segs;
}

/// Marks the valid frames of `seg` invalid (status OtherPerson); returns how many.
long mark_other_person(face::FaceTrack& track, const SegmentIdentity& seg) {
    long changed = 0;
    for (long t = seg.begin; t < seg.end; ++t) {
        face::FaceFrame& f = track.frames[t];
        if (!f.valid) continue;
        f.valid = false;
        f.detected = false;
        f.status = face::FrameStatus::OtherPerson;
        ++changed;
    }
    return changed;
}

}  // namespace

std::pair<long, int> find_target_face(const std::string& video_path,
                                      const std::vector<std::vector<Detection>>& detections,
                                      const IdentityOptions& options, int samples_max) {
    if (options.target_face.empty()) throw OptionError("TrackOptions::target_face", " is empty: no photo to look for");
    const std::filesystem::path dir =
        options.models_dir.empty() ? facenet::open_models_dir() : std::filesystem::path(options.models_dir);
    const facenet::FaceDescriptor net(dir);
    const LandmarkDetector lm;
    const Descriptor target = describe_photo(net, lm, options.target_face, dir);
    std::vector<long> with_faces;
    for (long t = 0; t < static_cast<long>(detections.size()); ++t)
        if (!detections[t].empty()) with_faces.push_back(t);
    if (with_faces.empty()) throw InputError(cat("no face found in ", video_path));
    const int k = std::max(1, std::min<int>(samples_max, static_cast<int>(with_faces.size())));
    std::vector<long> sampled;
    for (int i = 0; i < k; ++i) sampled.push_back(with_faces[(2 * i + 1) * with_faces.size() / (2 * k)]);
    long best_t = -1;
    int best_i = -1;
    double best = INFINITY;
    io::VideoReader reader(video_path);
    io::Frame fr;
    size_t next = 0;
    for (long t = 0; next < sampled.size() && reader.read(fr); ++t) {
        if (t != sampled[next]) continue;
        ++next;
        for (size_t i = 0; i < detections[t].size(); ++i) {
            const double d = facenet::FaceDescriptor::distance(describe(net, lm, fr.bgr, detections[t][i].box), target);
            if (d < best) best = d, best_t = t, best_i = static_cast<int>(i);
        }
    }
    if (best_t < 0 || !(best <= options.threshold))
        throw OptionError("TrackOptions::target_face",
                          cat(" ", options.target_face, ": no face in ", video_path,
                              " is this person (nearest descriptor distance ", best_t < 0 ? NAN : best, " in ", k,
                              " sampled frames, above the identity threshold ", options.threshold, ")"));
    NED_LOG_INFO("[identity] --target-face: the person is face {} of frame {} (descriptor distance {:.2f})", best_i,
                 best_t, best);
    return {best_t, best_i};
}

std::vector<SegmentIdentity> apply_identity(const std::string& video_path, face::FaceTrack& track,
                                            const IdentityOptions& options, const ProgressFn& progress) {
    if (!(options.threshold > 0.f))
        throw InputError(cat("identity threshold must be > 0 (got ", options.threshold, ")"));
    std::vector<SegmentIdentity> segs = shot_segments(track);
    if (segs.size() <= 1 && options.target_face.empty()) return segs;

    const std::filesystem::path dir =
        options.models_dir.empty() ? facenet::open_models_dir() : std::filesystem::path(options.models_dir);
    const facenet::FaceDescriptor net(dir);
    const LandmarkDetector lm;

    // Frames to describe: per segment up to `samples` detected frames, evenly spaced; plus the reference frames.
    std::map<long, int> wanted;  // frame -> segment index
    std::vector<long> reference;
    for (size_t s = 0; s < segs.size(); ++s) {
        std::vector<long> det;
        for (long t = segs[s].begin; t < segs[s].end; ++t)
            if (track.frames[t].valid && track.frames[t].status == face::FrameStatus::Detected) det.push_back(t);
        if (det.empty()) continue;
        const int k = std::min<int>(options.samples, static_cast<int>(det.size()));
        for (int i = 0; i < k; ++i) wanted[det[(2 * i + 1) * det.size() / (2 * k)]] = static_cast<int>(s);
        if (options.target_face.empty() && reference.empty() &&
            static_cast<int>(det.size()) >= options.reference_frames)
            reference.assign(det.begin(), det.begin() + options.reference_frames);
    }
    Descriptor ref{};
    std::vector<Descriptor> ref_list;
    if (!options.target_face.empty()) ref_list.push_back(describe_photo(net, lm, options.target_face, dir));
    for (long t : reference) wanted.emplace(t, -1);
    if (wanted.empty()) return segs;

    std::vector<std::vector<double>> dists(segs.size());
    std::map<long, Descriptor> described;
    {
        io::VideoReader reader(video_path);
        io::Frame fr;
        const long last = wanted.rbegin()->first;
        for (long t = 0; t <= last && reader.read(fr); ++t) {
            if (progress) progress(t + 1, last + 1);
            if (!wanted.count(t)) continue;
            described[t] = describe(net, lm, fr.bgr, ned_box_to_hog(track.frames[t].box));
        }
    }
    for (long t : reference)
        if (described.count(t)) ref_list.push_back(described[t]);
    if (ref_list.empty()) {
        NED_LOG_WARN("[identity] no reference face (no segment with {} detected frames): identity not checked",
                     options.reference_frames);
        return segs;
    }
    for (const auto& d : ref_list)
        for (int i = 0; i < 128; ++i) ref[i] += d[i] / static_cast<float>(ref_list.size());
    for (const auto& [t, s] : wanted)
        if (s >= 0 && described.count(t)) dists[s].push_back(facenet::FaceDescriptor::distance(described[t], ref));
    for (size_t s = 0; s < segs.size(); ++s) {
        segs[s].distance = median(dists[s]);
        if (!(segs[s].distance > options.threshold)) continue;
        segs[s].accepted = false;
        const long changed = mark_other_person(track, segs[s]);
        NED_LOG_WARN(
            "[identity] frames {}..{}: another person (descriptor distance {:.2f} > {:.2f}); {} frames "
            "marked invalid",
            segs[s].begin, segs[s].end - 1, segs[s].distance, options.threshold, changed);
    }
    return segs;
}

}  // namespace ned::track
