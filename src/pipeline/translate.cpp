// The pipeline layer: `ned translate` / `ned style` as one library call (include/ned/pipeline/translate.hpp).
#include "ned/pipeline/translate.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <memory>
#include <sstream>

#include "ned/blend/composite.hpp"
#include "ned/core/error.hpp"
#include "ned/core/fs_util.hpp"
#include "ned/core/log.hpp"
#include "ned/core/output_dir.hpp"
#include "ned/core/progress.hpp"
#include "ned/core/torch_util.hpp"
#include "ned/analysis/analyze.hpp"
#include "ned/face/face_track.hpp"
#include "ned/io/video.hpp"
#include "ned/manip/manipulate.hpp"
#include "ned/manip/networks.hpp"
#include "ned/recon/reconstruct.hpp"
#include "ned/recon/reconstruction.hpp"
#include "ned/conditioning/render_inputs.hpp"
#include "ned/renderer/render.hpp"
#include "pipeline/source_stages.hpp"
#include "pipeline/stage_record.hpp"
#include "pipeline/stream_render.hpp"
#include "pipeline/work_files.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace ned::pipeline {

std::string Edit::describe() const {
    std::ostringstream os;
    if (!emotions.empty()) {
        os << "emotion=";
        for (size_t i = 0; i < emotions.size(); ++i) os << (i ? "," : "") << emotions[i];
    } else if (!schedule.empty()) {
        os << "schedule=" << schedule;
    } else {
        os << "reference=" << fs::path(reference).filename().string();
    }
    os << " intensity=" << intensity;
    if (reference.empty()) os << " seed=" << seed;
    return os.str();
}

std::string format_ranges(const std::vector<std::pair<long, long>>& ranges) {
    std::ostringstream os;
    for (size_t i = 0; i < ranges.size(); ++i) {
        if (i) os << ",";
        os << ranges[i].first;
        if (ranges[i].second != ranges[i].first) os << "-" << ranges[i].second;
    }
    return os.str();
}

namespace {
/// The style encoder needs one window of 10 consecutive valid frames of the reference.
void check_reference_reconstruction(const recon::Reconstruction& ref, const std::string& what) {
    int64_t run = 0, longest = 0;
    for (uint8_t v : ref.valid) longest = std::max(longest, run = v ? run + 1 : 0);
    if (longest < 10)
        throw InputError(cat("reference ", what, ": no 10 consecutive valid frames (longest run ", longest,
                             "); the style encoder needs one such window"));
}
}  // namespace

void TranslateOptions::validate() const {
    const int modes = !edit.emotions.empty() + !edit.schedule.empty() + !edit.reference.empty();
    if (modes != 1)
        throw OptionError("TranslateOptions::edit", cat(": give exactly one of emotions, schedule or reference (got ",
                                                        modes, ")"));
    for (const auto& e : edit.emotions) manip::emotion_index(e);  // InputError naming the emotion
    if (!std::isfinite(edit.intensity))
        throw OptionError("TranslateOptions::edit.intensity", cat(" must be a finite number (got ", edit.intensity, ")"));
    track.validate();
    if (fit_iters < 0) throw OptionError("TranslateOptions::fit_iters", cat(" must be >= 0 (got ", fit_iters, ")"));
    if (crf < 0 || crf > 51) throw OptionError("TranslateOptions::crf", cat(" must be in 0..51 (got ", crf, ")"));
    if (threads < 0) throw OptionError("TranslateOptions::threads", cat(" must be >= 0 (got ", threads, ")"));
}

