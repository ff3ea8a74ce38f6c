// `ned eval ORIGINAL EDITED`: NED's metrics (APD, FAPD, MAPD, FID) plus identity (CSIM), emotion, speech
// (mouth opening / mouth landmarks), background PSNR and landmark jitter between two videos of the same length.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>

#include "command.hpp"
#include "shared_options.hpp"
#include "ned/core/error.hpp"
#include "ned/core/fs_util.hpp"
#include "ned/core/progress.hpp"
#include "ned/eval/eval.hpp"

namespace ned::cli {
namespace {

struct EvalCliOptions {
    std::string original, edited, json, plot;
    bool no_per_frame = false;
    eval::EvalOptions eval;
};

void setup(CLI::App& app, const CommonOptions& common) {
    auto o = std::make_shared<EvalCliOptions>();
    CLI::App* sub = app.add_subcommand(
        "eval",
        "Measure an edit: APD, FAPD, MAPD, FID (NED's metrics), identity CSIM, emotion probabilities, mouth "
        "motion, background PSNR and landmark jitter of EDITED against ORIGINAL (same length)");
    sub->add_option("ORIGINAL", o->original, "Original video (or the ground truth of a self-reenactment)")->required();
    sub->add_option("EDITED", o->edited, "Edited video, same frame count and size as ORIGINAL")->required();
    // a closed set kept as its name (the report's "target" is the name): bound as an enum of ned_emotions()
    std::vector<std::pair<std::string, std::string>> emotions;
    for (const auto& e : eval::ned_emotions()) emotions.emplace_back(e, e);
    bind_enum(sub->add_option("--target-emotion", o->eval.target_emotion,
                              "Emotion the edit aimed at: the share of frames recognised as it is reported"),
              emotions, o->eval.target_emotion);
    sub->add_option("--json", o->json, "Write the full report (with per-frame values) as JSON to this file");
    sub->add_option("--plot", o->plot, "Write the per-frame curves as an image (.png or .jpg)");
    sub->add_flag("--no-per-frame", o->no_per_frame, "Leave the per-frame arrays out of the JSON report");
    sub->add_option("--landmark-model", o->eval.landmark_model,
                    "dlib 68-point shape predictor (default: /usr/share/dlib/shape_predictor_68_face_landmarks.dat)");
    // both videos are tracked with these
    add_tracking_options(sub, o->eval.track, kTrackTarget | kTrackMaxGap, "Tracking (both videos)");
    sub->add_option("--max-frames", o->eval.max_frames, "Only the first N frames (0 = all)")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
    map_fields(sub, {{"EvalOptions::target_emotion", "--target-emotion"}, {"EvalOptions::max_frames", "--max-frames"}});
    sub->footer(
        "Output: a summary on stdout; --json FILE the report (keys frames, apd, fapd, mapd, fid, csim,\n"
        "mouth_open_pearson, mouth_landmark_distance, background_psnr, landmark_jitter, emotion, per_frame).\n"
        "Metrics cover the frames where both videos show the tracked face (docs/cli.md).\n"
        "Exit codes: 2 bad input (different frame counts or sizes, no common face), 3 missing face models.");
    set_inputs(sub, [o] {
        return std::vector<std::pair<std::string, std::string>>{{o->original, "original video"},
                                                                {o->edited, "edited video"}};
    });
    set_outputs(sub, [o] {
        return std::vector<std::pair<std::string, std::string>>{{o->json, "--json"}, {o->plot, "--plot"}};
    });
    set_runner(sub, [o, &common] {
        check_input_file(o->original, "original video");
        check_input_file(o->edited, "edited video");
        if (!o->json.empty()) check_output_path(o->json, common.overwrite, "JSON report");
        if (!o->plot.empty()) {
            check_extension(o->plot, {".png", ".jpg", ".jpeg"}, "plot");
            check_output_path(o->plot, common.overwrite, "plot");
        }
        if (!o->json.empty() && o->json == o->plot) throw InputError("--json and --plot name the same file");
        eval::EvalOptions opts = o->eval;
        opts.threads = resolve_threads(common.threads);
        eval::EvalReport report;
        {
            ProgressBar bar("eval", 0);
            report = eval::evaluate(o->original, o->edited, opts, bar.fn());
            bar.finish();
        }
        if (!o->json.empty()) {
            AtomicFile f(o->json, common.overwrite);
            {
                std::ofstream out(f.temp_path());
                out << report.to_json(!o->no_per_frame).dump(2) << "\n";
                if (!out) throw IoError(cat("cannot write the JSON report ", o->json));
            }
            f.commit();
        }
        if (!o->plot.empty()) eval::write_plot(o->plot, report, common.overwrite);
        std::cout << report.summary() << std::flush;
    });
}

}  // namespace
}  // namespace ned::cli

NED_REGISTER_COMMAND(eval, ned::cli::setup, 95);
