// Model files of the pipeline: where they are looked up (the models folder, else ./models) and the check of the
// whole set before any video is decoded (include/ned/pipeline/translate.hpp).
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ned/core/error.hpp"
#include "ned/core/safetensors.hpp"
#include "ned/track/landmarks.hpp"
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
    // The whole file: header, offsets and sizes (a file cut short is found here, not at render time), the
    // format, and every weight finite (a NaN FLAME would otherwise surface as a broken reconstruction after
    // the whole analysis). One file at a time, so at most one model is in memory twice.
    st::File f;
    try {
        f = st::load(path, st::Role::Model);
    } catch (const Error& e) {
        problems.push_back(cat(spec.what, " ", e.what(), "; make it with: ", spec.converter));
        return;
    }
    const std::string format = f.meta("format");
    if (format.empty()) {
        problems.push_back(cat(spec.what, " ", path, " has no __metadata__ format; make it with: ", spec.converter));
    } else if (format != spec.format) {
        problems.push_back(cat(spec.what, " ", path, " is a '", format, "' file, expected '", spec.format,
                               "'; make it with: ", spec.converter));
    } else {
        int64_t at = 0;
        const std::string bad = st::first_non_finite(f, &at);
        if (!bad.empty())
            problems.push_back(cat(spec.what, " ", path, ": tensor '", bad, "' holds a NaN or an infinity (element ",
                                   at, "); the file is damaged or comes from a diverged training run"));
    }
}

}  // namespace

ModelPaths resolve_models(const ModelSearch& s) {
    const std::string dir = s.models_dir.empty() ? std::string("models") : s.models_dir;
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
    const std::string lm = m.landmarks.empty() ? track::kDefaultLandmarkModel : m.landmarks;
    if (!fs::exists(lm))
        problems.push_back(
            cat("dlib landmark model not found: ", lm, "; install Debian's libdlib-data (docs/models.md section 6)"));
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
