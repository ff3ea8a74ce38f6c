#include "ned/facenet/open_models.hpp"

#include <mutex>
#include <string>
#include <vector>

#include "ned/core/error.hpp"

namespace ned::facenet {

namespace fs = std::filesystem;

namespace {
std::mutex g_open_models_mutex;
fs::path g_open_models_override;  // set_open_models_dir (main: $NED_OPEN_MODELS)
}  // namespace

void set_open_models_dir(const fs::path& dir) {
    std::lock_guard<std::mutex> lock(g_open_models_mutex);
    g_open_models_override = dir;
}

fs::path open_models_dir() {
    std::vector<fs::path> tried;
    fs::path given;
    {
        std::lock_guard<std::mutex> lock(g_open_models_mutex);
        given = g_open_models_override;
    }
    if (!given.empty()) {
        if (fs::is_directory(given)) return given;
        throw ModelError(cat("NED_OPEN_MODELS=", given.string(), " is not a folder (expected the open face models, ",
                             "share/ned/open of an installed ned)"));
    }
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        const fs::path p = exe.parent_path().parent_path() / "share" / "ned" / "open";
        if (fs::is_directory(p)) return p;
        tried.push_back(p);
    }
    const fs::path src(NED_SOURCE_OPEN_MODELS);
    if (fs::is_directory(src)) return src;
    tried.push_back(src);
    std::string list;
    for (const auto& t : tried) list += (list.empty() ? "" : ", ") + t.string();
    throw ModelError(cat("open face models not found (tried ", list,
                         "); set NED_OPEN_MODELS to the folder holding face-api's *-weights_manifest.json files"));
}

}  // namespace ned::facenet
