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

}  // namespace

WeightMap load_tfjs_weights(const fs::path& manifest) {
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
    WeightMap out;
    try {
        for (const auto& group : j) {
            std::vector<unsigned char> buf;
            for (const auto& p : group.at("paths")) {
                auto part = read_all(manifest.parent_path() / p.get<std::string>(), manifest);
                buf.insert(buf.end(), part.begin(), part.end());
            }
            size_t offset = 0;
            for (const auto& w : group.at("weights")) {
                const std::string name = w.at("name").get<std::string>();
                const std::string dtype = w.at("dtype").get<std::string>();
                std::vector<int64_t> shape = w.at("shape").get<std::vector<int64_t>>();
                int64_t n = 1;
                for (auto d : shape) n *= d;
                const std::string where = cat(manifest.string(), ": weight '", name, "'");
                std::string qdtype;
                double scale = 1, minv = 0;
                if (w.contains("quantization")) {
                    const auto& q = w.at("quantization");
                    qdtype = q.at("dtype").get<std::string>();
                    if (qdtype == "uint8" || qdtype == "uint16") {
                        scale = q.at("scale").get<double>();
                        minv = q.at("min").get<double>();
                    } else if (qdtype != "float16") {
                        throw ModelError(cat(where, ": unsupported quantization dtype '", qdtype,
                                             "' (expected uint8, uint16 or float16)"));
                    }
                }
                const size_t elem = qdtype.empty() ? 4 : (qdtype == "uint8" ? 1 : 2);
                if (qdtype.empty() && dtype != "float32" && dtype != "int32")
                    throw ModelError(cat(where, ": unsupported dtype '", dtype, "' (expected float32 or int32)"));
                if (qdtype == "float16" && dtype != "float32")
                    throw ModelError(cat(where, ": float16 quantization of a ", dtype, " weight"));
                if (!qdtype.empty() && dtype != "float32" && dtype != "int32")
                    throw ModelError(cat(where, ": unsupported dtype '", dtype, "'"));
                const size_t bytes = size_t(n) * elem;
                if (offset + bytes > buf.size())
                    throw ModelError(cat(where, ": the shards end at byte ", buf.size(), ", the weight needs bytes ",
                                         offset, "..", offset + bytes, " (truncated or mismatched shard)"));
                const unsigned char* src = buf.data() + offset;
                offset += bytes;
                const bool is_int = dtype == "int32";
                torch::Tensor t = torch::empty(shape, is_int ? torch::kInt32 : torch::kFloat32);
                if (qdtype.empty()) {
                    std::memcpy(t.data_ptr(), src, bytes);
                } else if (qdtype == "float16") {
                    float* dst = t.data_ptr<float>();
                    for (int64_t i = 0; i < n; ++i) {
                        uint16_t h;
                        std::memcpy(&h, src + 2 * i, 2);
                        dst[i] = half_to_float(h);
                    }
                } else {
                    for (int64_t i = 0; i < n; ++i) {
                        uint32_t q = 0;
                        if (elem == 1) {
                            q = src[i];
                        } else {
                            uint16_t v;
                            std::memcpy(&v, src + 2 * i, 2);
                            q = v;
                        }
                        const double v = double(q) * scale + minv;
                        if (is_int)
                            t.data_ptr<int32_t>()[i] = int32_t(std::floor(v + 0.5));  // JS Math.round
                        else
                            t.data_ptr<float>()[i] = float(v);
                    }
                }
                if (!out.emplace(name, t).second) throw ModelError(cat(where, ": listed twice"));
            }
        }
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
        throw ModelError(cat(source.string(), ": weight '", name, "' has rank ", it->second.dim(), ", expected ",
                             rank));
    return it->second;
}

}  // namespace ned::facenet
