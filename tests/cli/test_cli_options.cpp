// The option table of every command, walked on the real CLI (build_app, as main builds it), like llama.cpp's
// test-arg-parser: names unique, help present, every enumerated value accepted and a wrong one refused (a
// CLI11 parse error: exit 2), every field -> flag entry naming a flag the command has. Plus a few runs of the
// binary for the exit code and the message that names the flag of the running command.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "cli/command.hpp"
#include "support/test_support.hpp"

namespace {

using ned::cli::CommonOptions;

struct Cli {
    CLI::App app;
    CommonOptions common;
    Cli() { ned::cli::build_app(app, common); }
    std::vector<CLI::App*> commands() {
        return app.get_subcommands([](CLI::App*) { return true; });
    }
    /// Parses `args` (without the program name); the ParseError's exit code, 0 when it parsed.
    int parse(std::vector<std::string> args, std::string* what = nullptr) {
        std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 takes them reversed
        try {
            app.parse(reversed);
            return 0;
        } catch (const CLI::ParseError& e) {
            if (what) *what = std::string(e.get_name()) + ": " + e.what();
            return e.get_exit_code();
        }
    }
};

std::vector<std::string> names_of(const CLI::Option* o) {
    std::vector<std::string> n;
    for (const auto& s : o->get_snames()) n.push_back("-" + s);
    for (const auto& l : o->get_lnames()) n.push_back("--" + l);
    if (n.empty()) n.push_back(o->get_name(true));  // a positional
    return n;
}

TEST(CliOptions, EveryCommandIsThereWithADescription) {
    Cli cli;
    std::set<std::string> names;
    for (CLI::App* sub : cli.commands()) {
        EXPECT_FALSE(sub->get_description().empty()) << sub->get_name();
        names.insert(sub->get_name());
    }
    for (const char* c :
         {"probe", "crop", "composite", "analyze", "reconstruct", "export-mesh", "manipulate", "train-manipulator",
          "render-inputs", "render", "train-renderer", "translate", "style", "eval"})
        EXPECT_EQ(names.count(c), 1u) << c;
}

TEST(CliOptions, NamesAreUniqueAndEveryOptionHasHelp) {
    Cli cli;
    std::map<std::string, int> common;
    for (const CLI::Option* o : cli.app.get_options()) {
        EXPECT_FALSE(o->get_description().empty()) << names_of(o)[0];
        for (const auto& n : names_of(o)) ++common[n];
    }
    for (const auto& [n, count] : common) EXPECT_EQ(count, 1) << "common option " << n;
    for (CLI::App* sub : cli.commands()) {
        std::map<std::string, int> seen;
        for (const CLI::Option* o : sub->get_options()) {
            EXPECT_FALSE(o->get_description().empty()) << sub->get_name() << " " << names_of(o)[0];
            for (const auto& n : names_of(o)) {
                ++seen[n];
                // a command's option must not shadow a common one (they are given before or after the command)
                if (n != "-h" && n != "--help") EXPECT_EQ(common.count(n), 0u) << sub->get_name() << " " << n;
            }
        }
        for (const auto& [n, count] : seen) EXPECT_EQ(count, 1) << sub->get_name() << " " << n;
    }
}

TEST(CliOptions, FieldTablesNameFlagsTheCommandHas) {
    Cli cli;
    for (CLI::App* sub : cli.commands())
        for (const auto& [field, flag] : ned::cli::fields_of(sub)) {
            EXPECT_NE(field.find("::"), std::string::npos) << sub->get_name() << ": field " << field;
            EXPECT_NE(sub->get_option_no_throw(flag), nullptr) << sub->get_name() << ": " << field << " -> " << flag;
        }
}

TEST(CliOptions, EveryEnumValueIsAcceptedAndAWrongOneRefused) {
    Cli cli;
    int enums = 0;
    for (CLI::App* sub : cli.commands()) {
        for (const CLI::Option* o : sub->get_options()) {
            const auto values = ned::cli::enum_values(o);
            if (values.empty()) continue;
            ++enums;
            const std::string flag = names_of(o).back();
            for (const auto& v : values) {
                std::string what;
                const int code = cli.parse({sub->get_name(), flag, v}, &what);
                // required arguments are missing here: that (RequiredError) is the only complaint allowed
                EXPECT_TRUE(code == 0 || what.rfind("RequiredError", 0) == 0)
                    << sub->get_name() << " " << flag << " " << v << ": " << what;
            }
            std::string what;
            const int code = cli.parse({sub->get_name(), flag, "no-such-value"}, &what);
            EXPECT_NE(code, 0) << sub->get_name() << " " << flag;
            EXPECT_NE(what.find(flag), std::string::npos) << sub->get_name() << " " << flag << ": " << what;
            EXPECT_EQ(what.rfind("RequiredError", 0), std::string::npos) << what;
        }
    }
    // The closed sets bound as enums (a binding lost, e.g. back to a plain string, fails here).
    std::map<std::string, std::set<std::string>> expected = {
        {"render --precision", {"fp32", "bf16", "fp16"}},
        {"train-renderer --precision", {"fp32", "bf16", "fp16"}},
        {"translate --precision", {"fp32", "bf16", "fp16"}},
        {"style --precision", {"fp32", "bf16", "fp16"}},
        {"crop --detector", {"hog", "hog-rot", "ssd", "blazeface", "hog-blazeface", "combined"}},
        {"analyze --landmarks", {"auto", "dlib", "facemesh"}},
        {"eval --target-emotion", {"neutral", "angry", "disgusted", "fear", "happy", "sad", "surprised"}},
        {"reconstruct --method", {"deca", "fit"}},
    };
    for (const auto& [what, values] : expected) {
        const std::string cmd = what.substr(0, what.find(' ')), flag = what.substr(what.find(' ') + 1);
        CLI::App* sub = cli.app.get_subcommand(cmd);
        const CLI::Option* o = sub->get_option_no_throw(flag);
        ASSERT_NE(o, nullptr) << what;
        const auto got = ned::cli::enum_values(o);
        EXPECT_EQ(std::set<std::string>(got.begin(), got.end()), values) << what;
    }
    EXPECT_GE(enums, 6);
}

TEST(CliOptions, AWrongEnumValueExitsWith2NamingTheFlag) {
    const auto r = ned::test::run_ned({"render", ".", "--renderer", "r.safetensors", "--precision", "fp64"});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("--precision"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("fp64"), std::string::npos) << r.err;
}

TEST(CliOptions, AnOptionErrorNamesTheFlagOfTheRunningCommand) {
    Cli cli;
    CLI::App* crop = cli.app.get_subcommand("crop");
    CLI::App* translate = cli.app.get_subcommand("translate");
    const ned::OptionError e("TrackOptions::max_gap_s", " must be a number of seconds in [0, 3600] (got -1)");
    EXPECT_EQ(ned::cli::option_error_message(e, crop), "--max-gap must be a number of seconds in [0, 3600] (got -1)");
    // translate has no --max-gap: the field is named
    EXPECT_EQ(ned::cli::option_error_message(e, translate),
              "TrackOptions::max_gap_s must be a number of seconds in [0, 3600] (got -1)");
    // the common options, for the field of any struct
    const ned::OptionError d("RenderOptions::device", " 'tpu' is not a device");
    EXPECT_EQ(ned::cli::option_error_message(d, cli.app.get_subcommand("render")), "--device 'tpu' is not a device");
    // fields of the structs validated later (reconstruct, export-mesh, eval, analyze, translate/style's work folder)
    const std::vector<std::tuple<std::string, std::string, std::string>> mapped = {
        {"reconstruct", "FitOptions::chunk", "--fit-chunk"},
        {"export-mesh", "ExportMeshOptions::out_dir", "--out"},
        {"eval", "EvalOptions::target_emotion", "--target-emotion"},
        {"analyze", "FaceMaskOptions::forehead_fraction", "--forehead"},
        {"translate", "TranslateOptions::work", "--work"},
        {"style", "TranslateOptions::work", "--work"},
        {"render", "RenderOptions::precision", "--precision"},
        {"translate", "TranslateOptions::precision", "--precision"},
        {"train-renderer", "TrainOptions::precision", "--precision"}};
    for (const auto& [command, field, flag] : mapped)
        EXPECT_EQ(ned::cli::flag_for_field(cli.app.get_subcommand(command), field), flag) << command << " " << field;
}

}  // namespace
