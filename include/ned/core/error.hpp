#pragma once
// Error hierarchy of ned. Library code throws; src/cli/main.cpp is the only place that catches and maps
// to exit codes:  InputError -> 2 (bad usage or input),  ModelError -> 3 (missing/invalid model asset),
// any other ned::Error or std::exception -> 1 (failure).
// Messages say what went wrong, which file / frame, and what was expected.
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace ned {

class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};
/// Bad user input: unreadable or invalid video, bad option value, output exists without -y, ...
class InputError : public Error {
public:
    using Error::Error;
};
/// A bad option value, found by an options struct's validate(): names the FIELD ("TrackOptions::max_gap_s") and
/// the value. what() is field + detail (detail starts with " must ..." or ": ..."); the CLI shows the same text
/// with the flag that sets the field in place of the field (src/cli/command.hpp, flag_for_field), so library
/// code never names a command-line flag.
class OptionError : public InputError {
public:
    OptionError(std::string field, std::string detail)
        : InputError(field + detail), field_(std::move(field)), detail_(std::move(detail)) {}
    const std::string& field() const noexcept { return field_; }
    const std::string& detail() const noexcept { return detail_; }

private:
    std::string field_, detail_;
};
/// Missing or invalid model asset (weights file, landmark model, FLAME file, ...).
class ModelError : public Error {
public:
    using Error::Error;
};
/// Failure of an I/O operation that is not the user's fault (disk full, encoder failure, ...).
class IoError : public Error {
public:
    using Error::Error;
};
/// Requested backend (e.g. CUDA) not available.
class BackendError : public Error {
public:
    using Error::Error;
};

namespace detail {
inline void append_all(std::ostringstream&) {}
template <typename T, typename... Rest>
void append_all(std::ostringstream& os, const T& v, const Rest&... rest) {
    os << v;
    append_all(os, rest...);
}
}  // namespace detail

/// Concatenate streamable values into a string: ned::cat("frame ", i, ": ", msg).
template <typename... Args>
std::string cat(const Args&... args) {
    std::ostringstream os;
    detail::append_all(os, args...);
    return os.str();
}

/// Exit code for an exception, as documented in docs/cli.md.
int exit_code_for(const std::exception& e) noexcept;

}  // namespace ned

/// Always-on invariant check at stage boundaries: NED_CHECK(cond, "what", value, ...) throws ned::Error.
#define NED_CHECK(cond, ...)                                                                   \
    do {                                                                                       \
        if (!(cond)) throw ::ned::Error(::ned::cat("check failed: " #cond ": ", __VA_ARGS__)); \
    } while (0)
