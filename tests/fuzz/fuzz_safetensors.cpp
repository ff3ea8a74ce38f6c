// libFuzzer target: the safetensors parser on arbitrary bytes. Any exception other than ned::Error, any
// sanitizer report or a crash is a finding.
#include <cstdint>
#include <vector>

#include "ned/core/error.hpp"
#include "ned/core/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::vector<uint8_t> bytes(data, data + size);
    for (auto role : {ned::st::Role::Input, ned::st::Role::Model}) {
        try {
            const ned::st::File f = ned::st::parse(bytes, "fuzz", role);
            for (const auto& [name, t] : f.tensors) {
                (void)t.numel();
                (void)t.shape_str();
                if (t.dtype == ned::st::DType::F32) (void)f.floats(name);
                (void)f.at(name, t.dtype, std::vector<int64_t>(t.shape.size(), -1));
            }
            f.require_format("ned.reconstruction", 1);
        } catch (const ned::Error&) {}
    }
    return 0;
}
