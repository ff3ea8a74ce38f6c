#pragma once
// Subcommand registry of the `ned` executable. Each src/cli/cmd_<name>.cpp defines
//     static void setup(CLI::App& app, const CommonOptions& common);
// which adds its subcommand with app.add_subcommand(...), binds the flags to a local options struct and
// registers the work with set_runner(sub, lambda). The lambda runs after parsing and after logging and
// threads are set up. Registration happens at static-initialisation time:
//     NED_REGISTER_COMMAND(crop, setup);
// The CLI sources form an OBJECT library so these registrations are never dropped by the linker.
#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <type_traits>
#include <vector>

#include "ned/core/error.hpp"

namespace ned::cli {

/// Options shared by every subcommand (given before or after the subcommand name).
struct CommonOptions {
    int verbosity = 0;  ///< -v (repeatable) raises, -q sets -1
    bool quiet = false;
    std::string log_file;         ///< --log-file: also write a full debug log here
    int threads = 0;              ///< --threads: worker threads, 0 = all cores
    std::string device = "auto";  ///< --device auto|cpu|cuda|cuda:N
    bool overwrite = false;       ///< -y: overwrite existing outputs
};

using SetupFn = void (*)(CLI::App&, const CommonOptions&);

/// The whole command line of `ned`: the common options bound to `common`, then every registered command
/// (main, and the option-table test, build it this way).
void build_app(CLI::App& app, CommonOptions& common);

/// Called from NED_REGISTER_COMMAND; `order` sorts --help output.
bool register_command(const char* name, SetupFn fn, int order);
/// All registered setup functions, sorted by order then name.
std::vector<std::pair<std::string, SetupFn>> registered_commands();

/// Attach the work of a subcommand.
void set_runner(CLI::App* sub, std::function<void()> run);
/// The runner of a parsed subcommand (empty if none was set).
std::function<void()> runner_for(CLI::App* sub);

/// Declare the input files of a subcommand (evaluated after parsing, before the log file is opened):
/// main declares each one (ned::declare_input), so no output of the command -- the --log-file included --
/// may resolve to one of them. Empty strings are skipped.
using InputsFn = std::function<std::vector<std::pair<std::string, std::string>>()>;  // {path, what}
void set_inputs(CLI::App* sub, InputsFn inputs);
/// The declared inputs of a parsed subcommand (empty if none were set).
std::vector<std::pair<std::string, std::string>> inputs_for(CLI::App* sub);

/// Declare the output paths of a subcommand (files or folders; evaluated after parsing, like set_inputs): main
/// checks them up front, before any work, against every declared input and against each other and the
/// --log-file (ned::check_distinct_outputs), so no output of a run can replace an input or another output.
using OutputsFn = std::function<std::vector<std::pair<std::string, std::string>>()>;  // {path, what}
void set_outputs(CLI::App* sub, OutputsFn outputs);
/// The declared outputs of a parsed subcommand (empty if none were set).
std::vector<std::pair<std::string, std::string>> outputs_for(CLI::App* sub);

/// Forgets every App's and Option's entry in this file's tables (runners, inputs, outputs, field tables, enum
/// values): they are keyed by address, so a second App built in one process (the option-table test) must not
/// inherit the entries of a destroyed one at a reused address. build_app calls it first.
void forget_apps();

/// Field -> flag table of a command (group): `fields` are {options-struct field, flag}, e.g.
/// {"TrackOptions::max_gap_s", "--max-gap"} ("*::device": that field of any struct); entries whose flag `app` lacks
/// are skipped (a command group's table
/// serves every command of the group). An OptionError (ned/core/error.hpp) thrown by a validate() while `app`
/// runs is shown with the flag in place of the field (option_error_message).
void map_fields(CLI::App* app, const std::vector<std::pair<std::string, std::string>>& fields);
/// The table of `app` alone (tests: every flag named exists).
std::vector<std::pair<std::string, std::string>> fields_of(const CLI::App* app);
/// The flag that sets `field` in `app` or one of its parents (common options); empty when none does.
std::string flag_for_field(const CLI::App* app, const std::string& field);
/// What the user reads for `e` while running `app`: "--max-gap must be >= 0 (got -1)"; the field's name where
/// the command has no flag for it.
std::string option_error_message(const OptionError& e, const CLI::App* app);

/// Binds an enumerated option (CLI::CheckedTransformer): its text must be one of `names` (also in other letter
/// cases with `any_case`), which are recorded for the option-table test; `--help` shows the default's name.
void record_enum_values(const CLI::Option* opt, std::vector<std::string> values);
template <typename E>
CLI::Option* bind_enum(CLI::Option* opt, const std::vector<std::pair<std::string, E>>& names, E default_value,
                       bool any_case = false) {
    std::vector<std::string> texts;
    std::string listed;  // --help: "TEXT:{fp32,bf16,fp16}", as CLI::IsMember shows a set
    for (const auto& n : names) {
        texts.push_back(n.first);
        listed += (listed.empty() ? "{" : ",") + n.first;
        if (n.second == default_value) opt->default_str(n.first);
    }
    record_enum_values(opt, texts);
    opt->type_name("TEXT");
    // CLI::CheckedTransformer's mapping, with a refusal that lists only the accepted names (CheckedTransformer's
    // own reads "Check x value in {a->0,b->1} OR {0,1} FAILED") and without its second way in, the enum's number.
    auto check = [names, texts, any_case](std::string& value) -> std::string {
        for (const auto& [text, e] : names)
            if (any_case ? CLI::detail::to_lower(value) == CLI::detail::to_lower(text) : value == text) {
                if constexpr (std::is_enum_v<E>)
                    value = std::to_string(static_cast<std::underlying_type_t<E>>(e));
                else if constexpr (std::is_arithmetic_v<E>)  // e.g. bool: "1" / "0"
                    value = std::to_string(e);
                else  // a string mapped to itself
                    value = e;
                return {};
            }
        std::string all;
        for (size_t i = 0; i < texts.size(); ++i)
            all += (i == 0 ? "" : i + 1 == texts.size() ? " or " : ", ") + texts[i];
        return "'" + value + "' is not one of " + all;
    };
    return opt->transform(CLI::Validator(check, listed + "}", "enum"));
}
/// The accepted texts of an option bound with bind_enum (empty for any other option).
std::vector<std::string> enum_values(const CLI::Option* opt);

/// CLI11 validator: a finite number in [lo, hi] (CLI::Range lets NaN through: every comparison with NaN is false).
CLI::Validator finite_range(double lo, double hi);
/// CLI11 validator: an unsigned decimal integer that fits in 64 bits (CLI11 saturates larger numbers and wraps
/// negative ones; a --seed must be the seed the user typed).
CLI::Validator uint64_text();
/// CLI11 validator of --device: auto, cpu, cuda or cuda:N.
CLI::Validator device_spec();

/// Number of worker threads to use for `--threads N` (0 = hardware concurrency).
int resolve_threads(int requested);
/// Upper bound of --threads: 4 x hardware concurrency (at least 16); larger requests are clamped.
int max_threads();

}  // namespace ned::cli

#define NED_REGISTER_COMMAND(name, fn, order) \
    static const bool ned_cli_registered_##name = ::ned::cli::register_command(#name, fn, order)
