#pragma once
// File-system helpers shared by all commands: output paths are checked up front, written under a
// temporary name in the same folder and renamed into place, so an interrupted or failed run never leaves
// a half-written file under the final name and never touches an existing file unless asked to (-y).
#include <string>

namespace ned {

/// Throw InputError unless `path` can be created: its folder exists and (unless `overwrite`) it does not
/// exist yet. `what` names the output in the message ("output video").
void check_output_path(const std::string& path, bool overwrite, const std::string& what = "output");

/// Throw InputError unless `path` is an existing regular file.
void check_input_file(const std::string& path, const std::string& what = "input");

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
};

/// Zero-padded frame file name: frame_name(7, ".png") == "000007.png" (6 digits, more when needed).
std::string frame_name(long index, const std::string& ext);

}  // namespace ned
