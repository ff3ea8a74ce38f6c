// ned — Neural Emotion Director in one binary. Entry point: parses the command line, reads the environment
// (environment.hpp: the only place), sets up logging and threads, runs the chosen subcommand and maps exceptions to
// exit codes (the only catch in the program):
//   0 ok, 1 failure, 2 bad usage or input, 3 missing or invalid model asset.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <thread>

#include "command.hpp"
#include "environment.hpp"
#include "ned/core/error.hpp"
#include "ned/core/fs_util.hpp"
#include "ned/core/log.hpp"
#include "ned/core/progress.hpp"
#include "ned/core/torch_util.hpp"

namespace {

/// After parsing, before the run: the inputs declared, the outputs checked distinct, logging, progress and threads.
void prepare_run(CLI::App& app, ned::cli::CommonOptions& common) {
    using namespace ned::cli;
    // Every input of the command is known before any output (the log file first) is opened.
    for (CLI::App* sub : app.get_subcommands())
        for (const auto& [path, what] : inputs_for(sub)) ned::declare_input(path, what);
    // Every output (the log file included) is distinct from every input and every other output.
    std::vector<std::pair<std::string, std::string>> outputs{{common.log_file, "log file"}};
    for (CLI::App* sub : app.get_subcommands())
        for (auto& out : outputs_for(sub)) outputs.push_back(std::move(out));
    ned::check_distinct_outputs(outputs);
    if (!common.log_file.empty()) ned::check_output_path(common.log_file, common.overwrite, "log file");
    ned::log::setup(common.quiet ? -1 : common.verbosity, common.log_file);
    ned::set_progress_enabled(!common.quiet);
    if (common.threads > max_threads()) {
        NED_LOG_WARN("--threads {} is more than 4 x the {} cores; using {}", common.threads,
                     std::thread::hardware_concurrency(), max_threads());
        common.threads = max_threads();
    }
    // LibTorch's intra-op pool never above the cores: it starts its threads at once and never shrinks them, and
    // more of them than cores only oversubscribes (a clamped --threads 100000 would otherwise add 2 x 16
    // idle threads to the workers of the command).
    ned::set_torch_threads(
        std::min(resolve_threads(common.threads), static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))));
}

/// The one error line of a failed run; an OptionError names the flag of the running command that sets the field.
int report_failure(const std::exception& e, CLI::App& app) {
    const int code = ned::exit_code_for(e);
    std::fflush(stdout);
    if (const auto* oe = dynamic_cast<const ned::OptionError*>(&e)) {
        const auto subs = app.get_subcommands();
        const CLI::App* running = subs.empty() ? &app : subs.front();
        std::fprintf(stderr, "ned: error: %s\n", ned::cli::option_error_message(*oe, running).c_str());
    } else if (dynamic_cast<const ned::Error*>(&e) != nullptr) {
        std::fprintf(stderr, "ned: error: %s\n", e.what());
    } else {
        std::fprintf(stderr, "ned: internal error: %s (rerun with -v for details)\n", e.what());
    }
    ned::log::get().flush();
    return code;
}

}  // namespace

int main(int argc, char** argv) {
    using namespace ned::cli;
    CLI::App app;
    CommonOptions common;
    build_app(app, common);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
        // One line, no usage dump: the user asked for something else than help.
        std::string msg = e.what();
        for (char& ch : msg)
            if (ch == '\n' || ch == '\r') ch = ' ';
        std::fprintf(stderr, "ned: error: %s (see 'ned --help' or 'ned <command> --help')\n", msg.c_str());
        return 2;
    }

    ned::install_signal_cleanup();
    // The environment is read here and nowhere else (environment.hpp, docs/cli.md "Environment variables").
    apply_environment(environment());
    try {
        prepare_run(app, common);
        for (CLI::App* sub : app.get_subcommands()) {
            if (auto run = runner_for(sub)) run();
        }
        return 0;
    } catch (const std::exception& e) {
        return report_failure(e, app);
    }
}
