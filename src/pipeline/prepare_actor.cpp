// train-renderer's raw-input preparation (include/ned/pipeline/prepare_actor.hpp).
#include "ned/pipeline/prepare_actor.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <memory>

#include "ned/core/error.hpp"
#include "ned/core/fs_util.hpp"
#include "ned/core/log.hpp"
#include "ned/core/progress.hpp"
#include "ned/face/face_track.hpp"
#include "ned/io/video.hpp"
#include "ned/recon/reconstruction.hpp"
#include "ned/conditioning/render_inputs.hpp"
#include "pipeline/source_stages.hpp"
#include "pipeline/stage_record.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace ned::pipeline {
namespace {

/// "clip 01.mp4" -> "clip_01": letters, digits, '-', '_' kept, the rest '_', at most 40 characters.
std::string safe_stem(const fs::path& p) {
    std::string s = p.stem().string().substr(0, 40);
    for (auto& c : s)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') c = '_';
    return s.empty() ? "video" : s;
}

std::string prepare_video(const std::string& video, const PrepareActorOptions& o) {
    const json video_id = file_identity(video);
    const fs::path dir =
        fs::path(o.out) / "cache" / cat("video-", safe_stem(video), "-", hash_hex(video_id.dump()).substr(0, 12));
    fs::create_directories(dir);
    StageRecords records(dir.string());
    const std::string recon_path = (dir / "reconstruction.safetensors").string();
    const std::string name = fs::path(video).filename().string();
    auto report = [&](const char* stage, const StageOutcome& s) {
        if (s.skipped)
            NED_LOG_INFO("[train-renderer] {}: {} reused from {}", name, stage, dir.string());
        else
            NED_LOG_INFO("[train-renderer] {}: {} done ({} frames, {:.1f} s)", name, stage, s.frames, s.wall_s);
    };

    // The same stages and keys as `ned translate` for the same options (its largest face, the default detector).
    SourceStagesOptions so;
    so.video = video;
    so.dir = dir.string();
    so.label = name + ": ";
    so.models = o.models;
    so.fit_iters = o.fit_iters;
    so.track.crop_size = o.crop_size;
    so.device = o.device;
    so.threads = o.threads;
    const SourceStagesOutcome s = run_source_stages(records, so);
    report("analysis", s.analysis);
    report("reconstruction", s.reconstruction);
    const StageOutcome& r = s.reconstruction;

    // The actor's own conditioning: NMFC, shape and eyes of its own reconstruction (eyes from the track's
    // pupils, as render-inputs does without an edited reconstruction).
    const json c_in = {{"upstream", r.key},
                       {"reconstruction", file_identity(recon_path)},
                       {"flame", file_identity(o.models.flame)},
                       {"deca", file_identity(o.models.deca)}};
    const StageOutcome c = records.run("condition", c_in, [&]() -> long {
        conditioning::RenderInputsOptions ro;
        ro.workdir = dir.string();
        ro.flame = o.models.flame;
        ro.deca = o.models.deca;
        ro.threads = o.threads;
        ro.device = o.device;
        ro.overwrite = true;
        ProgressBar b(name + ": conditioning", 0);
        const auto res = conditioning::render_inputs(ro, b.fn());
        b.finish();
        return static_cast<long>(res.frames_rendered);
    });
    report("conditioning", c);
    return dir.string();
}

}  // namespace

bool is_video_file(const std::string& path) {
    std::string ext = fs::path(path).extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
    for (const char* e : {".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v"})
        if (ext == e) return true;
    return false;
}

namespace {

struct Item {
    std::string path;
    bool video;
};

/// A work folder train-renderer can read: an analysed track and the actor's conditioning (nothing is written).
void check_workdir(const std::string& dir) {
    const std::string track_path = (fs::path(dir) / "track.safetensors").string();
    check_input_file(track_path, "face track");
    const face::FaceTrack track = face::load_track(track_path);  // a broken track: InputError naming it
    if (!track.has_analysis)
        throw InputError(cat("train-renderer: ", track_path, " has no analysis; run `ned analyze` on the video first"));
    if (!fs::is_directory(fs::path(dir) / "conditioning"))
        throw InputError(cat("train-renderer: ", dir,
                             " has no conditioning/ (run `ned render-inputs` on the actor's own "
                             "reconstruction), or give the video itself"));
}

/// Steps 1-2 of prepare_actor: expand the arguments and check every one (no decoding, nothing written).
std::vector<Item> expand_actors(const std::vector<std::string>& actors, const PrepareActorOptions& o) {
    if (o.out.empty()) throw InputError("train-renderer: --out is required");
    // 1. Expand the arguments and check them: work folders analysed and conditioned, videos openable.
    std::vector<Item> items;
    for (const auto& a : actors) {
        std::error_code ec;
        if (fs::is_directory(a, ec)) {
            if (fs::is_regular_file(fs::path(a) / "track.safetensors", ec)) {
                check_workdir(a);
                items.push_back({a, false});
                continue;
            }
            std::vector<std::string> videos;
            for (const auto& e : fs::directory_iterator(a, ec))
                if (e.is_regular_file() && is_video_file(e.path().string())) videos.push_back(e.path().string());
            std::sort(videos.begin(), videos.end());
            if (videos.empty())
                throw InputError(cat("train-renderer: ", a,
                                     " is neither an analysed work folder (no track.safetensors) "
                                     "nor a folder of videos (.mp4 .mov .mkv .avi .webm .m4v)"));
            for (auto& v : videos) items.push_back({v, true});
        } else if (fs::is_regular_file(a, ec)) {
            items.push_back({a, true});
        } else {
            throw InputError(cat("train-renderer: ", a,
                                 " does not exist (expected a video, a folder of videos or an "
                                 "analysed work folder)"));
        }
    }
    for (const auto& it : items) {
        if (!it.video) continue;
        check_input_file(it.path, "actor video");
        io::probe(it.path, false);  // not a video (no video stream, unreadable): InputError naming it
    }
    // 2. Models, before any decoding (exit 3).
    const bool any_video = std::any_of(items.begin(), items.end(), [](const Item& i) { return i.video; });
    if (any_video) check_reconstruction_models(o.models);
    return items;
}

}  // namespace

void check_actor_inputs(const std::vector<std::string>& actors, const PrepareActorOptions& o) {
    expand_actors(actors, o);
}

std::vector<std::string> prepare_actor(const std::vector<std::string>& actors, const PrepareActorOptions& o) {
    const std::vector<Item> items = expand_actors(actors, o);
    // 3. Prepare each video (stage records make a second run reuse it).
    std::vector<std::string> out;
    for (const auto& it : items) out.push_back(it.video ? prepare_video(it.path, o) : it.path);
    return out;
}

}  // namespace ned::pipeline
