#pragma once
// What this ned binary was built with and what it sees: printed by `ned --version` (torch-only).
#include <string>

namespace ned {

/// Several lines: ned's version; LibTorch's version and ABI; CUDA/cuDNN/NCCL compiled in (or "CUDA: not
/// compiled in"); the GPUs LibTorch sees; the CPU's model, vector extensions (AVX2, AVX-512F, AVX512-BF16,
/// AMX-BF16), ATen's kernel level and oneDNN's cap, and whether bf16 is native.
std::string build_info();

/// ned's own CUDA code (the rasterizer, NCCL) was compiled into this binary.
bool built_with_cuda();

}  // namespace ned
