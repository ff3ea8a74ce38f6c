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
#include "ned/renderer/checkpoint.hpp"
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
/// The renderer was trained at the crop size the track will have (before any work: a mismatch is one line, exit 3).
void check_renderer_crop_size(const TranslateOptions& o) {
    if (o.allow_crop_size_mismatch) return;  // load_ned_generator warns
    const st::File f = st::load_model(o.models.renderer, renderer::kCheckpointFormat, renderer::kCheckpointVersion);
    renderer::check_trained_crop_size(o.models.renderer, renderer::trained_crop_size(f.metadata, o.models.renderer),
                                      o.track.crop_size, o.allow_crop_size_mismatch);
}

}  // namespace

void TranslateOptions::validate() const {
    const int modes = !edit.emotions.empty() + !edit.schedule.empty() + !edit.reference.empty();
    if (modes != 1)
        throw OptionError("TranslateOptions::edit",
                          cat(": give exactly one of emotions, schedule or reference (got ", modes, ")"));
    for (const auto& e : edit.emotions) manip::emotion_index(e);  // InputError naming the emotion
    if (!std::isfinite(edit.intensity))
        throw OptionError("TranslateOptions::edit.intensity",
                          cat(" must be a finite number (got ", edit.intensity, ")"));
    track.validate();
    if (fit_iters < 0) throw OptionError("TranslateOptions::fit_iters", cat(" must be >= 0 (got ", fit_iters, ")"));
    if (crf < 0 || crf > 51) throw OptionError("TranslateOptions::crf", cat(" must be in 0..51 (got ", crf, ")"));
    if (threads < 0) throw OptionError("TranslateOptions::threads", cat(" must be >= 0 (got ", threads, ")"));
}

namespace {

/// What the checks of the options and inputs found out.
struct Checked {
    std::vector<manip::Keyframe> schedule;
    bool reference_is_video = false;
    track::TrackOptions target;  ///< the input's tracking options (with --threads)
};

/// 1. Options, inputs and outputs (exit 2), all before any decoding.
Checked check_inputs(const TranslateOptions& o) {
    check_input_file(o.input, "input video");
    o.validate();
    const Edit& edit = o.edit;
    Checked c;
    if (!edit.schedule.empty()) c.schedule = manip::parse_schedule(edit.schedule);
    if (!edit.reference.empty()) {
        check_input_file(edit.reference, "reference");
        std::string ext = fs::path(edit.reference).extension().string();
        std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
        c.reference_is_video = ext != ".safetensors";
    }
    c.target = o.track;
    c.target.threads = o.threads;
    if (!c.target.target_face.empty()) check_input_file(c.target.target_face, "--target-face photo");
    renderer::check_precision(o.precision, resolve_device(o.device), "TranslateOptions::precision");
    check_extension(o.output, {".mp4", ".mov", ".mkv"}, "output video");
    check_output_path(o.output, o.overwrite, "output video");
    io::VideoWriterOptions format;  // the container, codec and pixel format the output can have
    format.codec = o.codec, format.pix_fmt = o.pix_fmt, format.crf = o.crf, format.preset = o.preset;
    io::check_writer_options(o.output, io::probe(o.input, false), format);
    // Every output has its own path, none is an input (a report never replaces the video it reports on).
    check_distinct_outputs({{o.output, "output video"},
                            {o.preview, "--preview video"},
                            {o.report, "--report"},
                            {o.work, "--work folder"},
                            {o.layers.matte, "--matte"},
                            {o.layers.face_layer, "--face-layer"}});
    blend::check_layer_outputs(o.layers, o.overwrite);
    if (!o.preview.empty()) {
        check_extension(o.preview, {".mp4", ".mov", ".mkv"}, "preview video");
        check_output_path(o.preview, o.overwrite, "preview video");
    }
    if (!o.report.empty()) check_output_path(o.report, o.overwrite, "report");
    return c;
}

/// 2. Models (exit 3), then the reference of `style`, before the long analysis of IN: a reconstruction with a
/// window for the style encoder, or a video that opens.
void check_models_and_reference(const TranslateOptions& o, bool reference_is_video) {
    for (const std::string* p :
         {&o.models.flame, &o.models.deca, &o.models.manipulator, &o.models.segmentation, &o.models.renderer})
        if (!p->empty() && fs::is_regular_file(*p)) declare_input(*p, "model file");
    check_models(o.models, true);
    check_renderer_crop_size(o);
    const Edit& edit = o.edit;
    if (!edit.reference.empty()) {
        if (reference_is_video) {
            io::VideoReader probe(edit.reference);
        } else {
            check_reference_reconstruction(recon::load_reconstruction(edit.reference), edit.reference);
        }
    }
}

/// 4. The stages of one run in its work folder; each notes its outcome in the result.
class Stages {
    const TranslateOptions& o_;
    const std::string work_;
    StageRecords& records_;
    TranslateResult& result_;

public:
    Stages(const TranslateOptions& o, const std::string& work, StageRecords& records, TranslateResult& result)
        : o_(o), work_(work), records_(records), result_(result) {}

