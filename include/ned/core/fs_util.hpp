#pragma once
// File-system helpers shared by all commands: output paths are checked up front, written under a
// temporary name in the same folder and renamed into place, so an interrupted or failed run never leaves
// a half-written file under the final name and never touches an existing file unless asked to (-y).
#include <string>
#include <utility>
#include <vector>

namespace ned {

/// Throw InputError unless `path` can be created: its folder exists and (unless `overwrite`) it does not
/// exist yet, and it is not (after following symlinks and `.`/`..`, or as a hard link) one of the declared
/// inputs of the running command -- with or without `overwrite`. `what` names the output ("output video").
void check_output_path(const std::string& path, bool overwrite, const std::string& what = "output");

/// Throw InputError unless `path` is an existing regular file. Also declares it an input (declare_input).
void check_input_file(const std::string& path, const std::string& what = "input");

/// Throw InputError unless the extension of `path` (case-insensitive, with the dot) is one of `exts`.
void check_extension(const std::string& path, const std::vector<std::string>& exts, const std::string& what);

/// Declare `path` an input file of the running command (process-wide, thread-safe): every later
/// check_output_path (and so every AtomicFile) refuses an output that resolves to it, even with -y.
/// Empty paths and folders are ignored. `what` names the input in the refusal message.
void declare_input(const std::string& path, const std::string& what = "input");
/// Throw InputError if `path` resolves to a declared input ("<what> <path>: is the <input what> <input path>").
void check_not_input(const std::string& path, const std::string& what = "output");
/// Throw InputError if two of `outputs` ({path, what}; empty paths skipped) resolve to the same file or folder
/// (after following symlinks and `.`/`..`, or as hard links), or if one of them is a declared input
/// (check_not_input). Called up front with every output of a command, so a report never replaces the video.
void check_distinct_outputs(const std::vector<std::pair<std::string, std::string>>& outputs);
/// Forget all declared inputs (tests; one command per process otherwise).
void clear_declared_inputs();

/// A file written under a temporary name and renamed to its final name by commit().
/// If commit() is never called (exception, early return) the temporary file is removed.
class AtomicFile {
public:
    /// Checks the target with check_output_path(path, overwrite).
    AtomicFile(std::string path, bool overwrite);
    ~AtomicFile();
    AtomicFile(const AtomicFile&) = delete;
    AtomicFile& operator=(const AtomicFile&) = delete;

    /// Temporary path to write to; same folder and same extension as the final path (muxers look at it).
    const std::string& temp_path() const { return temp_; }
    const std::string& path() const { return path_; }
    /// Rename the temporary file onto the final path.
    void commit();

private:
    std::string path_, temp_;
    bool committed_ = false;
    int cleanup_slot_ = -1;
};

/// Remove `path` if the process is killed by SIGINT/SIGTERM/SIGHUP before unregister_cleanup(slot).
/// Returns the slot (-1 when the registry is full or the path is too long: then it is simply not removed).
/// AtomicFile registers its temporary file this way.
int register_cleanup(const std::string& path);
void unregister_cleanup(int slot);
/// Install the handlers (once, from main): on SIGINT/SIGTERM/SIGHUP the registered files are unlinked, one line
/// "ned: interrupted ..." is written to stderr and the process exits with 128 + signal (130 for SIGINT,
/// 143 for SIGTERM). Only async-signal-safe calls are made in the handler.
void install_signal_cleanup();

/// End the process at once from any thread (e.g. a watchdog that found a peer process dead while the main thread
/// is blocked or busy): the registered temporary outputs are removed as on a signal, `line` is written to stderr
/// and the process exits with `code` without unwinding (finished outputs stay, so a run can resume).
[[noreturn]] void exit_now(const std::string& line, int code);

/// Zero-padded frame file name: frame_name(7, ".png") == "000007.png" (6 digits, more when needed).
std::string frame_name(long index, const std::string& ext);

/// Remove the regular files with extension `ext` (e.g. ".png") directly in `dir` (a missing folder is
/// fine): an output image folder is emptied before a run writes it again, so no stale frame survives.
void remove_files_with_extension(const std::string& dir, const std::string& ext);
/// True when `dir` holds at least one regular file with extension `ext`.
bool has_files_with_extension(const std::string& dir, const std::string& ext);

}  // namespace ned
