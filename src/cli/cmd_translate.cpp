// `ned translate IN OUT (--emotion E[,E..] | --schedule S) --renderer CKPT`: the whole edit in one command
// (analysis, reconstruction, manipulation, conditioning, neural renderer, compositing). Library:
// ned/pipeline/translate.hpp.
#include "translate_common.hpp"

namespace ned::cli {
namespace {

void setup(CLI::App& app, const CommonOptions& common) {
    auto o = std::make_shared<TranslateCliOptions>();
    CLI::App* sub =
        app.add_subcommand("translate",
                           "Change the emotion of the actor in a video in one command: every frame, timestamps and "
                           "audio kept; resumable with --work");
    auto* emo = sub->add_option("--emotion", o->emotions,
                                "Target emotion(s): neutral angry disgusted fear happy sad surprised; several "
                                "(comma-separated) split the video into equal parts");
    auto* sch = sub->add_option("--schedule", o->t.edit.schedule,
                                "Keyframes 'SECONDS:EMOTION[@INTENSITY],...', e.g. '0:neutral,2.5:happy'");
    emo->excludes(sch);
    sub->add_option("--seed", o->t.edit.seed, "Seed of the manipulator's latent code")
        ->check(uint64_text())
        ->capture_default_str();
    add_translate_options(sub, o);
    sub->footer(
        "OUT: every input frame with its timestamp, audio copied packet for packet, frames without the\n"
        "target face passed through; container comment names ned, the edit and the edited frames.\n"
        "Exit codes: 2 bad input / no face / output exists without -y, 3 a model file missing or invalid.");
    set_runner(sub, [o, &common] {
        if (!o->emotions.empty()) {
            std::stringstream ss(o->emotions + ",");
            std::string e;
            while (std::getline(ss, e, ',')) {
                if (e.empty())
                    throw InputError(
                        cat("--emotion '", o->emotions, "': empty name in the list (expected e.g. happy,sad)"));
                o->t.edit.emotions.push_back(e);
            }
        }
        if (o->t.edit.emotions.empty() && o->t.edit.schedule.empty()) throw InputError("give --emotion or --schedule");
        run_translate(*o, common, "translate");
    });
}

}  // namespace
}  // namespace ned::cli

NED_REGISTER_COMMAND(translate, ned::cli::setup, 90);
