#include "ned/recon/reconstruction.hpp"

#include <cmath>

#include "ned/core/error.hpp"
#include "ned/core/safetensors.hpp"

namespace ned::recon {
namespace {
constexpr const char* kFormat = "ned.reconstruction";
const std::map<std::string, std::vector<int64_t>>& dims_table() {
    static const std::map<std::string, std::vector<int64_t>> t = {
        {"shape", {100}},  {"exp", {50}},     {"pose", {6}}, {"cam", {3}},
        {"detail", {128}}, {"light", {9, 3}}, {"tex", {50}}, {"tform", {3, 3}}};
    return t;
}
}  // namespace

int64_t ParamBlock::row_size() const {
    int64_t n = 1;
    for (auto d : dims) n *= d;
    return n;
}

std::vector<int64_t> known_dims(const std::string& name) {
    auto it = dims_table().find(name);
    if (it == dims_table().end()) throw Error("unknown reconstruction parameter '" + name + "'");
    return it->second;
}

bool Reconstruction::has(const std::string& name) const {
    auto it = params.find(name);
    return it != params.end() && it->second.present();
}

ParamBlock& Reconstruction::at(const std::string& name) {
    auto it = params.find(name);
    if (it == params.end() || !it->second.present())
        throw InputError(cat("reconstruction of ", source, " has no '", name, "' parameters"));
    return it->second;
}
const ParamBlock& Reconstruction::at(const std::string& name) const {
    return const_cast<Reconstruction*>(this)->at(name);
}

ParamBlock& Reconstruction::ensure(const std::string& name) {
    auto& b = params[name];
    if (!b.present()) {
        b.dims = known_dims(name);
        b.values.assign(num_frames() * b.row_size(), 0.f);
    }
    return b;
}

void save_reconstruction(const std::string& path, const Reconstruction& r) {
    st::File f;
    f.metadata = r.extra_metadata;
    f.metadata["format"] = kFormat;
    f.metadata["version"] = "1";
    f.metadata["source"] = r.source;
    f.metadata["fps"] = r.fps;
    f.metadata["frame_count"] = std::to_string(r.num_frames());
    f.metadata["method"] = r.method;
    const int64_t T = r.num_frames();
    f.tensors["valid"] = st::Tensor::u8({T}, r.valid);
    for (const auto& [name, b] : r.params) {
        if (!b.present()) continue;
        NED_CHECK(static_cast<int64_t>(b.values.size()) == T * b.row_size(), "parameter ", name, " has ",
                  b.values.size(), " values for ", T, " frames");
        std::vector<int64_t> shape{T};
        shape.insert(shape.end(), b.dims.begin(), b.dims.end());
        f.tensors[name] = st::Tensor::f32(shape, b.values);
    }
    st::save(path, f);
}

Reconstruction load_reconstruction(const std::string& path) {
    st::File f = st::load(path, st::Role::Input);
    f.require_format(kFormat, 1);
    Reconstruction r;
    for (const auto& [k, v] : f.metadata) {
        if (k == "source")
            r.source = v;
        else if (k == "fps")
            r.fps = v;
        else if (k == "method")
            r.method = v;
        else if (k != "format" && k != "version" && k != "frame_count")
            r.extra_metadata[k] = v;
    }
    const auto& valid = f.at("valid", st::DType::U8, {-1});
    const int64_t T = valid.shape[0];
    r.valid.assign(valid.ptr<uint8_t>(), valid.ptr<uint8_t>() + T);
    const std::string fc = f.meta("frame_count");
    if (!fc.empty() && fc != std::to_string(T))
        throw InputError(cat(path, ": metadata frame_count ", fc, " but 'valid' has ", T, " frames"));
    for (const auto& [name, dims] : dims_table()) {
        if (!f.has(name)) continue;
        std::vector<int64_t> shape{T};
        shape.insert(shape.end(), dims.begin(), dims.end());
        const auto& t = f.at(name, st::DType::F32, shape);
        // Finite and not absurd (the largest real values are pixel translations in tform): a NaN or a huge
        // value would poison every later stage silently.
        const int64_t row = T > 0 ? t.numel() / T : 0;
        const float* p = t.ptr<float>();
        for (int64_t i = 0; i < T; ++i)
            for (int64_t k = 0; k < row; ++k)
                if (!std::isfinite(p[i * row + k]) || std::fabs(p[i * row + k]) > 1e6f)
                    throw InputError(cat(path, ": tensor '", name, "' frame ", i, ": value ", p[i * row + k],
                                         " (expected finite values within +-1e6)"));
        ParamBlock b;
        b.dims = dims;
        b.values.assign(t.ptr<float>(), t.ptr<float>() + t.numel());
        r.params[name] = std::move(b);
    }
    return r;
}

}  // namespace ned::recon
