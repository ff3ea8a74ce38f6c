#pragma once
// Reader of the yaw test set's index (scripts/make_yaw_set.py writes DIR/index.json; scripts/setup.sh makes
// BUILD/yawset): one entry per image or video with its head pose and 68 points. Header-only, like ibug_pts.hpp,
// so the benchmarks can use it without the test support library.
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "support/ibug_pts.hpp"

namespace ned::test {

struct YawEntry {
    std::string path;  ///< absolute path of the image or video
    std::string kind;  ///< "synthetic" (the rendered head), "real" (photos) or "noface" (faceless videos)
    bool has_pose = false;
    double yaw = 0, pitch = 0, roll = 0;  ///< degrees; yaw > 0: the nose towards image right (see index.json)
    std::vector<cv::Point2f> points;      ///< 68 iBUG points, 0-based pixels; empty when not annotated
};

/// Every entry of DIR/index.json (empty when the file is missing).
inline std::vector<YawEntry> read_yaw_set(const std::string& dir) {
    std::ifstream in(std::filesystem::path(dir) / "index.json");
    if (!in) return {};
    const nlohmann::json index = nlohmann::json::parse(in);
    const nlohmann::json& entries = index.is_array() ? index : index.at("entries");
    std::vector<YawEntry> out;
    for (const auto& e : entries) {
        YawEntry y;
        y.path = (std::filesystem::path(dir) / e.at("file").get<std::string>()).string();
        y.kind = e.value("kind", "");
        auto number = [&](const char* key, double& v) {
            if (e.contains(key) && e[key].is_number()) {
                v = e[key].get<double>();
                return true;
            }
            return false;
        };
        y.has_pose = number("yaw_deg", y.yaw);
        number("pitch_deg", y.pitch);
        number("roll_deg", y.roll);
        if (e.contains("pts") && e["pts"].is_string())
            y.points = read_ibug_pts((std::filesystem::path(dir) / e["pts"].get<std::string>()).string());
        out.push_back(std::move(y));
    }
    return out;
}

}  // namespace ned::test
