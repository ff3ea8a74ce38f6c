#pragma once
// Writing small TF.js weight shards and manifests in tests.
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

namespace ned::facenet::test {

inline void write(const std::filesystem::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }

/// Append `v`'s bytes (little endian, as the shards store them) to `buf`.
template <typename T>
void put(std::string& buf, T v) {
    char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    buf.append(b, sizeof(T));
}

}  // namespace ned::facenet::test
