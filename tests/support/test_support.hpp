#pragma once
// Helpers shared by the tests: where the shared clips are (tests skip when absent), a scratch folder
// per test, and running the `ned` binary.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace ned::test {

/// ../shared/data (or $NED_TEST_DATA_DIR); empty string if the folder does not exist.
std::string data_dir();
/// data_dir() + "/" + rel, or "" when the data folder is absent.
std::string data_path(const std::string& rel);
/// The yaw test set that scripts/setup.sh makes with scripts/make_yaw_set.py (BUILD/yawset, or $NED_YAW_SET):
/// a rendered head and real photos with known head pose and 68 points; empty when it was not made.
std::string yaw_set_dir();
/// Every video under data_dir()/video (recursively, sorted); empty when absent.
std::vector<std::string> shared_videos();
/// A fresh empty folder for this test (under the build tree's Testing/tmp), removed at exit of the test.
class TempDir {
public:
    TempDir();
    ~TempDir();
    const std::string& path() const { return path_; }
    std::string operator/(const std::string& name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

struct RunResult {
    int exit_code = -1;
    std::string out;  ///< stdout
    std::string err;  ///< stderr
};
/// Run the built `ned` binary with arguments (no shell); captures stdout and stderr.
RunResult run_ned(const std::vector<std::string>& args);
/// The same with variables added to (or replacing those of) this process's environment, e.g. the CPU caps
/// {"ONEDNN_MAX_CPU_ISA", "AVX2"}.
RunResult run_ned(const std::vector<std::string>& args, const std::map<std::string, std::string>& env);
/// Path of the built ned binary.
std::string ned_binary();
/// The Python interpreter for converter tests, found the one documented way (scripts/find_python.sh:
/// $NED_PYTHON, else /usr/bin/python3, else python3 on PATH) and able to import every module in `modules`
/// (space-separated, e.g. "numpy torch"); empty when there is none. Tests skip with a message naming what is
/// missing. The result is quoted for use in a shell command line.
std::string python_with(const std::string& modules);
/// True when the ffmpeg command-line tool is on PATH (some fixtures are made with it).
bool have_ffmpeg();
/// Run `ffmpeg -hide_banner -loglevel error -nostdin -y ARGS` through the shell; true on success.
bool run_ffmpeg(const std::string& args);
/// A TCP port that was free a moment ago on 127.0.0.1 (for rendezvous tests; traffic stays on loopback).
int free_port();
/// Number of newline-terminated lines in `s` (checks that errors are "one clear line").
int count_lines(const std::string& s);

}  // namespace ned::test

/// Skip the current test when the yaw test set is absent.
#define NED_REQUIRE_YAW_SET()                                                                   \
    do {                                                                                        \
        if (::ned::test::yaw_set_dir().empty())                                                 \
            GTEST_SKIP() << "yaw test set not found (scripts/setup.sh makes BUILD/yawset with " \
                            "scripts/make_yaw_set.py, or set NED_YAW_SET); skipping";           \
    } while (0)

/// Skip the current test when the shared data folder is absent.
#define NED_REQUIRE_DATA()                                                                                            \
    do {                                                                                                              \
        if (::ned::test::data_dir().empty()) GTEST_SKIP() << "shared test data not found (../shared/data); skipping"; \
    } while (0)
