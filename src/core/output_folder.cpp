// OutputFolder: an output folder of a whole run, checked up front and given back on failure
// (include/ned/core/output_dir.hpp).
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "ned/core/error.hpp"
#include "ned/core/output_dir.hpp"

namespace fs = std::filesystem;

namespace ned {
namespace {
std::vector<std::string> names_in(const fs::path& dir) {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}
}  // namespace

OutputFolder::OutputFolder(std::string path, std::string what) : path_(std::move(path)), what_(std::move(what)) {
    std::error_code ec;
    const fs::file_status st = fs::status(path_, ec);
    if (fs::exists(st)) {
        if (!fs::is_directory(st)) throw InputError(cat(what_, " ", path_, ": is a file, not a folder"));
        if (::access(path_.c_str(), W_OK | X_OK) != 0)
            throw InputError(cat(what_, " ", path_, ": the folder is not writable (", std::strerror(errno), ")"));
        existed_ = true;
        return;
    }
    if (ec && ec != std::errc::no_such_file_or_directory && ec != std::errc::not_a_directory)
        throw InputError(cat(what_, " ", path_, ": cannot be read (", ec.message(), ")"));
    // Missing: its nearest existing ancestor must be a writable folder.
    fs::path a = fs::absolute(path_, ec).lexically_normal();
    while (a.has_relative_path() && !fs::exists(fs::symlink_status(a, ec))) a = a.parent_path();
    if (!fs::is_directory(a, ec))
        throw InputError(cat(what_, " ", path_, ": cannot be created: ", a.string(), " is not a folder"));
    if (::access(a.c_str(), W_OK | X_OK) != 0)
        throw InputError(
            cat(what_, " ", path_, ": cannot be created in ", a.string(), " (", std::strerror(errno), ")"));
}

void OutputFolder::create(const std::vector<std::string>& watched) {
    std::error_code ec;
    if (!existed_ && fs::exists(fs::symlink_status(path_, ec))) existed_ = true;  // made meanwhile: not ours
    if (existed_) {
        before_.emplace_back("", names_in(path_));
        for (const auto& sub : watched) before_.emplace_back(sub, names_in(fs::path(path_) / sub));
        created_ = true;
        return;
    }
    fs::path top = fs::absolute(path_, ec).lexically_normal();  // the first missing ancestor
    while (top.has_relative_path() && !fs::exists(fs::symlink_status(top.parent_path(), ec))) top = top.parent_path();
    fs::create_directories(path_, ec);
    if (ec || !fs::is_directory(path_)) {
        std::error_code ignore;
        fs::remove_all(top, ignore);
        const std::string msg =
            cat(what_, " ", path_, ": cannot create the folder (", ec ? ec.message() : "not a folder", ")");
        if (ec == std::errc::no_space_on_device) throw IoError(msg);  // not the user's input: exit 1
        throw InputError(msg);
    }
    created_top_ = top.string();
    created_ = true;
}

void OutputFolder::restore() noexcept {
    if (!created_) return;
    try {
        std::error_code ec;
        if (!existed_) {
            fs::remove_all(created_top_, ec);
            return;
        }
        // "" first: a watched sub-folder this run added goes as a whole; one that was there keeps its old entries.
        for (const auto& [sub, names] : before_) {
            const fs::path dir = fs::path(path_) / sub;
            for (const auto& n : names_in(dir))
                if (!std::binary_search(names.begin(), names.end(), n)) fs::remove_all(dir / n, ec);
        }
    } catch (...) {}
}

}  // namespace ned
