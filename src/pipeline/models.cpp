// Model files of the pipeline: where they are looked up (--models, $NED_MODELS, ./models) and the check of the
// whole set before any video is decoded (include/ned/pipeline/translate.hpp).
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ned/core/error.hpp"
#include "ned/detect/landmarks.hpp"
#include "ned/pipeline/translate.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace ned::pipeline {
namespace {

struct ModelSpec {
    const char* what;
    const char* format;
    const char* converter;  // docs/models.md
};

const ModelSpec kFlame{"FLAME asset", "ned.flame",
                       "python3 scripts/convert_flame.py --flame generic_model.pkl --deca-data DECA/data --out "
                       "models/flame.safetensors (docs/models.md section 1)"};
const ModelSpec kDeca{"DECA weights", "ned.deca",
                      "python3 scripts/convert_deca.py --deca deca_model.tar --out models/deca.safetensors "
                      "(docs/models.md section 2)"};
const ModelSpec kManipulator{"manipulator checkpoint", "ned.manipulator",
                             "python3 scripts/convert_ned_manipulator.py 02_nets_finetuned.pth "
                             "models/manipulator.safetensors (docs/models.md section 4), or `ned train-manipulator`"};
const ModelSpec kSegmentation{"segmentation U-Net", "ned.fsgan_unet",
                              "python3 scripts/convert_fsgan_unet.py --checkpoint "
                              "lfw_figaro_unet_256_2_0_segmentation_v1.pth --out models/unet.safetensors "
                              "(docs/models.md section 5)"};
const ModelSpec kRenderer{"renderer checkpoint", "ned.renderer",
                          "`ned train-renderer`, or python3 scripts/convert_ned_renderer.py 20_net_G.pth "
                          "models/<actor>_renderer.safetensors (docs/models.md section 7)"};

/// The `format` of a safetensors file's __metadata__, reading only its header. Empty string plus `why`
/// when the file is not a readable safetensors file.
std::string safetensors_format(const std::string& path, std::string& why) {
    std::ifstream is(path, std::ios::binary);
    if (!is) {
        why = "cannot be opened";
        return {};
    }
    unsigned char len_bytes[8];
    if (!is.read(reinterpret_cast<char*>(len_bytes), 8)) {
        why = "is too short for a safetensors file";
        return {};
    }
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | len_bytes[i];
    std::error_code ec;
    const auto size = fs::file_size(path, ec);
    if (ec || n == 0 || n > 100000000ULL || n + 8 > size) {
        why = "is not a safetensors file (bad header length)";
        return {};
    }
    std::string header(static_cast<size_t>(n), '\0');
    if (!is.read(header.data(), static_cast<std::streamsize>(n))) {
        why = "is truncated";
        return {};
    }
    try {
        const json j = json::parse(header);
        if (j.contains("__metadata__") && j["__metadata__"].contains("format") &&
            j["__metadata__"]["format"].is_string())
            return j["__metadata__"]["format"].get<std::string>();
        why = "has no __metadata__ format";
    } catch (const std::exception&) {
        why = "is not a safetensors file (header is not JSON)";
    }
    return {};
}

void check_model(const std::string& path, const ModelSpec& spec, std::vector<std::string>& problems) {
    if (path.empty() || !fs::exists(path)) {
        problems.push_back(cat(spec.what, " not found: ", path.empty() ? std::string("(no path)") : path,
                               "; make it with: ", spec.converter));
        return;
    }
    if (!fs::is_regular_file(path)) {
        problems.push_back(cat(spec.what, " ", path, " is not a regular file"));
        return;
    }
    std::string why;
    const std::string format = safetensors_format(path, why);
    if (format.empty())
        problems.push_back(cat(spec.what, " ", path, " ", why, "; make it with: ", spec.converter));
    else if (format != spec.format)
        problems.push_back(cat(spec.what, " ", path, " is a '", format, "' file, expected '", spec.format,
                               "'; make it with: ", spec.converter));
}

}  // namespace

ModelPaths resolve_models(const ModelSearch& s) {
    std::string dir = s.models_dir;
    if (dir.empty()) {
        const char* env = std::getenv("NED_MODELS");
        dir = env && *env ? env : "models";
    }
    auto in_dir = [&](const char* name) { return (fs::path(dir) / name).string(); };
    ModelPaths m;
    m.flame = s.flame.empty() ? in_dir("flame.safetensors") : s.flame;
    m.manipulator = s.manipulator.empty() ? in_dir("manipulator.safetensors") : s.manipulator;
    m.renderer = s.renderer;
    if (!s.deca.empty())
        m.deca = s.deca;
    else if (fs::exists(in_dir("deca.safetensors")))
        m.deca = in_dir("deca.safetensors");
    if (!s.segmentation.empty())
        m.segmentation = s.segmentation;
    else if (fs::exists(in_dir("unet.safetensors")))
        m.segmentation = in_dir("unet.safetensors");
    return m;
}

namespace {
/// Every model file of the set is checked before anything is decoded; all problems are named in one ModelError.
void check_model_set(const ModelPaths& m, bool need_manipulator, bool need_renderer) {
    std::vector<std::string> problems;
    check_model(m.flame, kFlame, problems);
    if (!m.deca.empty()) check_model(m.deca, kDeca, problems);
    if (need_manipulator) check_model(m.manipulator, kManipulator, problems);
    if (!m.segmentation.empty()) check_model(m.segmentation, kSegmentation, problems);
    if (need_renderer) check_model(m.renderer, kRenderer, problems);
    const std::string lm = m.landmarks.empty() ? detect::kDefaultLandmarkModel : m.landmarks;
    if (!fs::exists(lm))
        problems.push_back(cat("dlib landmark model not found: ", lm, "; install Debian's libdlib-data (docs/models.md section 6)"));
    if (problems.empty()) return;
    std::string msg = problems.size() == 1 ? problems[0] : cat(problems.size(), " model files are missing or invalid:");
    if (problems.size() > 1)
        for (const auto& p : problems) msg += "\n  " + p;
    throw ModelError(msg);
}
}  // namespace

void check_reconstruction_models(const ModelPaths& m) { check_model_set(m, false, false); }

void check_models(const ModelPaths& m, bool need_renderer) { check_model_set(m, true, need_renderer); }

}  // namespace ned::pipeline
