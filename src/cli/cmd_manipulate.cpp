// `ned manipulate IN OUT --checkpoint CKPT (--emotion E[,E..] | --reference REF | --schedule S)`:
// translate the expression and jaw opening of a reconstruction. Library: ned/manip/manipulate.hpp.
#include <algorithm>
#include <memory>
#include <sstream>

#include "command.hpp"
#include "ned/core/error.hpp"
#include "ned/core/fs_util.hpp"
#include "ned/core/log.hpp"
#include "ned/core/progress.hpp"
#include "ned/manip/manipulate.hpp"
#include "ned/recon/reconstruction.hpp"

namespace ned::cli {
namespace {

struct ManipulateCliOptions {
    std::string input, output, checkpoint, emotions, reference, schedule;
    double intensity = 1.0;
    uint64_t seed = 0;
    int batch_size = 256;
};

/// The run: inputs checked, the edit's options built, the manipulator applied, the result written.
void run(const ManipulateCliOptions& o, const CommonOptions& common) {
    check_input_file(o.input, "input reconstruction");
    check_output_path(o.output, common.overwrite, "output reconstruction");
    manip::ManipulateOptions opts;
    if (!o.emotions.empty()) {
        std::stringstream ss(o.emotions + ",");  // the trailing comma makes "a," yield an empty last item
        std::string e;
        while (std::getline(ss, e, ',')) {
            if (e.empty())
                throw InputError(cat("--emotion '", o.emotions, "': empty name in the list (expected e.g. happy,sad)"));
            opts.emotions.push_back(e);
        }
        for (const auto& name : opts.emotions) manip::emotion_index(name);
    }
    if (!o.schedule.empty()) opts.schedule = manip::parse_schedule(o.schedule);
    if (opts.emotions.empty() && opts.schedule.empty() && o.reference.empty())
        throw InputError("give one of --emotion, --reference or --schedule");
    const auto in = recon::load_reconstruction(o.input);
    recon::Reconstruction reference;
    if (!o.reference.empty()) {
        reference = recon::load_reconstruction(o.reference);
        // The style encoder needs at least one window of 10 consecutive valid frames (NED's seq_len).
        int64_t run = 0, longest = 0;
        for (uint8_t v : reference.valid) longest = std::max(longest, run = v ? run + 1 : 0);
        if (longest < 10)
            throw InputError(cat("reference reconstruction ", o.reference,
                                 ": no 10 consecutive valid frames "
                                 "(longest run ",
                                 longest, "); the style encoder needs one such window"));
        opts.reference = &reference;
    }
    auto nets = manip::load_checkpoint(o.checkpoint);
    opts.intensity = o.intensity;
    opts.seed = o.seed;
    opts.batch_size = o.batch_size;
    opts.device = common.device;
    ProgressBar bar("manipulate", 0);
    opts.progress = bar.fn();
    auto out = manip::manipulate(in, nets, opts);
    bar.finish();
    out.extra_metadata["manipulator_checkpoint"] = o.checkpoint;
    recon::save_reconstruction(o.output, out);  // atomic (temporary name, then rename)
    NED_LOG_INFO("[manip] wrote {} ({} frames, {})", o.output, out.num_frames(), out.extra_metadata["manipulation"]);
}

void setup(CLI::App& app, const CommonOptions& common) {
    auto o = std::make_shared<ManipulateCliOptions>();
    CLI::App* sub = app.add_subcommand(
        "manipulate", "Change the emotion of a reconstruction (expression + jaw opening) with NED's manipulator");
    sub->add_option("IN_RECON", o->input, "Input reconstruction (.safetensors)")->required();
    sub->add_option("OUT_RECON", o->output, "Output reconstruction")->required();
    sub->add_option("--checkpoint", o->checkpoint, "Manipulator checkpoint (ned train-manipulator or converted NED)")
        ->required();
    auto* emo = sub->add_option("--emotion", o->emotions,
                                "Target emotion(s): neutral angry disgusted fear happy sad surprised; several "
                                "(comma-separated) split the video into equal parts");
    auto* ref = sub->add_option("--reference", o->reference, "Reference reconstruction whose style is copied");
    auto* sch = sub->add_option("--schedule", o->schedule,
                                "Keyframes 'SECONDS:EMOTION[@INTENSITY],...', e.g. '0:neutral,2.5:happy,6:angry@0.5'");
    emo->excludes(ref)->excludes(sch);
    ref->excludes(sch);
    sub->add_option("--intensity", o->intensity, "0 keeps the source style, 1 the target, >1 exaggerates")
        ->check(finite_range(-100, 100))
        ->capture_default_str();
    sub->add_option("--seed", o->seed, "Seed of the latent code in label/schedule mode")
        ->check(uint64_text())
        ->capture_default_str();
    sub->add_option("--batch-size", o->batch_size, "Windows per forward pass")
        ->check(CLI::Range(1, 1 << 20))
        ->capture_default_str();
    map_fields(sub, {{"ManipulateOptions::emotions", "--emotion"},
                     {"ManipulateOptions::schedule", "--schedule"},
                     {"ManipulateOptions::intensity", "--intensity"},
                     {"ManipulateOptions::seed", "--seed"},
                     {"ManipulateOptions::batch_size", "--batch-size"}});
    sub->footer(
        "The output equals the input except exp and pose[:,3] of valid frames (method 'manipulated').\n"
        "Exit codes: 2 bad input or emotion name, 3 missing or invalid checkpoint.");
    set_inputs(sub, [o] {
        return std::vector<std::pair<std::string, std::string>>{{o->input, "input reconstruction"},
                                                                {o->reference, "reference reconstruction"},
                                                                {o->checkpoint, "checkpoint"}};
    });
    set_outputs(sub, [o] { return std::vector<std::pair<std::string, std::string>>{{o->output, "OUT_RECON"}}; });
    set_runner(sub, [o, &common] { run(*o, common); });
}

}  // namespace
}  // namespace ned::cli

NED_REGISTER_COMMAND(manipulate, ned::cli::setup, 75);
