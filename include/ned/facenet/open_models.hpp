#pragma once
// Where ned::facenet finds the open face models shipped with ned (models/open/, installed to share/ned/open).
#include <filesystem>

namespace ned::facenet {

/// Folder of the shipped open models: the one given to set_open_models_dir (`ned` passes $NED_OPEN_MODELS), else
/// <dir of the ned executable>/../share/ned/open, else the source tree's models/open (compiled-in). ModelError
/// (exit 3) naming the folders tried when missing, or when the folder given is not one.
std::filesystem::path open_models_dir();
/// Make open_models_dir() return `dir` (empty: search as above). The library never reads the environment: `main`
/// calls this once with $NED_OPEN_MODELS (src/cli/environment.cpp); a test may call it too.
void set_open_models_dir(const std::filesystem::path& dir);

}  // namespace ned::facenet