    const std::string track_path = (fs::path(work_) / "track.safetensors").string();
    const std::string recon_path = (fs::path(work_) / "reconstruction.safetensors").string();
    const std::string edited_path = (fs::path(work_) / "edited.safetensors").string();

    /// Analysis + reconstruction of one video into `dir` (the input, or a reference video): the
    /// reconstruction's stage key and path.
    std::pair<std::string, std::string> analyse_and_reconstruct(const std::string& video, const std::string& dir,
                                                                const std::string& prefix,
                                                                const track::TrackOptions& to) {
        SourceStagesOptions so;
        so.video = video;
        so.dir = dir;
        so.stage_prefix = so.label = prefix;
        so.track = to;
        so.models = o_.models;
        so.fit_iters = o_.fit_iters;
        so.device = o_.device;
        so.threads = o_.threads;
        const SourceStagesOutcome s = run_source_stages(records_, so);
        note(prefix + "analyze", s.analysis);
        note(prefix + "reconstruct", s.reconstruction);
        return std::make_pair(s.reconstruction.key, s.reconstruction_path);
    }

    /// The reference of `style` (a video: analysed and reconstructed in WORK/reference): its identity in the
    /// manipulation's stage key, and the reconstruction to take the style from.
    std::pair<json, std::string> reference(const Checked& c) {
        const Edit& edit = o_.edit;
        if (edit.reference.empty()) return {nullptr, {}};
        if (!c.reference_is_video) return {file_identity(edit.reference), edit.reference};
        track::TrackOptions reference_track;  // its largest face, its own identity, the same detector
        reference_track.detector = c.target.detector;
        reference_track.identity = c.target.identity;
        reference_track.identity_threshold = c.target.identity_threshold;
        reference_track.threads = o_.threads;
        const auto [ref_key, ref_path] = analyse_and_reconstruct(
            edit.reference, (fs::path(work_) / "reference").string(), "reference-", reference_track);
        return {json{{"upstream", ref_key}, {"file", file_identity(ref_path)}}, ref_path};
    }

    StageOutcome manipulate(const std::string& recon_key, const json& reference_id, const std::string& reference_recon,
                            const std::vector<manip::Keyframe>& schedule) {
        const Edit& edit = o_.edit;
        const json m_in = {{"upstream", recon_key},
                           {"reconstruction", file_identity(recon_path)},
                           {"manipulator", file_identity(o_.models.manipulator)},
                           {"emotions", edit.emotions},
                           {"schedule", edit.schedule},
                           {"reference", reference_id},
                           {"intensity", edit.intensity},
                           {"seed", edit.seed}};
        const StageOutcome m = records_.run("manipulate", m_in, [&]() -> long {
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
            mo.device = o_.device;
            auto nets = manip::load_checkpoint(o_.models.manipulator);
            std::unique_ptr<ProgressBar> b;
            mo.progress = bar_fn(b, "manipulate");
            auto out = manip::manipulate(in, nets, mo);
            b->finish();
            out.extra_metadata["manipulator_checkpoint"] = o_.models.manipulator;
            recon::save_reconstruction(edited_path, out);
            return static_cast<long>(out.num_frames());
        });
        note("manipulate", m);
        return m;
    }

