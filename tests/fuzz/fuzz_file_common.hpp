#pragma once
// Write the fuzz input to a per-process file on tmpfs (the loaders take a path).
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

inline std::string fuzz_write_file(const uint8_t* data, size_t size, const char* ext) {
    static const std::string path = "/dev/shm/ned-fuzz-" + std::to_string(::getpid()) + ext;
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) return path;
    if (size) std::fwrite(data, 1, size, f);
    std::fclose(f);
    return path;
}
