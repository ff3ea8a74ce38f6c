// CUDA rasterizer backend: not implemented in this build. Selecting it fails loudly instead of silently
// running on the CPU.
#include "backends.hpp"
#include "ned/core/error.hpp"

namespace ned::render::detail {

std::unique_ptr<RasterizerBackend> make_cuda_backend() {
    throw BackendError(
        "[render] the CUDA rasterizer backend is not available: ned was built without CUDA support for "
        "rendering (use the CPU backend)");
}

}  // namespace ned::render::detail
