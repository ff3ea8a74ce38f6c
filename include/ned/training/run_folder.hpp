#pragma once
// The output folder of a training run (--out of `ned train-manipulator` and `ned train-renderer`): its checks, its
// creation once the inputs have loaded, the clean-up of a previous run that a fresh start replaces (-y), the
// per-epoch loss log (losses.jsonl) and the removal of a folder that a failed run created and left empty.
// Only rank 0 of a data-parallel job touches the folder: the other ranks hold a RunFolder whose calls do nothing.
//
// What makes a previous run and how a run resumes are the trainers' own (the manipulator resumes from its last
// complete epoch, the renderer from state.safetensors); the folder only carries out what they decide.
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace ned::training {

class RunFolder {
public:
    /// `dir` is --out; `tag` starts every message ("" or e.g. "[train-renderer] "); `main_rank`: this process
    /// writes (false: every call below does nothing). Records whether `dir` exists now (existed()).
    RunFolder(std::filesystem::path dir, std::string tag, bool main_rank);
    /// Removes the folder when remove_if_left_empty() was called, this run created it and it is still empty.
    ~RunFolder();
    RunFolder(const RunFolder&) = delete;
    RunFolder& operator=(const RunFolder&) = delete;

    const std::filesystem::path& dir() const { return dir_; }
    std::filesystem::path file(const std::string& name) const { return dir_ / name; }
    bool main_rank() const { return main_; }
    /// The folder (or something under its name) existed when the run started (always false off rank 0).
    bool existed() const { return existed_; }

    /// InputError naming --out unless the folder can be used without creating anything: an existing writable
    /// folder, or a missing one whose parent is a writable folder (`ned train-manipulator`'s rule).
    void check_usable() const;
    /// Create the folder (with missing parents) and `sub` under it, if missing: IoError on a full disk, InputError
    /// otherwise ("<tag>--out DIR: cannot create the folder|DIR/sub (reason)").
    void create(const std::string& sub = {});
    /// A failure before anything was written removes the folder this run created (armed only where the run made
    /// it: not on other ranks, not for a folder that existed).
    void remove_if_left_empty();
    /// A fresh start over a previous run: remove the files directly in the folder whose name `belongs` to the
    /// previous run, and every file in each of `emptied` (sub-folders). IoError naming a file that cannot be
    /// removed (a later --resume must never meet a stale file).
    void clear_previous_run(const std::function<bool(const std::string& name)>& belongs,
                            const std::vector<std::string>& emptied = {});
    /// Append one line (the JSON object) to losses.jsonl; IoError ("<tag>could not write DIR/losses.jsonl") when
    /// it cannot be opened or written (a full disk included: the line is flushed and checked).
    void append_losses(const nlohmann::json& line) const;

private:
    std::filesystem::path dir_;
    std::string tag_;
    bool main_ = false, existed_ = false, remove_if_empty_ = false;
};

}  // namespace ned::training
