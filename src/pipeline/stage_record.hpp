#pragma once
// Stage records of the pipeline's work folder (private to ned_pipeline).
//
// WORK/stages/<stage>.json = {"format": "ned.stage", "version": 1, "stage", "key", "inputs", "wall_s",
// "frames", "ned_version"}. The key is FNV-1a 64 of the canonical dump of "inputs" plus the stage name, so
// two runs with the same inputs agree and any change of an input, option or model file gives a new key.
// A record is written only after the stage's outputs, atomically (temporary name, rename): a killed stage
// has no record and runs again. The record of a stage is removed before the stage starts.
#include <nlohmann/json.hpp>

#include <functional>
#include <string>

namespace ned::pipeline {

/// FNV-1a 64 of `s`, as 16 hex digits.
std::string hash_hex(const std::string& s);

/// Identity of a file: absolute path, size and modification time (ns); {"path": p, "missing": true} when
/// absent. Empty path -> null.
nlohmann::json file_identity(const std::string& path);

/// The key of a stage: hash of name + inputs.dump().
std::string stage_key(const std::string& stage, const nlohmann::json& inputs);

struct StageOutcome {
    bool skipped = false;
    double wall_s = 0;
    long frames = 0;
    std::string key;
};

class StageRecords {
public:
    explicit StageRecords(std::string work_dir);
    /// The record path of `stage`.
    std::string path(const std::string& stage) const;
    /// True when `stage`'s record exists and holds `key`.
    bool finished(const std::string& stage, const std::string& key) const;
    /// Run `body` (returns the number of frames handled) unless `stage` is finished with the key of
    /// `inputs`; then write the record. `always` runs the body even when finished.
    StageOutcome run(const std::string& stage, const nlohmann::json& inputs, const std::function<long()>& body,
                     bool always = false);
    /// The parsed record of `stage` (null when absent or unreadable).
    nlohmann::json read(const std::string& stage) const;

private:
    std::string dir_;
};

}  // namespace ned::pipeline
