#pragma once
// Internal helpers of the pipeline layer (src/pipeline): the work-folder lock, the preview
// video, the edit's summary numbers and the JSON report of `ned translate` / `ned style`.
#include <memory>
#include <string>
#include <vector>

#include "ned/core/output_dir.hpp"
#include "ned/core/progress.hpp"
#include "ned/face/face_track.hpp"
#include "ned/pipeline/translate.hpp"

namespace ned::pipeline {

/// An exclusive lock on WORK/.lock for the whole run: two runs never write one work folder at once
/// (InputError naming the folder when another run holds it).
class WorkLock {
public:
    explicit WorkLock(const std::string& work);
    ~WorkLock();
    WorkLock(const WorkLock&) = delete;
    WorkLock& operator=(const WorkLock&) = delete;

private:
    int fd_ = -1;
};

/// The work folder of a run (--work): checked, then created, before any stage writes to it. An existing file
/// at its path, a folder that cannot be created or written (core OutputFolder), or one of the run's sub-folders
/// (stages/, faces/, edit_masks/, masks/, reference/) or files (track.safetensors, ...) of the wrong kind is an
/// InputError (exit 2) naming the path, never a file-system error halfway. When the run fails before any stage
/// finished (no record in stages/: nothing to continue from) the folder is given back as it was (created here:
/// removed; existing: what this run added removed); otherwise it is kept, so a re-run continues.
class WorkFolder {
public:
    explicit WorkFolder(std::string path);
    ~WorkFolder();
    WorkFolder(const WorkFolder&) = delete;
    WorkFolder& operator=(const WorkFolder&) = delete;
    const std::string& path() const { return folder_.path(); }
    /// The run finished: keep the folder whatever happened.
    void keep() { keep_ = true; }

private:
    OutputFolder folder_;
    bool keep_ = false;
};

/// A progress bar owned by `bar`, labelled `label`; returns its callback.
ProgressFn bar_fn(std::unique_ptr<ProgressBar>& bar, const std::string& label);

/// Original | edited side by side, the input's timestamps and audio. Returns frames written.
long write_preview(const std::string& input, const std::string& edited, const std::string& out_path, int crf,
                   const std::string& preset, bool overwrite);

/// Pearson correlation (NaN when fewer than 2 values or a constant series).
double pearson(const std::vector<double>& a, const std::vector<double>& b);

/// The report's edit numbers from the source and edited reconstructions: result.jaw_correlation (Pearson of
/// pose[:,3] over frames valid in both) and result.mean_expression_change (mean L2 of the exp difference).
void summarize_edit(const std::string& source_recon, const std::string& edited_recon, TranslateResult& result);

/// The JSON report (`--report`, format ned.translate_report version 1), written atomically.
void write_report(const TranslateOptions& options, const TranslateResult& result);

}  // namespace ned::pipeline