TranslateResult translate(const TranslateOptions& o) {
    const auto t_start = std::chrono::steady_clock::now();
    // 1. Options, inputs and outputs (exit 2), all before any decoding.
    check_input_file(o.input, "input video");
    o.validate();
    const Edit& edit = o.edit;
    std::vector<manip::Keyframe> schedule;
    if (!edit.schedule.empty()) schedule = manip::parse_schedule(edit.schedule);
    bool reference_is_video = false;
    if (!edit.reference.empty()) {
        check_input_file(edit.reference, "reference");
        std::string ext = fs::path(edit.reference).extension().string();
        std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
        reference_is_video = ext != ".safetensors";
    }
    track::TrackOptions target = o.track;
    target.threads = o.threads;
    if (!target.target_face.empty()) check_input_file(target.target_face, "--target-face photo");
    renderer::check_precision(o.precision, resolve_device(o.device));
    check_extension(o.output, {".mp4", ".mov", ".mkv"}, "output video");
    check_output_path(o.output, o.overwrite, "output video");
    // Every output has its own path, none is an input (a report never replaces the video it reports on).
    check_distinct_outputs({{o.output, "output video"}, {o.preview, "--preview video"}, {o.report, "--report"},
                            {o.work, "--work folder"}});
    if (!o.preview.empty()) {
        check_extension(o.preview, {".mp4", ".mov", ".mkv"}, "preview video");
        check_output_path(o.preview, o.overwrite, "preview video");
    }
    if (!o.report.empty()) check_output_path(o.report, o.overwrite, "report");
    // 2. Models (exit 3).
    for (const std::string* p : {&o.models.flame, &o.models.deca, &o.models.manipulator, &o.models.segmentation, &o.models.renderer})
        if (!p->empty() && fs::is_regular_file(*p)) declare_input(*p, "model file");
    check_models(o.models, true);
    // The reference of `style`, before the long analysis of IN: a reconstruction with a window for the style
    // encoder, or a video that opens.
    if (!edit.reference.empty()) {
        if (reference_is_video) {
            io::VideoReader probe(edit.reference);
        } else {
            check_reference_reconstruction(recon::load_reconstruction(edit.reference), edit.reference);
        }
    }

    // 3. Work folder: created only now that the inputs are checked.
    std::unique_ptr<TempDir> temp;  // removed at the end, on errors and on SIGINT/SIGTERM/SIGHUP
    std::unique_ptr<WorkFolder> work_folder;  // --work: removed on a failure if created here and nothing finished
    std::string work = o.work;
    if (work.empty()) {
        temp = std::make_unique<TempDir>("ned-translate");
        work = temp->path();
    } else {
        work_folder = std::make_unique<WorkFolder>(work);
    }
    const WorkLock lock(work);
    NED_LOG_INFO("[translate] work folder {}", work);
    StageRecords records(work);
    TranslateResult result;
    const int threads = o.threads;
    auto note = [&](const std::string& name, const StageOutcome& s) {
        result.stages.push_back({name, s.skipped, s.wall_s, s.frames, s.key, {}});
    };
    const std::string track_path = (fs::path(work) / "track.safetensors").string();
    const std::string recon_path = (fs::path(work) / "reconstruction.safetensors").string();
    const std::string edited_path = (fs::path(work) / "edited.safetensors").string();
    // Analysis + reconstruction of one video into `dir` (the input, or a reference video).
    auto analyse_and_reconstruct = [&](const std::string& video, const std::string& dir, const std::string& prefix,
                                       const track::TrackOptions& to) {
        SourceStagesOptions so;
        so.video = video;
        so.dir = dir;
        so.stage_prefix = so.label = prefix;
        so.track = to;
        so.models = o.models;
        so.fit_iters = o.fit_iters;
        so.device = o.device;
        so.threads = threads;
        const SourceStagesOutcome s = run_source_stages(records, so);
        note(prefix + "analyze", s.analysis);
        note(prefix + "reconstruct", s.reconstruction);
        return std::make_pair(s.reconstruction.key, s.reconstruction_path);
    };

    // 4. Stages.
    const auto [recon_key, recon_file] = analyse_and_reconstruct(o.input, work, "", target);
    (void)recon_file;
    json reference_id = nullptr;
    std::string reference_recon;
    if (!edit.reference.empty()) {
        if (reference_is_video) {
            track::TrackOptions reference_track;  // its largest face, its own identity, the same detector
            reference_track.detector = target.detector;
            reference_track.identity = target.identity;
            reference_track.identity_threshold = target.identity_threshold;
            reference_track.threads = threads;
            const auto [ref_key, ref_path] =
                analyse_and_reconstruct(edit.reference, (fs::path(work) / "reference").string(), "reference-", reference_track);
            reference_id = {{"upstream", ref_key}, {"file", file_identity(ref_path)}};
            reference_recon = ref_path;
        } else {
            reference_id = file_identity(edit.reference);
            reference_recon = edit.reference;
        }
    }

    const json m_in = {{"upstream", recon_key},
                       {"reconstruction", file_identity(recon_path)},
                       {"manipulator", file_identity(o.models.manipulator)},
                       {"emotions", edit.emotions},
                       {"schedule", edit.schedule},
                       {"reference", reference_id},
                       {"intensity", edit.intensity},
                       {"seed", edit.seed}};
    const StageOutcome m = records.run("manipulate", m_in, [&]() -> long {
        const auto in = recon::load_reconstruction(recon_path);
        manip::ManipulateOptions mo;
        mo.emotions = edit.emotions;
        mo.schedule = schedule;
        recon::Reconstruction ref;
        if (!reference_recon.empty()) {
            ref = recon::load_reconstruction(reference_recon);
            check_reference_reconstruction(ref, edit.reference);
            mo.reference = &ref;
        }
        mo.intensity = edit.intensity;
        mo.seed = edit.seed;
        mo.device = o.device;
        auto nets = manip::load_checkpoint(o.models.manipulator);
        std::unique_ptr<ProgressBar> b;
        mo.progress = bar_fn(b, "manipulate");
        auto out = manip::manipulate(in, nets, mo);
        b->finish();
        out.extra_metadata["manipulator_checkpoint"] = o.models.manipulator;
        recon::save_reconstruction(edited_path, out);
        return static_cast<long>(out.num_frames());
    });
    note("manipulate", m);

    // The streamed end: conditioning -> edit mask -> renderer -> compositing in one pass (stream_render.hpp).
    // With --work the faces are kept: a later run that changes only the encoder options composites them again
    // without the networks, and a killed run continues after its last rendered frame.
    const face::FaceTrack track = face::load_track(track_path);
    const bool keep_faces = !o.work.empty();
    const json r_in = {{"upstream", m.key},
                       {"edited", file_identity(edited_path)},
                       {"flame", file_identity(o.models.flame)},
                       {"deca", file_identity(o.models.deca)},
                       {"renderer", file_identity(o.models.renderer)},
                       {"precision", renderer::precision_name(o.precision)},
                       {"follow_edit_mask", o.follow_edit_mask},
                       {"segmentation_masks", !o.models.segmentation.empty()}};
    const std::string r_key = stage_key("render", r_in);

    // Edited frames: valid in the track and the edited reconstruction (known before encoding: the metadata).
    // Every one of them gets its face or the run fails (CompositeOptions::expected_faces): the comment, the
    // report and the records never claim a frame that passed through.
    const std::vector<int64_t> planned = conditioning::frames_to_render(track, recon::load_reconstruction(edited_path));
    for (int64_t t : planned) {
        if (!result.edited_ranges.empty() && result.edited_ranges.back().second == t - 1)
            result.edited_ranges.back().second = t;
        else
            result.edited_ranges.push_back({t, t});
    }
    result.comment = cat("Edited with ned ", NED_VERSION, " (Neural Emotion Director): ", edit.describe(),
                         "; edited frames ", result.edited_ranges.empty() ? std::string("none") : format_ranges(result.edited_ranges),
                         " of ", track.frames.size(), ". Not original footage.");
    blend::CompositeOptions co;
    co.crf = o.crf;
    co.preset = o.preset;
    co.overwrite = o.overwrite;
    co.threads = threads;
    co.metadata["comment"] = result.comment;
    co.expected_faces = static_cast<long>(planned.size());

    // A finished render whose kept faces are no longer all there (deleted by hand, a disk cleaned up) renders
    // them again rather than letting those frames pass through unedited.
    std::string missing_face;
    const bool rendered = keep_faces && records.finished("render", r_key);
    if (rendered) {
        missing_face = missing_kept_face(planned, work, o.follow_edit_mask);
        if (!missing_face.empty())
            NED_LOG_WARN("[translate] {} of the finished render is missing; rendering the faces again", missing_face);
    }
    if (rendered && missing_face.empty()) {
        result.stages.push_back({"render", true, 0, 0, r_key, {}});
        const StageOutcome comp = records.run(
            "composite", json{{"upstream", r_key}, {"output", fs::absolute(o.output).lexically_normal().string()},
                              {"crf", o.crf}, {"preset", o.preset}},
            [&]() -> long {
                ProgressBar b("composite", static_cast<long>(track.frames.size()));
                result.edited = blend::composite_video(o.input, track, o.output, co,
                                                       kept_faces(track, work, o.follow_edit_mask, planned), b.fn());
                b.finish();
                return static_cast<long>(track.frames.size());
            },
            /*always=*/true);
        note("composite", comp);
    } else {
        StreamRenderResult sr;
        const StageOutcome r = records.run("render", r_in, [&]() -> long {
            StreamRenderOptions so;
            so.input = o.input;
            so.work = work;
            so.edited = edited_path;
            so.flame = o.models.flame;
            so.deca = o.models.deca;
            so.renderer = o.models.renderer;
            so.follow_edit_mask = o.follow_edit_mask;
            so.segmentation_masks = !o.models.segmentation.empty();
            so.precision = o.precision;
            so.device = o.device;
            so.threads = threads;
            so.keep_faces = keep_faces;
            so.resume_key = r_key;
            so.composite = co;
            so.output = o.output;
            ProgressBar b("render", static_cast<long>(track.frames.size()));
            sr = stream_render(so, b.fn());
            b.finish();
            return sr.frames;
        }, /*always=*/!missing_face.empty());
        note("render", r);
        result.stages.back().busy_s = {{"condition", sr.condition_s}, {"render", sr.render_s}, {"composite", sr.composite_s}};
        result.edited = sr.composited;
        result.render_frames_resumed = sr.frames_resumed;
    }

    if (!o.preview.empty()) {
        const auto t0 = std::chrono::steady_clock::now();
        const long n = write_preview(o.input, o.output, o.preview, o.crf, o.preset, o.overwrite);
        result.stages.push_back(
            {"preview", false, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), n, {}, {}});
    }

    // 5. Summary and report.
    const auto counts = face::count_frames(track);
    result.frames = counts.frames;
    result.filled = counts.filled;
    result.passed = result.frames - result.edited;
    summarize_edit(recon_path, edited_path, result);
    result.total_wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    if (!o.report.empty()) write_report(o, result);
    if (work_folder) work_folder->keep();
    return result;
}

}  // namespace ned::pipeline
