#include "ned/facenet/tfjs_weights.hpp"

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

#include <nlohmann/json.hpp>

#include "ned/core/error.hpp"

namespace ned::facenet {

namespace fs = std::filesystem;

namespace {

std::vector<unsigned char> read_all(const fs::path& file, const fs::path& manifest) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw ModelError(cat(file.string(), ": cannot read the weight shard named by ", manifest.string()));
    return std::vector<unsigned char>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// IEEE 754 binary16 -> binary32, exact for every value (normal, subnormal, inf, nan).
float half_to_float(uint16_t h) {
    const uint32_t sign = uint32_t(h >> 15) << 31;
    const uint32_t exp = (h >> 10) & 0x1f;
    const uint32_t man = h & 0x3ff;
    float f;
    if (exp == 0) {
        f = std::ldexp(float(man), -24);  // zero or subnormal: man * 2^-24
        return sign ? -f : f;
    }
    uint32_t bits = exp == 31 ? (sign | 0x7f800000u | (man << 13)) : (sign | ((exp + 112) << 23) | (man << 13));
    std::memcpy(&f, &bits, 4);
    return f;
}

/// The manifest's JSON array of weight groups (of a graph model's model.json: its weightsManifest).
nlohmann::json read_manifest(const fs::path& manifest) {
    std::ifstream in(manifest);
    if (!in)
        throw ModelError(cat(manifest.string(), ": cannot read the TF.js weights manifest (expected face-api's ",
                             "*-weights_manifest.json; see docs/models.md)"));
    nlohmann::json j;
    try {
        in >> j;
    } catch (const std::exception& e) {
        throw ModelError(cat(manifest.string(), ": not a JSON weights manifest: ", e.what()));
    }
    if (j.is_object() && j.contains("weightsManifest")) j = j.at("weightsManifest");  // a graph model's model.json
    if (!j.is_array())
        throw ModelError(cat(manifest.string(), ": expected a JSON array of weight groups (or a model.json with ",
                             "weightsManifest)"));
    return j;
}

/// A weight group's shards, concatenated.
std::vector<unsigned char> read_shards(const nlohmann::json& group, const fs::path& manifest) {
    std::vector<unsigned char> buf;
    for (const auto& p : group.at("paths")) {
        auto part = read_all(manifest.parent_path() / p.get<std::string>(), manifest);
        buf.insert(buf.end(), part.begin(), part.end());
    }
    return buf;
}

/// How a weight is stored: its dtype, and the quantization (empty qdtype: none).
struct Storage {
    std::string dtype, qdtype;
    double scale = 1, minv = 0;
    size_t elem = 4;  ///< bytes per stored value
};

/// The storage of the manifest entry `w` of type `dtype`; ModelError (prefixed by `where`) when tfjs-core could not
/// decode it.
Storage storage_of(const nlohmann::json& w, const std::string& dtype, const std::string& where) {
    Storage s;
    s.dtype = dtype;
    if (w.contains("quantization")) {
        const auto& q = w.at("quantization");
        s.qdtype = q.at("dtype").get<std::string>();
        if (s.qdtype == "uint8" || s.qdtype == "uint16") {
            s.scale = q.at("scale").get<double>();
            s.minv = q.at("min").get<double>();
        } else if (s.qdtype != "float16") {
            throw ModelError(
                cat(where, ": unsupported quantization dtype '", s.qdtype, "' (expected uint8, uint16 or float16)"));
        }
    }
    s.elem = s.qdtype.empty() ? 4 : (s.qdtype == "uint8" ? 1 : 2);
    if (s.qdtype.empty() && s.dtype != "float32" && s.dtype != "int32")
        throw ModelError(cat(where, ": unsupported dtype '", s.dtype, "' (expected float32 or int32)"));
    if (s.qdtype == "float16" && s.dtype != "float32")
        throw ModelError(cat(where, ": float16 quantization of a ", s.dtype, " weight"));
    if (!s.qdtype.empty() && s.dtype != "float32" && s.dtype != "int32")
        throw ModelError(cat(where, ": unsupported dtype '", s.dtype, "'"));
    return s;
}

/// n values stored as `s` at `src`, decoded as tfjs-core's io.decodeWeights.
torch::Tensor decode(const Storage& s, const std::vector<int64_t>& shape, int64_t n, const unsigned char* src) {
    const bool is_int = s.dtype == "int32";
    torch::Tensor t = torch::empty(shape, is_int ? torch::kInt32 : torch::kFloat32);
    if (s.qdtype.empty()) {
        std::memcpy(t.data_ptr(), src, size_t(n) * s.elem);
    } else if (s.qdtype == "float16") {
        float* dst = t.data_ptr<float>();
        for (int64_t i = 0; i < n; ++i) {
            uint16_t h;
            std::memcpy(&h, src + 2 * i, 2);
            dst[i] = half_to_float(h);
        }
    } else {
        for (int64_t i = 0; i < n; ++i) {
            uint32_t q = 0;
            if (s.elem == 1) {
                q = src[i];
            } else {
                uint16_t v;
                std::memcpy(&v, src + 2 * i, 2);
                q = v;
            }
            const double v = double(q) * s.scale + s.minv;
            if (is_int)
                t.data_ptr<int32_t>()[i] = int32_t(std::floor(v + 0.5));  // JS Math.round
            else
                t.data_ptr<float>()[i] = float(v);
        }
    }
    return t;
}

/// The weights of one group, added to `out`.
void read_group(const nlohmann::json& group, const fs::path& manifest, WeightMap& out) {
    const std::vector<unsigned char> buf = read_shards(group, manifest);
    size_t offset = 0;
    for (const auto& w : group.at("weights")) {
        const std::string name = w.at("name").get<std::string>();
        const std::string dtype = w.at("dtype").get<std::string>();
        const std::vector<int64_t> shape = w.at("shape").get<std::vector<int64_t>>();
        int64_t n = 1;
        for (auto d : shape) n *= d;
        const std::string where = cat(manifest.string(), ": weight '", name, "'");
        const Storage s = storage_of(w, dtype, where);
        const size_t bytes = size_t(n) * s.elem;
        if (offset + bytes > buf.size())
            throw ModelError(cat(where, ": the shards end at byte ", buf.size(), ", the weight needs bytes ", offset,
                                 "..", offset + bytes, " (truncated or mismatched shard)"));
        const torch::Tensor t = decode(s, shape, n, buf.data() + offset);
        offset += bytes;
        if (!out.emplace(name, t).second) throw ModelError(cat(where, ": listed twice"));
    }
}

}  // namespace

WeightMap load_tfjs_weights(const fs::path& manifest) {
    const nlohmann::json j = read_manifest(manifest);
    WeightMap out;
    try {
        for (const auto& group : j) read_group(group, manifest, out);
    } catch (const nlohmann::json::exception& e) {
        throw ModelError(cat(manifest.string(), ": malformed weights manifest: ", e.what()));
    }
    return out;
}

const torch::Tensor& weight(const WeightMap& weights, const std::string& name, int rank, const fs::path& source) {
    auto it = weights.find(name);
    if (it == weights.end())
        throw ModelError(cat(source.string(), ": weight '", name, "' is missing (not the expected face-api model?)"));
    if (rank >= 0 && it->second.dim() != rank)
        throw ModelError(
            cat(source.string(), ": weight '", name, "' has rank ", it->second.dim(), ", expected ", rank));
    return it->second;
}

}  // namespace ned::facenet
