// libFuzzer target: face::load_track on arbitrary file contents.
#include "fuzz_file_common.hpp"
#include "ned/core/error.hpp"
#include "ned/face/face_track.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string path = fuzz_write_file(data, size, ".safetensors");
    try {
        const auto t = ned::face::load_track(path);
        (void)t.num_valid();
    } catch (const ned::Error&) {}
    return 0;
}
