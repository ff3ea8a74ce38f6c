#include "pipeline/stage_record.hpp"

#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "ned/core/error.hpp"
#include "ned/core/log.hpp"

namespace fs = std::filesystem;

namespace ned::pipeline {

std::string hash_hex(const std::string& s) {
    uint64_t h = 14695981039346656037ULL;  // FNV-1a 64 offset basis
    for (unsigned char c : s) {
        h ^= c;
        h *= 1099511628211ULL;
    }
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    return buf;
}

nlohmann::json file_identity(const std::string& path) {
    if (path.empty()) return nullptr;
    std::error_code ec;
    const std::string abs = fs::absolute(path, ec).lexically_normal().string();
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return {{"path", abs}, {"missing", true}};
    const long long mtime_ns = static_cast<long long>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec;
    return {{"path", abs}, {"size", static_cast<long long>(st.st_size)}, {"mtime_ns", mtime_ns}};
}

std::string stage_key(const std::string& stage, const nlohmann::json& inputs) {
    return hash_hex(stage + "\n" + inputs.dump());
}

StageRecords::StageRecords(std::string work_dir) : dir_((fs::path(work_dir) / "stages").string()) {
    fs::create_directories(dir_);
}

std::string StageRecords::path(const std::string& stage) const { return dir_ + "/" + stage + ".json"; }

nlohmann::json StageRecords::read(const std::string& stage) const {
    std::ifstream is(path(stage));
    if (!is) return nullptr;
    try {
        return nlohmann::json::parse(is);
    } catch (const std::exception&) {
        return nullptr;
    }
}

bool StageRecords::finished(const std::string& stage, const std::string& key) const {
    const nlohmann::json r = read(stage);
    // A record edited by hand (or damaged) with the right key but a non-string format / key or a non-integer
    // "frames" is not a finished stage: it is re-run, never an internal json type error.
    if (!r.is_object()) return false;
    const auto f = r.find("format"), k = r.find("key"), n = r.find("frames");
    return f != r.end() && f->is_string() && *f == "ned.stage" && k != r.end() && k->is_string() && *k == key &&
           (n == r.end() || n->is_number_integer());
}

StageOutcome StageRecords::run(const std::string& stage, const nlohmann::json& inputs,
                               const std::function<long()>& body, bool always) {
    StageOutcome out;
    out.key = stage_key(stage, inputs);
    if (!always && finished(stage, out.key)) {
        out.skipped = true;
        out.frames = read(stage).value("frames", 0L);
        NED_LOG_INFO("[translate] {}: finished earlier with the same inputs (key {}), skipped", stage, out.key);
        return out;
    }
    std::error_code ec;
    fs::remove(path(stage), ec);  // a stale record never survives a started stage
    const auto t0 = std::chrono::steady_clock::now();
    out.frames = body();
    out.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    nlohmann::json rec = {
        {"format", "ned.stage"}, {"version", 1},         {"stage", stage},       {"key", out.key},
        {"inputs", inputs},      {"wall_s", out.wall_s}, {"frames", out.frames}, {"ned_version", NED_VERSION}};
    const std::string final_path = path(stage), tmp = final_path + ".tmp";
    {
        std::ofstream os(tmp, std::ios::trunc);
        os << rec.dump(2) << "\n";
        os.flush();
        if (!os) throw IoError(cat("cannot write the stage record ", tmp));
    }
    fs::rename(tmp, final_path, ec);
    if (ec) throw IoError(cat("cannot rename ", tmp, " to ", final_path, ": ", ec.message()));
    return out;
}

}  // namespace ned::pipeline
