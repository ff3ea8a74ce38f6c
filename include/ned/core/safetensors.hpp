#pragma once
// Minimal safetensors reader/writer (https://huggingface.co/docs/safetensors): an 8-byte little-endian
// header length, a JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {str: str}}, then the
// raw little-endian tensor bytes. Every ned weight file and per-video artifact uses this container with
// `__metadata__.format` and `__metadata__.version` set (see docs/architecture.md for the formats).
// Torch-free on purpose: torch conversions live in core/torch_util.hpp.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace ned::st {

enum class DType { F32, F64, F16, BF16, I64, I32, I16, I8, U8, BOOL };

const char* dtype_name(DType d);                 ///< safetensors spelling, e.g. "F32"
size_t dtype_size(DType d);                      ///< bytes per element
DType dtype_from_name(const std::string& name);  ///< throws ned::Error on unknown names

/// Byte size of a tensor of `shape` with `elem_size`-byte elements, computed without overflow: false for a
/// negative dimension or a size above INT64_MAX bytes. Every size taken from an untrusted header goes through it.
bool checked_byte_size(const std::vector<int64_t>& shape, size_t elem_size, uint64_t& bytes);

/// One tensor: dtype, shape (row-major) and its raw bytes.
struct Tensor {
    DType dtype = DType::F32;
    std::vector<int64_t> shape;
    std::vector<uint8_t> data;

    int64_t numel() const;          ///< throws ned::Error if the shape has a negative or overflowing size
    std::string shape_str() const;  ///< "[T,68,2]"
    template <typename T>
    const T* ptr() const {
        return reinterpret_cast<const T*>(data.data());
    }
    template <typename T>
    T* ptr() {
        return reinterpret_cast<T*>(data.data());
    }

    /// Build from typed values; shape product must equal values.size().
    static Tensor f32(std::vector<int64_t> shape, const std::vector<float>& values);
    static Tensor i64(std::vector<int64_t> shape, const std::vector<int64_t>& values);
    static Tensor u8(std::vector<int64_t> shape, const std::vector<uint8_t>& values);
};

/// A whole safetensors file held in memory.
struct File {
    std::map<std::string, std::string> metadata;  ///< the __metadata__ object
    std::map<std::string, Tensor> tensors;
    std::string path;  ///< where it was loaded from (for messages); empty for new files

    bool has(const std::string& name) const { return tensors.count(name) != 0; }
    /// The tensor `name`; throws (naming the file) if absent.
    const Tensor& at(const std::string& name) const;
    /// The tensor `name`, checked to have dtype `dt` and shape `shape` (-1 = any extent).
    const Tensor& at(const std::string& name, DType dt, const std::vector<int64_t>& shape) const;
    /// Values of an F32 tensor (any shape), row-major; throws if the tensor is absent or not F32.
    std::vector<float> floats(const std::string& name) const;
    std::string meta(const std::string& key, const std::string& fallback = {}) const;
    /// Throws unless metadata format == `format` and 1 <= version <= max_version.
    void require_format(const std::string& format, int max_version) const;
};

/// The name of the first floating-point tensor of `file` (F64, F32, F16 or BF16, in name order) holding a NaN
/// or an infinity, with the index of that element; empty when every value is finite. Model checks use it
/// before any video is decoded, checkpoint writers before a file gets its final name.
std::string first_non_finite(const File& file, int64_t* index = nullptr);

/// Which exception type to throw when a file is missing or malformed.
enum class Role { Input, Model };

/// Read a safetensors file. Missing/malformed files throw InputError (Role::Input) or ModelError (Role::Model).
File load(const std::string& path, Role role = Role::Input);
/// Load a model asset (weights, FLAME, ...): a missing or malformed file, or one whose metadata is not
/// `format` with version 1..max_version, throws ModelError (exit code 3); `hint` (e.g. how to make the file)
/// is appended to the message.
File load_model(const std::string& path, const std::string& format, int max_version, const std::string& hint = {});
/// Write atomically (temporary name in the same folder, then rename). Throws IoError on failure.
void save(const std::string& path, const File& file);
/// Serialise to bytes (used by save and by tests).
std::vector<uint8_t> serialize(const File& file);
/// Parse from bytes; `what` names the source in messages.
File parse(const std::vector<uint8_t>& bytes, const std::string& what, Role role = Role::Input);

}  // namespace ned::st
