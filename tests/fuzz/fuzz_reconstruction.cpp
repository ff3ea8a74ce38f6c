// libFuzzer target: recon::load_reconstruction on arbitrary file contents.
#include "fuzz_file_common.hpp"
#include "ned/core/error.hpp"
#include "ned/recon/reconstruction.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string path = fuzz_write_file(data, size, ".safetensors");
    try {
        const auto r = ned::recon::load_reconstruction(path);
        for (const auto& [name, b] : r.params) (void)b.row_size();
    } catch (const ned::Error&) {}
    return 0;
}
