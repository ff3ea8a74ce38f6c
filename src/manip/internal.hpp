#pragma once
// Private helpers shared by manipulate.cpp, dataset.cpp and train.cpp (and their unit tests).
#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "ned/manip/train.hpp"

namespace ned::manip {

/// A run of consecutive valid frames [start, start+len).
struct Run {
    int64_t start = 0, len = 0;
};
std::vector<Run> valid_runs(const std::vector<uint8_t>& valid);

/// The rows of a run, padded by edge replication to at least 10 frames (left pad `left`, rest right).
struct PaddedRun {
    Run run;
    int64_t left = 0;
    std::vector<float> rows;  ///< length() x 51
    int64_t length() const { return static_cast<int64_t>(rows.size()) / 51; }
};
PaddedRun pad_run(const std::vector<float>& x, const Run& run);

/// Geometric median of style vectors [N,S] -> [S] (CPU float).
torch::Tensor median_style(const torch::Tensor& styles);

// ---- training data (dataset.cpp, for train.cpp) ----
/// Split the dataset's files into training and validation files by file (the windows of one file overlap, so a
/// per-window split would leak): round(val_fraction * files) files (at least one when val_fraction > 0 and there
/// are two files; never all of them) drawn by a Fisher-Yates shuffle from mt19937_64(`seed`). Order kept.
void split_files(const std::vector<LabeledFile>& files, double val_fraction, uint64_t seed,
                 std::vector<LabeledFile>& train, std::vector<LabeledFile>& val);
/// How many windows of `ws` have a constant jaw opening (input column 0) over their 10 frames.
int64_t flat_jaw_windows(const WindowSet& ws);

}  // namespace ned::manip
