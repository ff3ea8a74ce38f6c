#pragma once
// Small numeric pieces of the manipulator's inference (foivospar/NED manipulator/test.py):
// the geometric median of style vectors and the Gaussian overlap-add weights.
#include <vector>

namespace ned::manip {

/// Geometric median of points X (N rows of equal length, N >= 1) by Weiszfeld's iteration started at the
/// mean, with the Vardi-Zhang handling of iterates that coincide with data points (NED's port of
/// StackOverflow 30299267). Stops when an update moves less than `eps` (Euclidean) or after `max_iter`.
/// Returns the start (mean) when every point coincides with it.
std::vector<double> geometric_median(const std::vector<std::vector<double>>& X, double eps = 1e-5,
                                     int max_iter = 10000);

/// cv2.getGaussianKernel(n, -1): sigma = 0.3*((n-1)/2 - 1) + 0.8, normalised to sum 1
/// (n = 10: sigma 1.85, weights 0.011263 ... 0.209212 ... 0.011263).
std::vector<double> overlap_weights(int n);

/// Incremental form of overlap_add (what manipulate uses): add windows in any order, then result().
class OverlapAdder {
public:
    OverlapAdder(int T, int n, int dim);
    /// Output rows of window i (frames i..i+n-1): n*dim floats.
    void add(int i, const float* window);
    /// Weighted sum with NED's edge rule applied (first and last window must have been added).
    std::vector<float> result() const;

private:
    int T_, n_, dim_;
    std::vector<double> w_, acc_;
    std::vector<float> first_, last_;
};

/// NED's overlap-add of per-window outputs for one contiguous run of T >= n frames:
/// windows[i] (i = 0..T-n) holds n rows of `dim` values for frames i..i+n-1.
/// out[t] = sum_i w[t-i] * windows[i][t-i]; then frames 0..n-2 are overwritten by window 0's rows 0..n-2
/// and the last n-1 frames by the last window's rows 1..n-1 (in that order, so the latter wins on overlap).
/// Returns T rows of `dim` values, row-major.
std::vector<float> overlap_add(const std::vector<float>& windows, int T, int n, int dim);

}  // namespace ned::manip