    /// The streamed end: conditioning -> edit mask -> renderer -> compositing in one pass (stream_render.hpp).
    /// With --work the faces are kept: a later run that changes only the encoder options composites them again
    /// without the networks, and a killed run continues after its last rendered frame.
    void render(const StageOutcome& m, const face::FaceTrack& track) {
        const bool keep_faces = !o_.work.empty();
        const json r_in = {{"upstream", m.key},
                           {"edited", file_identity(edited_path)},
                           {"flame", file_identity(o_.models.flame)},
                           {"deca", file_identity(o_.models.deca)},
                           {"renderer", file_identity(o_.models.renderer)},
                           {"precision", renderer::precision_name(o_.precision)},
                           {"follow_edit_mask", o_.follow_edit_mask},
                           {"segmentation_masks", !o_.models.segmentation.empty()}};
        const std::string r_key = stage_key("render", r_in);
        const std::vector<int64_t> planned = plan_edited_frames(track);
        const blend::CompositeOptions co = composite_options(planned);

        // A finished render whose kept faces are no longer all there (deleted by hand, a disk cleaned up) renders
        // them again rather than letting those frames pass through unedited.
        std::string missing_face;
        const bool rendered = keep_faces && records_.finished("render", r_key);
        if (rendered) {
            missing_face = missing_kept_face(planned, work_, o_.follow_edit_mask);
            if (!missing_face.empty())
                NED_LOG_WARN("[translate] {} of the finished render is missing; rendering the faces again",
                             missing_face);
        }
        if (rendered && missing_face.empty())
            composite_kept(r_key, track, co, planned);
        else
            stream(r_in, r_key, track, co, keep_faces, /*always=*/!missing_face.empty());
    }

    void preview() {
        if (o_.preview.empty()) return;
        const auto t0 = std::chrono::steady_clock::now();
        const long n = write_preview(o_.input, o_.output, o_.preview, o_.crf, o_.preset, o_.overwrite);
        result_.stages.push_back({"preview",
                                  false,
                                  std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
                                  n,
                                  {},
                                  {}});
    }

private:
    void note(const std::string& name, const StageOutcome& s) {
        result_.stages.push_back({name, s.skipped, s.wall_s, s.frames, s.key, {}});
    }

    // Edited frames: valid in the track and the edited reconstruction (known before encoding: the metadata).
    // Every one of them gets its face or the run fails (CompositeOptions::expected_faces): the comment, the
    // report and the records never claim a frame that passed through.
    std::vector<int64_t> plan_edited_frames(const face::FaceTrack& track) {
        const std::vector<int64_t> planned =
            conditioning::frames_to_render(track, recon::load_reconstruction(edited_path));
        for (int64_t t : planned) {
            if (!result_.edited_ranges.empty() && result_.edited_ranges.back().second == t - 1)
                result_.edited_ranges.back().second = t;
            else
                result_.edited_ranges.push_back({t, t});
        }
        result_.comment =
            cat("Edited with ned ", NED_VERSION, " (Neural Emotion Director): ", o_.edit.describe(), "; edited frames ",
                result_.edited_ranges.empty() ? std::string("none") : format_ranges(result_.edited_ranges), " of ",
                track.frames.size(), ". Not original footage.");
        return planned;
    }

    blend::CompositeOptions composite_options(const std::vector<int64_t>& planned) const {
        blend::CompositeOptions co;
        co.crf = o_.crf;
        co.preset = o_.preset;
        co.codec = o_.codec;
        co.pix_fmt = o_.pix_fmt;
        co.overwrite = o_.overwrite;
        co.threads = o_.threads;
        co.metadata["comment"] = result_.comment;
        co.expected_faces = static_cast<long>(planned.size());
        co.layers = o_.layers;
        return co;
    }

