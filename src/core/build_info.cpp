// `ned --version`: see include/ned/core/build_info.hpp.
#include "ned/core/build_info.hpp"

#include <torch/torch.h>
#include <torch/version.h>

#include <ATen/Version.h>
#include <ATen/detail/CUDAHooksInterface.h>

#ifdef NED_WITH_CUDA
#include <cuda_runtime_api.h>
#include <cudnn_version.h>
#include <nccl.h>
#include <torch/csrc/cuda/nccl.h>
#endif

#include "ned/core/cpu_features.hpp"
#include "ned/core/error.hpp"

namespace ned {
namespace {

std::string dotted(long v, long major_div, long minor_div) {  // 13000 -> "13.0" (CUDA), 91900 -> "9.19.0"
    if (v <= 0) return "unknown";
    const long major = v / major_div, minor = (v % major_div) / minor_div, patch = v % minor_div;
    return minor_div == 10 && major_div == 1000 ? cat(major, ".", minor) : cat(major, ".", minor, ".", patch);
}

std::string onednn_version() {  // "Intel(R) oneDNN v3.7.1 (Git Hash ...)" -> "3.7.1"
    const std::string v = at::get_mkldnn_version();
    const auto p = v.find(" v");
    if (p == std::string::npos) return v.empty() ? "none" : v;
    return v.substr(p + 2, v.find(' ', p + 2) - p - 2);
}

std::string cuda_lines() {
#ifdef NED_WITH_CUDA
    std::string s = cat("CUDA: compiled in (CUDA ", CUDART_VERSION / 1000, ".", (CUDART_VERSION % 1000) / 10,
                        ", cuDNN ", CUDNN_MAJOR, ".", CUDNN_MINOR, ".", CUDNN_PATCHLEVEL, ", NCCL ", NCCL_MAJOR, ".",
                        NCCL_MINOR, ".", NCCL_PATCH, " headers)");
    try {
        auto& hooks = at::detail::getCUDAHooks();
        const uint64_t nccl = torch::cuda::nccl::version();
        s += cat("; LibTorch's runtime: CUDA ", dotted(hooks.versionCUDART(), 1000, 10), ", cuDNN ",
                 dotted(hooks.versionRuntimeCuDNN(), 10000, 100), ", NCCL ", nccl >> 32, ".", (nccl >> 16) & 0xffff,
                 ".", nccl & 0xffff);
    } catch (const std::exception&) {}
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) n = 0;
    cudaGetLastError();  // a failed query (no driver) must not stick to later calls
    if (n == 0) return s + "\nGPUs: none visible";
    for (int i = 0; i < n; ++i) {
        cudaDeviceProp p{};
        if (cudaGetDeviceProperties(&p, i) != cudaSuccess) continue;
        s += cat("\nGPU ", i, ": ", p.name, " (sm_", p.major, p.minor, ", ",
                 static_cast<long>(p.totalGlobalMem / (1024.0 * 1024 * 1024) * 10) / 10.0, " GiB)");
    }
    return s;
#else
    const bool torch_cuda = at::detail::getCUDAHooks().hasCUDA();
    return cat("CUDA: not compiled in (LibTorch ",
               torch_cuda ? "sees a GPU, but ned's CUDA code was not built" : "without CUDA, or no GPU",
               ")\nGPUs: ", torch::cuda::device_count(), " visible");
#endif
}

}  // namespace

bool built_with_cuda() {
#ifdef NED_WITH_CUDA
    return true;
#else
    return false;
#endif
}

std::string build_info() {
    const auto& f = cpu::features();
    const std::string cap = cpu::onednn_isa_cap();
    return cat(
        "ned ", NED_VERSION, "\nLibTorch ", TORCH_VERSION, " (", _GLIBCXX_USE_CXX11_ABI ? "C++11 ABI" : "pre-C++11 ABI",
        "), oneDNN ", onednn_version(), ", ", at::get_openmp_version(), "\n", cuda_lines(),
        "\nCPU: ", f.model.empty() ? std::string("unknown") : f.model, "; extensions: ", cpu::extensions_string(f),
        "; ATen kernels: ", cpu::aten_capability(), cap.empty() ? std::string() : cat("; oneDNN capped at ", cap),
        "; bf16: ", cpu::native_bf16() ? "native" : "emulated (ned refuses bf16 on this CPU)");
}

}  // namespace ned
