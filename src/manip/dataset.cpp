#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include "manip/internal.hpp"
#include "ned/core/error.hpp"
#include "ned/core/log.hpp"
#include "ned/manip/manipulate.hpp"
#include "ned/manip/train.hpp"
#include "ned/recon/reconstruction.hpp"

namespace ned::manip {
namespace fs = std::filesystem;

namespace {
std::string trim(std::string s) {
    s.erase(0, s.find_first_not_of(" \t\r\n"));
    s.erase(s.find_last_not_of(" \t\r\n") + 1);
    return s;
}
}  // namespace

std::vector<LabeledFile> list_dataset(const std::string& dataset) {
    std::vector<LabeledFile> out;
    std::error_code ec;
    if (fs::is_directory(dataset, ec)) {
        std::vector<fs::path> dirs;
        for (const auto& e : fs::directory_iterator(dataset)) dirs.push_back(e.path());
        std::sort(dirs.begin(), dirs.end());
        for (const auto& d : dirs) {
            if (!fs::is_directory(d)) continue;
            int label = -1;
            try {
                label = emotion_index(d.filename().string());
            } catch (const InputError&) {
                NED_LOG_WARN("[manip] {}: not one of NED's emotions; skipped", d.string());
                continue;
            }
            for (const auto& f : fs::directory_iterator(d))
                if (f.is_regular_file() && f.path().extension() == ".safetensors")
                    out.push_back({f.path().string(), label});
        }
    } else if (fs::is_regular_file(dataset, ec)) {
        std::ifstream in(dataset);
        if (!in) throw InputError(cat(dataset, ": cannot read the dataset manifest"));
        const fs::path base = fs::path(dataset).parent_path();
        std::string line;
        int lineno = 0;
        while (std::getline(in, line)) {
            ++lineno;
            line = trim(line);
            if (line.empty() || line[0] == '#') continue;
            const auto comma = line.rfind(',');
            if (comma == std::string::npos)
                throw InputError(cat(dataset, ":", lineno, ": expected 'path,emotion', got '", line, "'"));
            const std::string path = trim(line.substr(0, comma)), emo = trim(line.substr(comma + 1));
            if (lineno == 1 && path == "path" && emo == "emotion") continue;
            int label = 0;
            try {
                label = emotion_index(emo);
            } catch (const InputError& e) {
                throw InputError(cat(dataset, ":", lineno, ": ", e.what()));
            }
            fs::path p(path);
            if (p.is_relative()) p = base / p;
            if (!fs::is_regular_file(p)) throw InputError(cat(dataset, ":", lineno, ": no such file ", p.string()));
            out.push_back({p.string(), label});
        }
    } else {
        throw InputError(cat("dataset ", dataset, " is neither a folder nor a CSV manifest"));
    }
    std::sort(out.begin(), out.end(), [](const LabeledFile& a, const LabeledFile& b) { return a.path < b.path; });
    if (out.empty())
        throw InputError(cat("dataset ", dataset,
                             ": no reconstruction files found (expected DATASET/<emotion>/*.safetensors or a "
                             "CSV manifest 'path,emotion')"));
    return out;
}

WindowSet load_windows(const std::vector<LabeledFile>& files) {
    WindowSet ws;
    std::vector<float> all;
    int64_t rows = 0;
    for (const auto& f : files) {
        const auto r = recon::load_reconstruction(f.path);
        const auto x = manipulator_inputs(r);
        for (const auto& run : valid_runs(r.valid)) {
            if (run.len < kSeqLen) continue;
            all.insert(all.end(), x.begin() + run.start * kNumCoeffs, x.begin() + (run.start + run.len) * kNumCoeffs);
            for (int64_t i = 0; i + kSeqLen <= run.len; ++i) {
                ws.starts.push_back(rows + i);
                ws.labels.push_back(f.label);
            }
            rows += run.len;
        }
    }
    ws.frames = torch::from_blob(all.data(), {rows, kNumCoeffs}, torch::kFloat32).clone();
    return ws;
}

void split_files(const std::vector<LabeledFile>& files, double val_fraction, uint64_t seed,
                 std::vector<LabeledFile>& train, std::vector<LabeledFile>& val) {
    std::mt19937_64 rng(seed);
    std::vector<size_t> order(files.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng() % i]);
    size_t n_val = static_cast<size_t>(std::round(val_fraction * files.size()));
    if (val_fraction > 0 && n_val == 0 && files.size() >= 2) n_val = 1;
    if (n_val >= files.size()) n_val = files.size() - 1;
    std::vector<bool> is_val(files.size(), false);
    for (size_t i = 0; i < n_val; ++i) is_val[order[i]] = true;
    for (size_t i = 0; i < files.size(); ++i) (is_val[i] ? val : train).push_back(files[i]);
}

int64_t flat_jaw_windows(const WindowSet& ws) {
    const torch::Tensor jaw = ws.frames.select(1, 0).contiguous();
    const float* j = jaw.data_ptr<float>();
    int64_t flat = 0;
    for (const int64_t s0 : ws.starts) {
        const auto [lo, hi] = std::minmax_element(j + s0, j + s0 + kSeqLen);
        flat += *lo == *hi;
    }
    return flat;
}

torch::Tensor WindowSet::windows(const std::vector<int64_t>& idx) const {
    std::vector<int64_t> rows;
    rows.reserve(idx.size() * kSeqLen);
    for (auto i : idx)
        for (int t = 0; t < kSeqLen; ++t) rows.push_back(starts[i] + t);
    auto r = torch::tensor(rows, torch::kLong);
    return frames.index_select(0, r).view({static_cast<int64_t>(idx.size()), kSeqLen, kNumCoeffs});
}

torch::Tensor WindowSet::label_tensor(const std::vector<int64_t>& idx) const {
    std::vector<int64_t> l;
    l.reserve(idx.size());
    for (auto i : idx) l.push_back(labels[i]);
    return torch::tensor(l, torch::kLong);
}

}  // namespace ned::manip
