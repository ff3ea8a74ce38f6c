// `ned train-renderer`: preparation of the actor's footage, NED's train-time augmentation and clip sampling.
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>
#include <set>

#include "ned/core/error.hpp"
#include "ned/core/fs_util.hpp"
#include "ned/core/log.hpp"
#include "ned/core/torch_mat.hpp"
#include "ned/face/alignment.hpp"
#include "ned/face/crop.hpp"
#include "ned/face/eye_image.hpp"
#include "ned/face/face_track.hpp"
#include "ned/io/video.hpp"
#include "ned/renderer/render.hpp"
#include "renderer/internal.hpp"
#include "renderer/train_internal.hpp"

namespace fs = std::filesystem;

namespace ned::renderer::train_detail {

namespace {
constexpr const char* kCacheFormat = "ned.renderer.cache";
constexpr int kCacheVersion = 1;

cv::Point2f trunc_pt(cv::Point2f p) { return {std::trunc(p.x), std::trunc(p.y)}; }
}  // namespace

uint64_t mix(uint64_t a, uint64_t b) {
    uint64_t z = a * 0x9E3779B97F4A7C15ull + b + 0x632BE59BD9B4E019ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

namespace {

/// The actor's analysed track; fills a.size and the frames that have both a face and conditioning images, with
/// their mouth centres and NED's aligned eye points.
face::FaceTrack load_actor_track(Actor& a, const std::string& track_path) {
    check_input_file(track_path, "face track");
    if (!fs::is_directory(a.cond_dir))
        throw InputError(cat("[train-renderer] ", a.workdir.string(),
                             " has no conditioning/ (run `ned render-inputs` on "
                             "the actor's own reconstruction)"));
    face::FaceTrack track = face::load_track(track_path);
    if (!track.has_analysis)
        throw InputError(cat("[train-renderer] ", track_path, " has no analysis; run `ned analyze`"));
    a.size = track.crop_size;
    for (int64_t t : detail::conditioning_frames(a.cond_dir))
        if (t >= 0 && t < static_cast<int64_t>(track.frames.size()) && track.frames[t].valid) a.frames.push_back(t);
    std::sort(a.frames.begin(), a.frames.end());
    for (int64_t t : a.frames) {
        const auto& f = track.frames[t];
        std::vector<std::pair<float, float>> pts;
        for (int k = 48; k < 68; ++k) pts.emplace_back(f.aligned_landmarks[k].x, f.aligned_landmarks[k].y);
        a.mouth[t] = mouth_center(pts);
        a.eyes[t] = face::eye_points(f, f.align);  // NED's aligned eye landmark files
    }
    return track;
}

/// True when the cache's manifest says it was made from the same work folder and frames; a stale or unreadable
/// manifest is removed.
bool cache_is_current(const fs::path& manifest, const Actor& a) {
    if (!fs::is_regular_file(manifest)) return false;
    try {
        std::ifstream is(manifest);
        const auto j = nlohmann::json::parse(is);
        if (j.value("format", "") == kCacheFormat && j.value("workdir", "") == fs::absolute(a.workdir).string() &&
            j.at("frames").get<std::vector<int64_t>>() == a.frames)
            return true;
    } catch (const nlohmann::json::exception&) {}
    fs::remove(manifest);
    return false;
}

/// Decodes the track's source video and writes the actor's aligned faces (zero outside the mask) and masks.
void write_cache_images(const face::FaceTrack& track, const std::string& track_path, const Actor& a) {
    // the footage is read from the track's source video: check it before anything is written
    std::error_code ec;
    if (!fs::is_regular_file(track.source, ec))
        throw InputError(cat("[train-renderer] ", track_path, ": its source video ", track.source,
                             " does not exist (moved or deleted? run `ned analyze` on it again where it is now)"));
    check_input_file(track.source, "source video");
    NED_LOG_INFO("[train-renderer] preparing {} frames of {} ({})", a.frames.size(), a.workdir.string(), track.source);
    fs::create_directories(a.cache_dir / "faces");
    fs::create_directories(a.cache_dir / "masks");
    const std::set<int64_t> want(a.frames.begin(), a.frames.end());
    io::VideoReader reader(track.source);
    io::Frame fr;
    while (reader.read(fr)) {
        if (!want.count(fr.index)) continue;
        const auto& ff = track.frames[fr.index];
        cv::Mat crop_mask, aligned_mask;
        analysis_masks(track, a.workdir, fr.index, crop_mask, aligned_mask);
        cv::Mat face = face::warp_to_aligned(face::extract_crop(fr.bgr, ff, a.size), ff.align);
        face.setTo(cv::Scalar::all(0), aligned_mask == 0);  // NED's align.py zeroes the face outside the mask
        detail::write_png(a.cache_dir / "faces" / frame_name(fr.index, ".png"), face);
        detail::write_png(a.cache_dir / "masks" / frame_name(fr.index, ".png"), aligned_mask);
    }
    for (int64_t t : a.frames)
        if (!fs::is_regular_file(a.cache_dir / "faces" / frame_name(t, ".png")))
            throw InputError(cat("[train-renderer] frame ", t, " of ", track.source, " could not be decoded"));
}

void write_cache_manifest(const fs::path& manifest, const Actor& a) {
    nlohmann::json j;
    j["format"] = kCacheFormat;
    j["version"] = kCacheVersion;
    j["workdir"] = fs::absolute(a.workdir).string();
    j["frames"] = a.frames;
    AtomicFile f(manifest.string(), true);
    {
        std::ofstream os(f.temp_path());
        os << j.dump() << "\n";
    }
    f.commit();
}

}  // namespace

Actor prepare_actor(const fs::path& workdir, const fs::path& cache_dir, bool prepare) {
    Actor a;
    a.workdir = workdir;
    a.cond_dir = workdir / "conditioning";
    a.cache_dir = cache_dir;
    const std::string track_path = (workdir / "track.safetensors").string();
    const face::FaceTrack track = load_actor_track(a, track_path);
    if (!prepare) return a;

    // Reuse the cache when it was made from the same work folder and frames.
    const fs::path manifest = cache_dir / "cache.json";
    if (cache_is_current(manifest, a)) {
        NED_LOG_INFO("[train-renderer] reusing the prepared frames of {} in {}", workdir.string(), cache_dir.string());
        return a;
    }
    write_cache_images(track, track_path, a);
    write_cache_manifest(manifest, a);
    return a;
}

cv::Mat random_affine(const cv::Mat& img, uint64_t stream) {
    // torchvision RandomAffine.get_params: tx = round(U(-0.01 W, 0.01 W)), ty likewise, scale = U(0.99, 1.01);
    // the image is scaled about its centre and shifted; PIL's default resampling is nearest, fill 0.
    std::mt19937_64 rng(stream);
    std::uniform_real_distribution<double> u(-1.0, 1.0), us(0.99, 1.01);
    const double tx = std::round(u(rng) * 0.01 * img.cols), ty = std::round(u(rng) * 0.01 * img.rows);
    const double s = us(rng);
    const double cx = img.cols * 0.5, cy = img.rows * 0.5;
    const cv::Matx23d m(s, 0, cx - s * cx + tx, 0, s, cy - s * cy + ty);
    cv::Mat out;
    cv::warpAffine(img, out, m, img.size(), cv::INTER_NEAREST, cv::BORDER_CONSTANT, cv::Scalar::all(0));
    return out;
}

FrameData load_frame(const Actor& a, int64_t t, const Augment& aug) {
    const std::string name = frame_name(t, ".png");
    FrameData d;
    cv::Mat nmfc = detail::read_image(a.cond_dir / "nmfc" / name, cv::IMREAD_COLOR, a.size, "NMFC image");
    cv::Mat shape = detail::read_image(a.cond_dir / "shape" / name, cv::IMREAD_COLOR, a.size, "shape image");
    cv::Mat eyes;
    if (aug.on) {
        // NED's create_eyes_image(add_noise=True): one scale for both eyes about each eye's mean (7 points with
        // the pupil), independent x-shifts (left +, right -), then int32 again
        std::mt19937_64 rng(mix(aug.stream, 1));
        std::normal_distribution<double> n02(0.0, 2.0);
        const double scale = 1 + n02(rng) / 100, dl = n02(rng), dr = n02(rng);
        face::EyePoints e = a.eyes.at(t);
        auto jitter = [&](std::array<cv::Point2f, 6>& c, cv::Point2f& pupil, double dx) {
            cv::Point2f mean = pupil;
            for (const auto& p : c) mean += p;
            mean *= 1.0f / 7.0f;
            auto move = [&](cv::Point2f& p) {
                p = trunc_pt(cv::Point2f(static_cast<float>((p.x - mean.x) * scale + mean.x + dx),
                                         static_cast<float>((p.y - mean.y) * scale + mean.y)));
            };
            for (auto& p : c) move(p);
            move(pupil);
        };
        jitter(e.left, e.left_pupil, dl);
        jitter(e.right, e.right_pupil, -dr);
        eyes = face::draw_eye_image(e.left, e.right, e.left_pupil, e.right_pupil, a.size);
        nmfc = random_affine(nmfc, mix(aug.stream, 2));
        eyes = random_affine(eyes, mix(aug.stream, 3));
        shape = random_affine(shape, mix(aug.stream, 4));
    } else {
        eyes = detail::read_image(a.cond_dir / "eyes" / name, cv::IMREAD_COLOR, a.size, "eye image");
    }
    d.cond = conditioning_tensor(nmfc, eyes, shape);
    cv::Mat face = detail::read_image(a.cache_dir / "faces" / name, cv::IMREAD_COLOR, a.size, "prepared face");
    cv::cvtColor(face, face, cv::COLOR_BGR2RGB);
    d.real = mat_to_tensor(face, 2.0 / 255.0) - 1.0;
    d.mask =
        mask_tensor(detail::read_image(a.cache_dir / "masks" / name, cv::IMREAD_GRAYSCALE, a.size, "prepared mask"))[0];
    d.mouth = a.mouth.at(t);
    return d;
}

Dataset make_dataset(const TrainOptions& o, const fs::path& out, bool prepare) {
    Dataset d;
    for (size_t i = 0; i < o.actors.size(); ++i) {
        char name[32];
        std::snprintf(name, sizeof name, "%02d", static_cast<int>(i));
        d.actors.push_back(prepare_actor(o.actors[i], out / "cache" / name, prepare));
        if (d.actors.back().size != d.actors.front().size)
            throw InputError(cat("[train-renderer] the work folders have different crop sizes: ", o.actors.front(), " ",
                                 d.actors.front().size, ", ", o.actors[i], " ", d.actors.back().size));
    }
    d.size = d.actors.front().size;
    // segments = runs of consecutive frames; validation = the end of the longest segment
    std::vector<Item> segments;
    for (size_t ai = 0; ai < d.actors.size(); ++ai)
        for (const FrameStep& s : plan_steps(d.actors[ai].frames)) {
            if (s.restart) segments.push_back({static_cast<int>(ai), {}});
            segments.back().frames.push_back(s.frame);
        }
    if (o.val_frames > 0 && !segments.empty()) {
        auto longest = std::max_element(segments.begin(), segments.end(),
                                        [](const Item& a, const Item& b) { return a.frames.size() < b.frames.size(); });
        if (static_cast<int>(longest->frames.size()) >= o.val_frames + 6) {
            d.val.actor = longest->actor;
            d.val.frames.assign(longest->frames.end() - o.val_frames, longest->frames.end());
            longest->frames.resize(longest->frames.size() - o.val_frames);
        } else {
            NED_LOG_WARN("[train-renderer] no segment is long enough to hold out {} validation frames; no validation",
                         o.val_frames);
        }
    }
    for (const Item& seg : segments)
        for (size_t i = 0; i < seg.frames.size(); i += o.subsequence) {
            Item it{seg.actor, {}};
            it.frames.assign(seg.frames.begin() + i,
                             seg.frames.begin() + std::min(seg.frames.size(), i + o.subsequence));
            if (it.frames.size() >= 3) d.items.push_back(std::move(it));
        }
    if (d.items.empty()) throw InputError("[train-renderer] no run of at least 3 consecutive frames to train on");
    return d;
}

Clips sample_clips(const Dataset& d, const std::vector<size_t>& order, int64_t first, int64_t global, int64_t begin,
                   int64_t end, int n_gen, uint64_t seed, int epoch, bool augment) {
    Clips c;
    size_t L = static_cast<size_t>(n_gen) + 2;
    for (int64_t k = 0; k < global; ++k) L = std::min(L, d.items[order[first + k]].frames.size());
    c.length = L;
    const uint64_t es = mix(seed, static_cast<uint64_t>(epoch));
    for (int64_t k = begin; k < end; ++k) {
        const uint64_t pos = static_cast<uint64_t>(first + k);  // position in the epoch: rank-independent
        const Item& it = d.items[order[pos]];
        std::mt19937_64 crng(mix(es, pos));
        const size_t span = it.frames.size() - L;
        const size_t off = span ? std::uniform_int_distribution<size_t>(0, span)(crng) : 0;
        std::vector<FrameData> clip;
        for (size_t i = 0; i < L; ++i)
            clip.push_back(
                load_frame(d.actors[it.actor], it.frames[off + i], Augment{augment, mix(mix(es, pos), 1000 + i)}));
        c.clips.push_back(std::move(clip));
    }
    return c;
}

}  // namespace ned::renderer::train_detail
