#include "ned/core/fs_util.hpp"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <random>

#include "ned/core/error.hpp"

namespace fs = std::filesystem;

namespace ned {

void check_output_path(const std::string& path, bool overwrite, const std::string& what) {
    if (path.empty()) throw InputError(what + ": empty path");
    fs::path p(path);
    fs::path dir = p.parent_path();
    std::error_code ec;
    if (!dir.empty() && !fs::is_directory(dir, ec))
        throw InputError(cat(what, " ", path, ": folder '", dir.string(), "' does not exist"));
    if (fs::is_directory(p, ec)) throw InputError(cat(what, " ", path, ": is a folder, expected a file path"));
    if (!overwrite && fs::exists(p, ec))
        throw InputError(cat(what, " ", path, ": already exists (use -y to overwrite)"));
}

void check_input_file(const std::string& path, const std::string& what) {
    std::error_code ec;
    if (!fs::exists(path, ec)) throw InputError(cat(what, " ", path, ": no such file"));
    if (!fs::is_regular_file(path, ec)) throw InputError(cat(what, " ", path, ": not a regular file"));
}

AtomicFile::AtomicFile(std::string path, bool overwrite) : path_(std::move(path)) {
    check_output_path(path_, overwrite);
    fs::path p(path_);
    std::random_device rd;
    std::string tag = std::to_string(::getpid()) + "-" + std::to_string(rd() % 100000);
    fs::path tmp = p.parent_path() / ("." + p.stem().string() + ".tmp-" + tag + p.extension().string());
    temp_ = tmp.string();
}

AtomicFile::~AtomicFile() {
    if (!committed_) {
        std::error_code ec;
        fs::remove(temp_, ec);
    }
}

void AtomicFile::commit() {
    std::error_code ec;
    fs::rename(temp_, path_, ec);
    if (ec) throw IoError(cat(path_, ": cannot rename temporary file into place: ", ec.message()));
    committed_ = true;
}

std::string frame_name(long index, const std::string& ext) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%06ld", index);
    return buf + ext;
}

}  // namespace ned
