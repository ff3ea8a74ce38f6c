#include "ned/core/safetensors.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "ned/core/error.hpp"
#include "ned/core/fs_util.hpp"

namespace ned::st {
namespace {
struct DTypeInfo {
    DType d;
    const char* name;
    size_t size;
};
constexpr DTypeInfo kTypes[] = {
    {DType::F32, "F32", 4}, {DType::F64, "F64", 8},   {DType::F16, "F16", 2}, {DType::BF16, "BF16", 2},
    {DType::I64, "I64", 8}, {DType::I32, "I32", 4},   {DType::I16, "I16", 2}, {DType::I8, "I8", 1},
    {DType::U8, "U8", 1},   {DType::BOOL, "BOOL", 1},
};

[[noreturn]] void fail(Role role, const std::string& msg) {
    if (role == Role::Model) throw ModelError(msg);
    throw InputError(msg);
}
}  // namespace

const char* dtype_name(DType d) {
    for (const auto& t : kTypes)
        if (t.d == d) return t.name;
    return "?";
}
size_t dtype_size(DType d) {
    for (const auto& t : kTypes)
        if (t.d == d) return t.size;
    return 0;
}
DType dtype_from_name(const std::string& name) {
    for (const auto& t : kTypes)
        if (name == t.name) return t.d;
    throw Error("unknown safetensors dtype '" + name + "'");
}

bool checked_byte_size(const std::vector<int64_t>& shape, size_t elem_size, uint64_t& bytes) {
    uint64_t n = 1;
    for (int64_t d : shape) {
        if (d < 0) return false;
        if (__builtin_mul_overflow(n, static_cast<uint64_t>(d), &n)) return false;
    }
    if (__builtin_mul_overflow(n, static_cast<uint64_t>(elem_size), &n)) return false;
    if (n > static_cast<uint64_t>(INT64_MAX)) return false;
    bytes = n;
    return true;
}

int64_t Tensor::numel() const {
    uint64_t n = 0;
    if (!checked_byte_size(shape, 1, n)) throw Error(cat("tensor shape ", shape_str(), " has no valid element count"));
    return static_cast<int64_t>(n);
}
std::string Tensor::shape_str() const {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
    return s + "]";
}

namespace {
template <typename T>
Tensor make(DType dt, std::vector<int64_t> shape, const std::vector<T>& values) {
    Tensor t;
    t.dtype = dt;
    t.shape = std::move(shape);
    NED_CHECK(t.numel() == static_cast<int64_t>(values.size()), "tensor shape ", t.shape_str(), " vs ", values.size(),
              " values");
    t.data.resize(values.size() * sizeof(T));
    if (!values.empty()) std::memcpy(t.data.data(), values.data(), t.data.size());
    return t;
}
}  // namespace
Tensor Tensor::f32(std::vector<int64_t> shape, const std::vector<float>& v) { return make(DType::F32, shape, v); }
Tensor Tensor::i64(std::vector<int64_t> shape, const std::vector<int64_t>& v) { return make(DType::I64, shape, v); }
Tensor Tensor::u8(std::vector<int64_t> shape, const std::vector<uint8_t>& v) { return make(DType::U8, shape, v); }

const Tensor& File::at(const std::string& name) const {
    auto it = tensors.find(name);
    if (it == tensors.end())
        throw InputError(cat(path.empty() ? "safetensors data" : path, ": missing tensor '", name, "'"));
    return it->second;
}

const Tensor& File::at(const std::string& name, DType dt, const std::vector<int64_t>& shape) const {
    const Tensor& t = at(name);
    bool ok = t.dtype == dt && t.shape.size() == shape.size();
    for (size_t i = 0; ok && i < shape.size(); ++i) ok = shape[i] < 0 || shape[i] == t.shape[i];
    if (!ok) {
        Tensor want;
        want.shape = shape;
        throw InputError(cat(path, ": tensor '", name, "' is ", dtype_name(t.dtype), t.shape_str(), ", expected ",
                             dtype_name(dt), want.shape_str(), " (-1 = any)"));
    }
    return t;
}

std::vector<float> File::floats(const std::string& name) const {
    const Tensor& t = at(name);
    if (t.dtype != DType::F32)
        throw InputError(cat(path, ": tensor '", name, "' is ", dtype_name(t.dtype), ", expected F32"));
    return std::vector<float>(t.ptr<float>(), t.ptr<float>() + t.numel());
}

std::string File::meta(const std::string& key, const std::string& fallback) const {
    auto it = metadata.find(key);
    return it == metadata.end() ? fallback : it->second;
}

void File::require_format(const std::string& format, int max_version) const {
    std::string f = meta("format");
    if (f != format)
        throw InputError(cat(path, ": expected a '", format, "' file, found format '", f.empty() ? "(none)" : f, "'"));
    int v = 0;
    try {
        v = std::stoi(meta("version", "0"));
    } catch (...) {
        v = 0;
    }
    if (v < 1 || v > max_version)
        throw InputError(cat(path, ": unsupported ", format, " version '", meta("version"), "' (this ned reads 1..",
                             max_version, ")"));
}

std::vector<uint8_t> serialize(const File& file) {
    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    if (!file.metadata.empty()) {
        nlohmann::ordered_json m = nlohmann::ordered_json::object();
        for (const auto& [k, v] : file.metadata) m[k] = v;
        header["__metadata__"] = m;
    }
    size_t offset = 0;
    for (const auto& [name, t] : file.tensors) {
        NED_CHECK(t.data.size() == static_cast<size_t>(t.numel()) * dtype_size(t.dtype), "tensor ", name,
                  " byte size mismatch");
        header[name] = {
            {"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.data.size()}}};
        offset += t.data.size();
    }
    std::string hs = header.dump();
    while ((hs.size() + 8) % 8) hs.push_back(' ');  // align data start to 8 bytes
    std::vector<uint8_t> out(8 + hs.size() + offset);
    uint64_t n = hs.size();
    for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(n >> (8 * i));
    std::memcpy(out.data() + 8, hs.data(), hs.size());
    size_t pos = 8 + hs.size();
    for (const auto& [name, t] : file.tensors) {
        if (!t.data.empty()) std::memcpy(out.data() + pos, t.data.data(), t.data.size());
        pos += t.data.size();
    }
    return out;
}

File parse(const std::vector<uint8_t>& bytes, const std::string& what, Role role) {
    File f;
    f.path = what;
    if (bytes.size() < 8) fail(role, what + ": not a safetensors file (shorter than 8 bytes)");
    uint64_t n = 0;
    for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(bytes[i]) << (8 * i);
    if (n == 0 || n > bytes.size() - 8) fail(role, what + ": not a safetensors file (bad header length)");
    nlohmann::json header;
    try {
        header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<std::ptrdiff_t>(n));
    } catch (const std::exception& e) {
        fail(role, what + ": not a safetensors file (header is not JSON: " + e.what() + ")");
    }
    if (!header.is_object()) fail(role, what + ": safetensors header is not a JSON object");
    const size_t data_start = 8 + n;
    const size_t data_size = bytes.size() - data_start;
    try {
        for (auto it = header.begin(); it != header.end(); ++it) {
            if (it.key() == "__metadata__") {
                for (auto m = it.value().begin(); m != it.value().end(); ++m)
                    f.metadata[m.key()] = m.value().is_string() ? m.value().get<std::string>() : m.value().dump();
                continue;
            }
            Tensor t;
            const std::string dt = it.value().at("dtype").get<std::string>();
            bool known = false;
            for (const auto& k : kTypes)
                if (dt == k.name) t.dtype = k.d, known = true;
            if (!known) fail(role, cat(what, ": tensor '", it.key(), "' has an unknown dtype '", dt, "'"));
            const auto& js = it.value().at("shape");
            if (!js.is_array() || js.size() > 16)
                fail(role, cat(what, ": tensor '", it.key(),
                               "' has a malformed shape (expected a list of at most 16 sizes)"));
            for (const auto& d : js) {
                if (!d.is_number_integer() || (d.is_number_unsigned() && d.get<uint64_t>() > uint64_t(INT64_MAX)) ||
                    d.get<int64_t>() < 0)
                    fail(role, cat(what, ": tensor '", it.key(), "' has an invalid dimension ", d.dump(),
                                   " (expected an integer >= 0)"));
                t.shape.push_back(d.get<int64_t>());
            }
            uint64_t nbytes = 0;
            if (!checked_byte_size(t.shape, dtype_size(t.dtype), nbytes))
                fail(role, cat(what, ": tensor '", it.key(), "' of shape ", t.shape_str(), " is too large"));
            const auto& jo = it.value().at("data_offsets");
            if (!jo.is_array() || jo.size() != 2 || !jo[0].is_number_unsigned() || !jo[1].is_number_unsigned())
                fail(role, cat(what, ": tensor '", it.key(), "' has malformed data offsets (expected [begin, end])"));
            const uint64_t off[2] = {jo[0].get<uint64_t>(), jo[1].get<uint64_t>()};
            if (off[0] > off[1] || off[1] > data_size)
                fail(role, cat(what, ": tensor '", it.key(), "' has data offsets [", off[0], ", ", off[1],
                               "] outside the ", data_size, " data bytes"));
            if (off[1] - off[0] != nbytes)
                fail(role, cat(what, ": tensor '", it.key(), "' has ", off[1] - off[0], " data bytes, expected ",
                               nbytes, " for ", dtype_name(t.dtype), t.shape_str()));
            t.data.assign(bytes.begin() + data_start + off[0], bytes.begin() + data_start + off[1]);
            f.tensors.emplace(it.key(), std::move(t));
        }
    } catch (const ned::Error&) {
        throw;
    } catch (const std::exception& e) {
        fail(role, what + ": malformed safetensors header: " + e.what());
    }
    return f;
}

std::string first_non_finite(const File& file, int64_t* index) {
    for (const auto& [name, t] : file.tensors) {
        const int64_t n = t.numel();
        const uint8_t* p = t.data.data();
        for (int64_t i = 0; i < n; ++i) {
            bool bad = false;
            switch (t.dtype) {
                case DType::F64: {
                    uint64_t b;
                    std::memcpy(&b, p + 8 * i, 8);
                    bad = ((b >> 52) & 0x7ff) == 0x7ff;
                    break;
                }
                case DType::F32: {
                    uint32_t b;
                    std::memcpy(&b, p + 4 * i, 4);
                    bad = ((b >> 23) & 0xff) == 0xff;
                    break;
                }
                case DType::F16:
                case DType::BF16: {
                    uint16_t b;
                    std::memcpy(&b, p + 2 * i, 2);
                    bad = t.dtype == DType::F16 ? ((b >> 10) & 0x1f) == 0x1f : ((b >> 7) & 0xff) == 0xff;
                    break;
                }
                default: i = n; break;  // integers are always finite
            }
            if (bad) {
                if (index) *index = i;
                return name;
            }
        }
    }
    return {};
}

File load(const std::string& path, Role role) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) fail(role, path + ": file not found");
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(role, path + ": cannot open for reading");
    // One read of the whole file (not byte by byte through istreambuf_iterator, which dominated the load of
    // small files and made large checkpoints grow the buffer repeatedly).
    const uintmax_t size = std::filesystem::file_size(path, ec);
    if (ec) fail(role, path + ": cannot read its size (" + ec.message() + ")");
    std::vector<uint8_t> bytes(static_cast<size_t>(size));
    if (size && !in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size)))
        fail(role, cat(path, ": cannot read ", size, " bytes (read ", in.gcount(), "; changed while reading?)"));
    return parse(bytes, path, role);
}

File load_model(const std::string& path, const std::string& format, int max_version, const std::string& hint) {
    const std::string suffix = hint.empty() ? std::string() : " " + hint;
    File f;
    try {
        f = load(path, Role::Model);
        f.require_format(format, max_version);
    } catch (const Error& e) {
        throw ModelError(e.what() + suffix);
    }
    return f;
}

void save(const std::string& path, const File& file) {
    auto bytes = serialize(file);
    AtomicFile out(path, /*overwrite=*/true);
    std::FILE* fp = std::fopen(out.temp_path().c_str(), "wb");
    if (!fp) throw IoError(path + ": cannot open for writing");
    size_t w = std::fwrite(bytes.data(), 1, bytes.size(), fp);
    bool ok = w == bytes.size() && std::fclose(fp) == 0;
    if (!ok) throw IoError(path + ": write failed (disk full?)");
    out.commit();
}

}  // namespace ned::st
