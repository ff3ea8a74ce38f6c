// The command line of `ned`: the common options and every registered command (command.hpp, build_app).
#include "command.hpp"
#include "ned/core/build_info.hpp"

namespace ned::cli {

void build_app(CLI::App& app, CommonOptions& common) {
    forget_apps();
    app.description(
        "ned - change the emotion on an actor's face in a video while keeping speech, identity, background "
        "and audio\n(Neural Emotion Director, CVPR 2022, in one C++ binary)");
    app.name("ned");
    // LibTorch, CUDA/cuDNN/NCCL, the GPUs and the CPU's vector extensions: computed only when asked for.
    app.set_version_flag("--version", [] { return ned::build_info(); });
    app.require_subcommand(1);
    app.fallthrough();
    app.footer(
        "Exit codes: 0 ok, 1 failure, 2 bad usage or input, 3 missing or invalid model asset.\n"
        "Run 'ned <command> --help' for the options of a command. Docs: docs/cli.md");
    app.add_flag("-v,--verbose", common.verbosity, "More log output (-vv for trace)")->group("Common");
    app.add_flag("-q,--quiet", common.quiet, "Only warnings and errors; no progress bars")->group("Common");
    app.add_option("--log-file", common.log_file, "Also write a full debug log to this file")->group("Common");
    app.add_option("--threads", common.threads, "Worker threads (0 = all cores)")
        ->check(CLI::NonNegativeNumber)
        ->group("Common");
    app.add_option("--device", common.device, "Where networks run: auto, cpu, cuda or cuda:N")
        ->check(device_spec())
        ->group("Common")
        ->capture_default_str();
    app.add_flag("-y,--overwrite", common.overwrite, "Overwrite existing output files")->group("Common");
    // The fields of any options struct that the common options set (validate() names the field).
    map_fields(&app, {{"*::threads", "--threads"},
                      {"*::device", "--device"},
                      {"device", "--device"},
                      {"*::overwrite", "--overwrite"}});
    for (const auto& [name, setup] : registered_commands()) setup(app, common);
}

}  // namespace ned::cli
