// CUDA rasterizer backend of a build without CUDA (NED_WITH_CUDA off; the real one is rasterizer_cuda.cu).
// Selecting it fails loudly instead of silently running on the CPU.
#include "backends.hpp"
#include "ned/core/error.hpp"

namespace ned::conditioning {

bool cuda_rasterizer_available() noexcept { return false; }

namespace detail {

std::unique_ptr<RasterizerBackend> make_cuda_backend() {
    throw BackendError(
        "[render] the CUDA rasterizer backend is not available: ned was built without CUDA support for "
        "rendering (use the CPU backend)");
}

}  // namespace detail
}  // namespace ned::conditioning
