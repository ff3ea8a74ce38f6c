// The output folder of a training run: see include/ned/training/run_folder.hpp.
#include "ned/training/run_folder.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <system_error>

#include "ned/core/error.hpp"

namespace ned::training {
namespace fs = std::filesystem;

RunFolder::RunFolder(fs::path dir, std::string tag, bool main_rank)
    : dir_(std::move(dir)), tag_(std::move(tag)), main_(main_rank) {
    std::error_code ec;
    existed_ = main_ && fs::exists(fs::symlink_status(dir_, ec));
}

RunFolder::~RunFolder() {
    std::error_code ec;
    if (remove_if_empty_ && fs::is_empty(dir_, ec)) fs::remove(dir_, ec);
}

void RunFolder::check_usable() const {
    if (!main_) return;  // other ranks never touch the folder
    const std::string d = dir_.string();
    std::error_code ec;
    if (!existed_) {
        const fs::path parent = dir_.parent_path().empty() ? fs::path(".") : dir_.parent_path();
        if (!fs::is_directory(parent, ec))
            throw InputError(cat(tag_, "--out ", d, ": parent folder ", parent.string(), " does not exist"));
        if (::access(parent.c_str(), W_OK | X_OK) != 0)
            throw InputError(
                cat(tag_, "--out ", d, ": cannot be created in ", parent.string(), " (", std::strerror(errno), ")"));
    } else if (!fs::is_directory(dir_, ec)) {
        throw InputError(cat(tag_, "--out ", d, ": exists and is not a folder (expected the output folder)"));
    } else if (::access(dir_.c_str(), W_OK | X_OK) != 0) {
        throw InputError(cat(tag_, "--out ", d, ": the folder is not writable (", std::strerror(errno), ")"));
    }
}

void RunFolder::create(const std::string& sub) {
    if (!main_) return;
    const fs::path target = sub.empty() ? dir_ : dir_ / sub;
    std::error_code ec;
    fs::create_directories(target, ec);
    if (!ec) return;
    const std::string msg = cat(tag_, "--out ", dir_.string(), ": cannot create ",
                                sub.empty() ? std::string("the folder") : target.string(), " (", ec.message(), ")");
    if (ec == std::errc::no_space_on_device) throw IoError(msg);
    throw InputError(msg);
}

void RunFolder::remove_if_left_empty() { remove_if_empty_ = main_ && !existed_; }

void RunFolder::clear_previous_run(const std::function<bool(const std::string& name)>& belongs,
                                   const std::vector<std::string>& emptied) {
    if (!main_) return;
    std::vector<fs::path> stale;
    auto collect = [&](const fs::path& folder, bool all) {
        std::error_code ec;
        for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec))
            if (all || belongs(it->path().filename().string())) stale.push_back(it->path());
        if (ec && ec != std::errc::no_such_file_or_directory)
            throw IoError(
                cat(tag_, "--out ", dir_.string(), ": cannot list ", folder.string(), " (", ec.message(), ")"));
    };
    collect(dir_, false);
    for (const std::string& sub : emptied) collect(dir_ / sub, true);
    std::error_code ec;
    for (const fs::path& p : stale) {
        fs::remove(p, ec);
        if (ec)
            throw IoError(cat(tag_, "--out ", dir_.string(), ": cannot remove ", p.string(), " of the previous run (",
                              ec.message(), ")"));
    }
}

void RunFolder::append_losses(const nlohmann::json& line) const {
    if (!main_) return;
    const fs::path path = file("losses.jsonl");
    std::ofstream os(path, std::ios::app);
    os << line.dump() << "\n";
    os.flush();  // a full disk shows here, not when the stream is closed unchecked
    if (!os) throw IoError(cat(tag_, "could not write ", path.string()));
}

}  // namespace ned::training
