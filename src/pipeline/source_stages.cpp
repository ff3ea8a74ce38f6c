// Analysis and reconstruction stages of one video (src/pipeline/source_stages.hpp).
#include "pipeline/source_stages.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>

#include "ned/core/log.hpp"
#include "ned/core/progress.hpp"
#include "ned/analysis/analyze.hpp"
#include "ned/face/face_track.hpp"
#include "ned/recon/reconstruct.hpp"
#include "ned/recon/reconstruction.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace ned::pipeline {

SourceStagesOutcome run_source_stages(StageRecords& records, const SourceStagesOptions& o) {
    fs::create_directories(o.dir);
    SourceStagesOutcome out;
    out.track_path = (fs::path(o.dir) / "track.safetensors").string();
    out.reconstruction_path = (fs::path(o.dir) / "reconstruction.safetensors").string();
    const track::TrackOptions& to = o.track;
    // Every field of the track options (track::to_json: a new field cannot be left out) but the threads, which do
    // not change the track; the target photo by its content.
    json a_in = track::to_json(to);
    a_in.erase("threads");
    a_in["target_face"] = to.target_face.empty() ? json(nullptr) : file_identity(to.target_face);
    a_in.update(json{
        {"video", file_identity(o.video)},
        {"landmarks", file_identity(o.models.landmarks.empty() ? track::kDefaultLandmarkModel : o.models.landmarks)},
        {"landmark_mode", analysis::landmark_mode_name(analysis::AnalyzeOptions{}.landmarks)},  // issue 22: by yaw
        {"segmentation", file_identity(o.models.segmentation)}});
    out.analysis = records.run(o.stage_prefix + "analyze", a_in, [&]() -> long {
        analysis::AnalyzeOptions ao;
        ao.track = to;
        ao.track.threads = o.threads;
        ao.threads = o.threads;
        ao.landmark_model = o.models.landmarks;
        ao.segmentation_model = o.models.segmentation;
        ao.overwrite = true;
        ProgressBar b1(o.label + "track", 0), b2(o.label + "analyze", 0);
        auto f1 = b1.fn(), f2 = b2.fn();
        const auto track = analysis::analyze_video(o.video, o.dir, ao, f1, [&](long d, long t) {
            b1.finish();
            f2(d, t);
        });
        b2.finish();
        NED_LOG_INFO("[{}analyze] {}", o.label, face::describe(face::count_frames(track)));
        return static_cast<long>(track.frames.size());
    });

    const std::string method = o.models.deca.empty() ? "fit" : "deca";
    const json r_in = {{"upstream", out.analysis.key},
                       {"track", file_identity(out.track_path)},
                       {"flame", file_identity(o.models.flame)},
                       {"deca", file_identity(o.models.deca)},
                       {"method", method},
                       {"fit_iters", o.fit_iters}};
    out.reconstruction = records.run(o.stage_prefix + "reconstruct", r_in, [&]() -> long {
        recon::ReconstructOptions ro;
        ro.flame_path = o.models.flame;
        ro.deca_path = o.models.deca;
        ro.method = o.models.deca.empty() ? recon::Method::Fit : recon::Method::Deca;
        ro.video = o.video;
        ro.device = o.device;
        ro.overwrite = true;
        if (o.fit_iters > 0) {
            ro.fit.iters = o.fit_iters;
            ro.fit.first_iters = ro.fit.shape_iters = 2 * o.fit_iters;
        }
        ProgressBar b(o.label + "reconstruct", 0);
        const auto rec = recon::reconstruct_workdir(o.dir, ro, b.fn());
        b.finish();
        return static_cast<long>(rec.num_frames());
    });
    return out;
}

}  // namespace ned::pipeline
