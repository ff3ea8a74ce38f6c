// `ned style --reference REF IN OUT --renderer CKPT`: copy the expression style of a reference (a video, analysed
// and reconstructed on the way, or a reconstruction file) onto the actor of IN. Library:
// ned/pipeline/translate.hpp (manipulate's reference mode).
#include "translate_common.hpp"

namespace ned::cli {
namespace {

void setup(CLI::App& app, const CommonOptions& common) {
    auto o = std::make_shared<TranslateCliOptions>();
    CLI::App* sub = app.add_subcommand(
        "style",
        "Give the actor in a video the expression style of a reference video or reconstruction, in one "
        "command (as translate)");
    sub->add_option("--reference", o->t.edit.reference,
                    "Reference: a video (its largest face is analysed and reconstructed; no renderer needed for "
                    "it) or a reconstruction (.safetensors)")
        ->required();
    add_translate_options(sub, o);
    sub->footer(
        "The style is the geometric median of the manipulator's style encoder over every window of the\n"
        "reference (needs 10 consecutive frames with a face). Outputs and exit codes as `ned translate`.");
    set_runner(sub, [o, &common] { run_translate(*o, common, "style"); });
}

}  // namespace
}  // namespace ned::cli

NED_REGISTER_COMMAND(style, ned::cli::setup, 91);
