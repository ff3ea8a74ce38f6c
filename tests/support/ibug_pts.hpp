#pragma once
// Reader of iBUG / 300-W landmark files (`.pts`: "version: 1", "n_points: 68", "{", one "x y" line per point,
// "}"), shared by the landmark tests and benchmarks. Header-only: the benchmarks include it without linking
// the test support library.
#include <opencv2/core.hpp>

#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "ned/track/landmarks.hpp"

namespace ned::test {

/// The points of `path`, moved from the format's 1-based pixel convention to 0-based (pixel centres at integers).
/// Empty when the file cannot be read.
inline std::vector<cv::Point2f> read_ibug_pts(const std::string& path) {
    std::ifstream in(path);
    std::string line;
    std::vector<cv::Point2f> pts;
    bool inside = false;
    while (std::getline(in, line)) {
        if (line.find('{') != std::string::npos) {
            inside = true;
            continue;
        }
        if (line.find('}') != std::string::npos) break;
        float x, y;
        if (inside && std::sscanf(line.c_str(), "%f %f", &x, &y) == 2) pts.emplace_back(x - 1.f, y - 1.f);
    }
    return pts;
}

/// The 68 points of `path` as ned's Landmarks; std::runtime_error naming the file when it does not hold 68.
inline face::Landmarks read_ibug_landmarks(const std::string& path) {
    const auto v = read_ibug_pts(path);
    if (v.size() != 68) throw std::runtime_error(path + ": expected 68 points, read " + std::to_string(v.size()));
    face::Landmarks l{};
    for (size_t i = 0; i < 68; ++i) l[i] = v[i];
    return l;
}

}  // namespace ned::test
