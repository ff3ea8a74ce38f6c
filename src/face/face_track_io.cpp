#include <cmath>
#include <cstring>
#include <filesystem>

#include "ned/core/error.hpp"
#include "ned/core/safetensors.hpp"
#include "ned/face/face_track.hpp"

namespace ned::face {

size_t FaceTrack::num_valid() const {
    size_t n = 0;
    for (const auto& f : frames) n += f.valid ? 1 : 0;
    return n;
}

const char* status_name(FrameStatus s) {
    switch (s) {
        case FrameStatus::NoFace: return "no face";
        case FrameStatus::Detected: return "detected";
        case FrameStatus::Filled: return "filled";
        case FrameStatus::OutsideFrame: return "outside frame";
        case FrameStatus::OtherPerson: return "other person";
    }
    return "?";
}

FrameStatus effective_status(const FaceFrame& f) {
    if (f.valid) return f.detected ? FrameStatus::Detected : FrameStatus::Filled;
    if (f.status == FrameStatus::OutsideFrame || f.status == FrameStatus::OtherPerson) return f.status;
    return FrameStatus::NoFace;
}

const char* source_name(DetectionSource s) {
    switch (s) {
        case DetectionSource::Hog: return "hog";
        case DetectionSource::HogRotated: return "hog-rotated";
        case DetectionSource::BlazeFace: return "blazeface";
        case DetectionSource::Ssd: return "ssd";
        case DetectionSource::None: break;
    }
    return "none";
}

const char* landmark_source_name(LandmarkSource s) {
    switch (s) {
        case LandmarkSource::FaceMesh: return "facemesh";
        case LandmarkSource::Blend: return "blend";
        case LandmarkSource::Dlib: break;
    }
    return "dlib";
}

TrackCounts count_frames(const FaceTrack& track) {
    TrackCounts c;
    c.frames = static_cast<long>(track.frames.size());
    c.has_analysis = track.has_analysis;
    for (const auto& f : track.frames) {
        c.valid += f.valid ? 1 : 0;
        if (effective_status(f) == FrameStatus::Detected) ++c.by_detector[static_cast<int>(f.detector)];
        if (f.valid && track.has_analysis) ++c.by_landmarks[static_cast<int>(f.landmark_source)];
        c.shots += f.shot_start ? 1 : 0;
        switch (effective_status(f)) {
            case FrameStatus::Detected: ++c.detected; break;
            case FrameStatus::Filled: ++c.filled; break;
            case FrameStatus::NoFace: ++c.no_face; break;
            case FrameStatus::OutsideFrame: ++c.outside; break;
            case FrameStatus::OtherPerson: ++c.other; break;
        }
    }
    return c;
}

std::string describe(const TrackCounts& c) {
    std::string by;
    for (int k = 1; k < kNumDetectionSources; ++k)
        if (c.by_detector[k] > 0)
            by += cat(by.empty() ? " (" : ", ", source_name(static_cast<DetectionSource>(k)), " ", c.by_detector[k]);
    if (!by.empty()) by += ")";
    std::string s =
        cat(c.frames, " frames: face detected in ", c.detected, by, ", filled ", c.filled, ", valid ", c.valid);
    if (c.valid < c.frames)
        s += cat("; invalid ", c.frames - c.valid, " (no face ", c.no_face, ", outside frame ", c.outside,
                 c.other > 0 ? cat(", other person ", c.other) : std::string(), ")");
    if (c.has_analysis) {
        s += "; landmarks";
        for (int k = 0; k < kNumLandmarkSources; ++k)
            s += cat(k == 0 ? " " : ", ", landmark_source_name(static_cast<LandmarkSource>(k)), " ", c.by_landmarks[k]);
    }
    return s;
}

namespace {
constexpr const char* kFormat = "ned.track";

void put_mat23(std::vector<float>& v, const cv::Matx23f& m) {
    for (int i = 0; i < 6; ++i) v.push_back(m.val[i]);
}
cv::Matx23f get_mat23(const float* p) {
    cv::Matx23f m;
    for (int i = 0; i < 6; ++i) m.val[i] = p[i];
    return m;
}

// Coordinates of any real track are within a few frame sizes of the frame; this bound only stops hostile
// values (which overflow the integer pixel arithmetic downstream).
constexpr float kMaxCoord = 1e6f;

// Refuse a float tensor [T, ...] with a non-finite or absurdly large value, naming the first bad frame.
void check_values(const std::string& path, const std::string& name, const st::Tensor& t) {
    const int64_t T = t.shape.empty() ? 0 : t.shape[0];
    const int64_t row = T > 0 ? t.numel() / T : 0;
    const float* p = t.ptr<float>();
    for (int64_t i = 0; i < T; ++i)
        for (int64_t k = 0; k < row; ++k) {
            const float v = p[i * row + k];
            if (!std::isfinite(v) || std::fabs(v) > kMaxCoord)
                throw InputError(cat(path, ": tensor '", name, "' frame ", i, ": value ", v,
                                     " (expected finite values within +-", kMaxCoord, ")"));
        }
}
}  // namespace

void save_track(const std::string& path, const FaceTrack& track) {
    const int64_t T = static_cast<int64_t>(track.frames.size());
    st::File f;
    f.metadata = {
        {"format", kFormat},
        {"version", "1"},
        {"source",
         track.source.empty() ? std::string() : std::filesystem::absolute(track.source).lexically_normal().string()},
        {"fps", std::to_string(track.fps_num) + "/" + std::to_string(track.fps_den)},
        {"width", std::to_string(track.width)},
        {"height", std::to_string(track.height)},
        {"crop_size", std::to_string(track.crop_size)},
        {"frame_count", std::to_string(T)},
        {"has_analysis", track.has_analysis ? "1" : "0"}};
    std::vector<float> boxes, c2f, lmk, alm, align, pupils, yaw;
    std::vector<uint8_t> valid, detected, status, shot_start, detector, lmk_source;
    for (const auto& fr : track.frames) {
        status.push_back(static_cast<uint8_t>(effective_status(fr)));
        detector.push_back(effective_status(fr) == FrameStatus::Detected ? static_cast<uint8_t>(fr.detector) : 0);
        shot_start.push_back(fr.shot_start ? 1 : 0);
        for (int i = 0; i < 4; ++i) boxes.push_back(fr.box[i]);
        put_mat23(c2f, fr.crop_to_frame);
        valid.push_back(fr.valid ? 1 : 0);
        detected.push_back(fr.detected ? 1 : 0);
        if (track.has_analysis) {
            for (const auto& p : fr.landmarks) lmk.insert(lmk.end(), {p.x, p.y});
            for (const auto& p : fr.aligned_landmarks) alm.insert(alm.end(), {p.x, p.y});
            put_mat23(align, fr.align);
            for (const auto& p : fr.pupils) pupils.insert(pupils.end(), {p.x, p.y});
            lmk_source.push_back(static_cast<uint8_t>(fr.landmark_source));
            yaw.push_back(fr.yaw_deg);
        }
    }
    f.tensors["boxes"] = st::Tensor::f32({T, 4}, boxes);
    f.tensors["valid"] = st::Tensor::u8({T}, valid);
    f.tensors["detected"] = st::Tensor::u8({T}, detected);
    f.tensors["status"] = st::Tensor::u8({T}, status);
    f.tensors["shot_start"] = st::Tensor::u8({T}, shot_start);
    f.tensors["detector"] = st::Tensor::u8({T}, detector);
    f.tensors["crop_to_frame"] = st::Tensor::f32({T, 2, 3}, c2f);
    if (track.has_analysis) {
        f.tensors["landmarks"] = st::Tensor::f32({T, kNumLandmarks, 2}, lmk);
        f.tensors["aligned_landmarks"] = st::Tensor::f32({T, kNumLandmarks, 2}, alm);
        f.tensors["align"] = st::Tensor::f32({T, 2, 3}, align);
        f.tensors["pupils"] = st::Tensor::f32({T, 2, 2}, pupils);
        f.tensors["landmark_source"] = st::Tensor::u8({T}, lmk_source);
        f.tensors["yaw"] = st::Tensor::f32({T}, yaw);
    }
    st::save(path, f);
}

namespace {

/// The track's size, crop size and frame rate from the file's metadata.
void read_metadata(const st::File& f, const std::string& path, FaceTrack& t) {
    t.source = f.meta("source");
    try {
        t.width = std::stoi(f.meta("width", "0"));
        t.height = std::stoi(f.meta("height", "0"));
        t.crop_size = std::stoi(f.meta("crop_size", "256"));
        const std::string fps = f.meta("fps", "0/1");
        const auto slash = fps.find('/');
        t.fps_num = std::stoi(fps.substr(0, slash));
        t.fps_den = slash == std::string::npos ? 1 : std::stoi(fps.substr(slash + 1));
    } catch (const std::exception&) {
        throw InputError(path + ": malformed track metadata (width/height/crop_size/fps)");
    }
    if (t.width <= 0 || t.height <= 0 || t.width > 65536 || t.height > 65536)
        throw InputError(cat(path, ": frame size ", t.width, "x", t.height, " in the metadata (expected 1..65536)"));
    if (t.crop_size < 8 || t.crop_size > 8192)
        throw InputError(cat(path, ": crop_size ", t.crop_size, " in the metadata (expected 8..8192)"));
}

/// The file's per-frame tensors, their types and shapes checked (nullptr: an optional one the file lacks).
struct TrackTensors {
    int64_t T = 0;
    const st::Tensor *boxes = nullptr, *valid = nullptr, *c2f = nullptr;
    const st::Tensor *detected = nullptr, *status = nullptr, *shot_start = nullptr, *detector = nullptr;
    // with the analysis only
    const st::Tensor *lmk = nullptr, *alm = nullptr, *align = nullptr, *pupils = nullptr;
    const st::Tensor *lmk_source = nullptr, *yaw = nullptr;
};

TrackTensors find_tensors(const st::File& f, const std::string& path, bool has_analysis) {
    TrackTensors x;
    x.boxes = &f.at("boxes", st::DType::F32, {-1, 4});
    const int64_t T = x.T = x.boxes->shape[0];
    x.valid = &f.at("valid", st::DType::U8, {T});
    x.c2f = &f.at("crop_to_frame", st::DType::F32, {T, 2, 3});
    if (f.has("detected")) x.detected = &f.at("detected", st::DType::U8, {T});
    if (f.has("status")) x.status = &f.at("status", st::DType::U8, {T});
    if (f.has("shot_start")) x.shot_start = &f.at("shot_start", st::DType::U8, {T});
    if (f.has("detector")) x.detector = &f.at("detector", st::DType::U8, {T});
    if (has_analysis) {
        x.lmk = &f.at("landmarks", st::DType::F32, {T, kNumLandmarks, 2});
        x.alm = &f.at("aligned_landmarks", st::DType::F32, {T, kNumLandmarks, 2});
        x.align = &f.at("align", st::DType::F32, {T, 2, 3});
        x.pupils = &f.at("pupils", st::DType::F32, {T, 2, 2});
        if (f.has("landmark_source")) x.lmk_source = &f.at("landmark_source", st::DType::U8, {T});
        if (f.has("yaw")) x.yaw = &f.at("yaw", st::DType::F32, {T});
    }
    check_values(path, "boxes", *x.boxes);
    check_values(path, "crop_to_frame", *x.c2f);
    if (has_analysis) {
        check_values(path, "landmarks", *x.lmk);
        check_values(path, "aligned_landmarks", *x.alm);
        check_values(path, "align", *x.align);
        check_values(path, "pupils", *x.pupils);
        if (x.yaw) check_values(path, "yaw", *x.yaw);
    }
    const std::string fc = f.meta("frame_count");
    if (!fc.empty() && fc != std::to_string(T))
        throw InputError(cat(path, ": metadata frame_count ", fc, " but the tensors have ", T, " frames"));
    return x;
}

/// Frame i's tracking: box, validity, status (checked against validity), shot start, detector, crop transform.
void read_tracking(const TrackTensors& x, int64_t i, const std::string& path, FaceFrame& fr) {
    const float* b = x.boxes->ptr<float>() + 4 * i;
    fr.box = {b[0], b[1], b[2], b[3]};
    fr.valid = x.valid->ptr<uint8_t>()[i] != 0;
    fr.detected = x.detected ? x.detected->ptr<uint8_t>()[i] != 0 : fr.valid;
    fr.status = fr.detected ? FrameStatus::Detected : fr.valid ? FrameStatus::Filled : FrameStatus::NoFace;
    if (x.status) {
        const uint8_t s = x.status->ptr<uint8_t>()[i];
        const bool ok = fr.valid ? (s == 1 || s == 2) : (s == 0 || s == 3 || s == 4);
        if (!ok)
            throw InputError(
                cat(path, ": tensor 'status' of frame ", i, " is ", int(s),
                    fr.valid ? ", expected 1 (detected) or 2 (filled) for a valid frame"
                             : ", expected 0 (no face), 3 (outside frame) or 4 (other person) for an invalid frame"));
        fr.status = static_cast<FrameStatus>(s);
        fr.detected = fr.status == FrameStatus::Detected;
    }
    fr.shot_start = x.shot_start ? x.shot_start->ptr<uint8_t>()[i] != 0 : i == 0;
    if (x.detector) {
        const uint8_t d = x.detector->ptr<uint8_t>()[i];
        if (d >= kNumDetectionSources || (d != 0 && fr.status != FrameStatus::Detected))
            throw InputError(cat(path, ": tensor 'detector' of frame ", i, " is ", int(d), ", expected ",
                                 fr.status == FrameStatus::Detected ? "0..4" : "0 for a frame that is not detected"));
        fr.detector = static_cast<DetectionSource>(d);
    }
    fr.crop_to_frame = get_mat23(x.c2f->ptr<float>() + 6 * i);
}

/// Frame i's analysis: landmarks (crop and aligned), alignment, pupils, landmark model, yaw.
void read_analysis(const TrackTensors& x, int64_t i, const std::string& path, FaceFrame& fr) {
    for (int k = 0; k < kNumLandmarks; ++k) {
        const float* p = x.lmk->ptr<float>() + (i * kNumLandmarks + k) * 2;
        const float* q = x.alm->ptr<float>() + (i * kNumLandmarks + k) * 2;
        fr.landmarks[k] = {p[0], p[1]};
        fr.aligned_landmarks[k] = {q[0], q[1]};
    }
    fr.align = get_mat23(x.align->ptr<float>() + 6 * i);
    const float* pp = x.pupils->ptr<float>() + 4 * i;
    fr.pupils = {cv::Point2f(pp[0], pp[1]), cv::Point2f(pp[2], pp[3])};
    if (x.lmk_source) {
        const uint8_t l = x.lmk_source->ptr<uint8_t>()[i];
        if (l >= kNumLandmarkSources)
            throw InputError(cat(path, ": tensor 'landmark_source' of frame ", i, " is ", int(l),
                                 ", expected 0 (dlib), 1 (facemesh) or 2 (blend)"));
        fr.landmark_source = static_cast<LandmarkSource>(l);
    }
    if (x.yaw) fr.yaw_deg = x.yaw->ptr<float>()[i];
}

}  // namespace

FaceTrack load_track(const std::string& path) {
    st::File f = st::load(path, st::Role::Input);
    f.require_format(kFormat, 1);
    FaceTrack t;
    read_metadata(f, path, t);
    t.has_analysis = f.has("landmarks");
    const TrackTensors x = find_tensors(f, path, t.has_analysis);
    t.frames.resize(x.T);
    for (int64_t i = 0; i < x.T; ++i) {
        read_tracking(x, i, path, t.frames[i]);
        if (t.has_analysis) read_analysis(x, i, path, t.frames[i]);
    }
    return t;
}

}  // namespace ned::face
