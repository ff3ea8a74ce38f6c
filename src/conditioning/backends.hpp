#pragma once
// Private: factory functions of the rasterizer backends (rasterizer.cpp is the only place that picks one).
#include <memory>

#include "ned/conditioning/rasterizer.hpp"

namespace ned::conditioning::detail {

std::unique_ptr<RasterizerBackend> make_cpu_backend(int threads);
/// rasterizer_cuda.cu (NED_WITH_CUDA) or rasterizer_cuda_stub.cpp. Throws BackendError when ned was built
/// without CUDA, when no CUDA device is visible, or when the build has no kernel image for the device.
std::unique_ptr<RasterizerBackend> make_cuda_backend();

}  // namespace ned::conditioning::detail
