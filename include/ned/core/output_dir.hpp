#pragma once
// Output folders of frame images (crops/, conditioning/<kind>/, faces/, ...): a run that fails or is interrupted
// must not leave the images written so far, which a later command would take for a complete set.
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace ned {

/// True when `name` is a frame image name as frame_name() writes it: six or more digits then `ext` ("000007.png").
bool is_frame_file_name(const char* name, const char* ext);

/// An output folder that holds frame images `NNNNNN<ext>`. The constructor prepares it:
///  - a missing folder is created (with any missing parents);
///  - an existing folder that already holds frame images is refused without `overwrite` (InputError, exit 2)
///    and emptied of them with it (stale frames of an earlier, longer run would otherwise survive);
///    other files in it are never touched.
/// Until commit(), a failure (the destructor runs without commit) and SIGINT/SIGTERM/SIGHUP (through the
/// signal-cleanup registry of fs_util.hpp) remove every frame image in the folder -- all of them were written
/// by this run -- and then the folders this object created, if they are empty. A folder that existed before
/// the run is never removed.
class OutputDir {
public:
    OutputDir(std::string path, bool overwrite, std::string ext = ".png", const std::string& what = "output folder");
    ~OutputDir();
    OutputDir(const OutputDir&) = delete;
    OutputDir& operator=(const OutputDir&) = delete;

    const std::string& path() const { return path_; }
    /// True when this run created the folder.
    bool created() const { return !created_top_.empty(); }
    /// The run completed: keep the images.
    void commit();

private:
    std::string path_, abs_, ext_, created_top_;
    bool committed_ = false;
    int slot_ = -1;
};

/// Several output folders of one run, cleaned up in reverse order of creation (a nested folder before the
/// parent it made) when destroyed without commit().
class OutputDirs {
public:
    OutputDirs() = default;
    ~OutputDirs();
    OutputDirs(const OutputDirs&) = delete;
    OutputDirs& operator=(const OutputDirs&) = delete;
    /// Prepare one more folder (OutputDir's constructor); returns its path.
    const std::string& add(std::string path, bool overwrite, std::string ext = ".png",
                           const std::string& what = "output folder");
    void commit();

private:
    std::vector<std::unique_ptr<OutputDir>> dirs_;
};

/// An output folder of a whole run (`train-renderer --out`, `translate --work`), given back as it was when the
/// run fails:
///  - the constructor only checks (InputError, exit 2, naming `what` and the path): a file at the path, a folder
///    that is not writable, or a missing folder whose nearest existing ancestor is not a writable folder;
///  - create() makes it (with missing parents) once the run's inputs are checked; for a folder that already
///    existed it notes the entries directly in it and in the `watched` sub-folders;
///  - restore() (the caller decides when: after a failure, unless the run left something worth keeping)
///    removes the folders this run created, or in a folder that existed only the entries added since create()
///    (a sub-folder that was there keeps its old entries); the user's files are never touched.
class OutputFolder {
public:
    OutputFolder(std::string path, std::string what);
    void create(const std::vector<std::string>& watched = {});
    void restore() noexcept;
    const std::string& path() const { return path_; }
    bool existed() const { return existed_; }

private:
    std::string path_, what_;
    bool existed_ = false, created_ = false;
    std::string created_top_;  ///< the top-most folder create() made (removed whole by restore())
    std::vector<std::pair<std::string, std::vector<std::string>>> before_;  ///< sub-folder -> names at create()
};

/// Remove the frame images `NNNNNN<ext>` directly in `dir`, then `dir` and its parents up to and including
/// `top` while they are empty (`top` empty: remove no folder). Async-signal-safe (raw system calls, no
/// allocation); used by OutputDir and by the signal handler. Returns the number of files removed.
int remove_frame_files_safe(const char* dir, const char* ext, const char* top);

/// Remove everything inside the folder `dir` (files, links and sub-folders, at most 16 levels deep; links are
/// removed, never followed), then `dir` itself. Async-signal-safe (raw system calls, no allocation); rescans
/// until a pass removes nothing, since writer threads may still add a file while it runs.
void remove_tree_safe(const char* dir);

/// A fresh temporary folder (mkdtemp under the system's temporary folder, "PREFIX-XXXXXX"), removed whole by
/// the destructor and on SIGINT/SIGTERM/SIGHUP (a third registry of the signal cleanup of fs_util.hpp).
/// `ned translate` keeps its default work folder in one.
class TempDir {
public:
    explicit TempDir(const std::string& prefix);
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    /// Absolute path of the folder.
    const std::string& path() const { return path_; }

private:
    std::string path_;
    int slot_ = -1;
};

}  // namespace ned
