#pragma once
// Private: factory functions of the rasterizer backends (rasterizer.cpp is the only place that picks one).
#include <memory>

#include "ned/render/rasterizer.hpp"

namespace ned::render::detail {

std::unique_ptr<RasterizerBackend> make_cpu_backend(int threads);
/// Throws BackendError when ned was built without CUDA (rasterizer_cuda_stub.cpp).
std::unique_ptr<RasterizerBackend> make_cuda_backend();

}  // namespace ned::render::detail
