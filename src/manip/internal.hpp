#pragma once
// Private helpers shared by manipulate.cpp, dataset.cpp and train.cpp (and their unit tests).
#include <torch/torch.h>

#include <cstdint>
#include <vector>

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

}  // namespace ned::manip