    /// The render is finished and its faces kept: only the compositing runs (again).
    void composite_kept(const std::string& r_key, const face::FaceTrack& track, const blend::CompositeOptions& co,
                        const std::vector<int64_t>& planned) {
        result_.stages.push_back({"render", true, 0, 0, r_key, {}});
        json c_in{{"upstream", r_key},
                  {"output", fs::absolute(o_.output).lexically_normal().string()},
                  {"crf", o_.crf},
                  {"preset", o_.preset}};
        if (o_.codec != io::Codec::H264) c_in["codec"] = io::codec_name(o_.codec);  // (keys of H.264 runs unchanged)
        if (!o_.pix_fmt.empty()) c_in["pix_fmt"] = o_.pix_fmt;
        // A run that adds --matte or --face-layer to a finished edit composites again to write them.
        if (o_.layers.any()) {
            const auto abs = [](const std::string& p) {
                return p.empty() ? p : fs::absolute(p).lexically_normal().string();
            };
            c_in["layers"] = {{"matte", abs(o_.layers.matte)},
                              {"face_layer", abs(o_.layers.face_layer)},
                              {"format", static_cast<int>(o_.layers.layer_format)},
                              {"start_number", o_.layers.start_number}};
        }
        const StageOutcome comp = records_.run(
            "composite", c_in,
            [&]() -> long {
                ProgressBar b("composite", static_cast<long>(track.frames.size()));
                result_.edited = blend::composite_video(o_.input, track, o_.output, co,
                                                        kept_faces(track, work_, o_.follow_edit_mask, planned), b.fn());
                b.finish();
                return static_cast<long>(track.frames.size());
            },
            /*always=*/true);
        note("composite", comp);
    }

    void stream(const json& r_in, const std::string& r_key, const face::FaceTrack& track,
                const blend::CompositeOptions& co, bool keep_faces, bool always) {
        StreamRenderResult sr;
        const StageOutcome r = records_.run(
            "render", r_in,
            [&]() -> long {
                StreamRenderOptions so;
                so.input = o_.input;
                so.work = work_;
                so.edited = edited_path;
                so.flame = o_.models.flame;
                so.deca = o_.models.deca;
                so.renderer = o_.models.renderer;
                so.follow_edit_mask = o_.follow_edit_mask;
                so.segmentation_masks = !o_.models.segmentation.empty();
                so.precision = o_.precision;
                so.allow_crop_size_mismatch = o_.allow_crop_size_mismatch;
                so.device = o_.device;
                so.threads = o_.threads;
                so.keep_faces = keep_faces;
                so.resume_key = r_key;
                so.composite = co;
                so.output = o_.output;
                ProgressBar b("render", static_cast<long>(track.frames.size()));
                sr = stream_render(so, b.fn());
                b.finish();
                return sr.frames;
            },
            always);
        note("render", r);
        result_.stages.back().busy_s = {
            {"condition", sr.condition_s}, {"render", sr.render_s}, {"composite", sr.composite_s}};
        result_.edited = sr.composited;
        result_.render_frames_resumed = sr.frames_resumed;
    }
};

}  // namespace

TranslateResult translate(const TranslateOptions& o) {
    const auto t_start = std::chrono::steady_clock::now();
    // 1. Options, inputs and outputs (exit 2), all before any decoding; 2. models (exit 3) and the reference.
    const Checked checked = check_inputs(o);
    check_models_and_reference(o, checked.reference_is_video);

    // 3. Work folder: created only now that the inputs are checked.
    std::unique_ptr<TempDir> temp;            // removed at the end, on errors and on SIGINT/SIGTERM/SIGHUP
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

    // 4. Stages.
    Stages stages(o, work, records, result);
    const std::string recon_key = stages.analyse_and_reconstruct(o.input, work, "", checked.target).first;
    const auto [reference_id, reference_recon] = stages.reference(checked);
    const StageOutcome m = stages.manipulate(recon_key, reference_id, reference_recon, checked.schedule);
    const face::FaceTrack track = face::load_track(stages.track_path);
    stages.render(m, track);
    stages.preview();

    // 5. Summary and report.
    const auto counts = face::count_frames(track);
    result.frames = counts.frames;
    result.filled = counts.filled;
    result.passed = result.frames - result.edited;
    summarize_edit(stages.recon_path, stages.edited_path, result);
    result.total_wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    if (!o.report.empty()) write_report(o, result);
    if (work_folder) work_folder->keep();
    return result;
}

}  // namespace ned::pipeline
