#pragma once
// The one place where LibTorch meets the rest of ned: thread set-up, device choice, safetensors <->
// torch::Tensor and loading/saving module parameters by name (cv::Mat <-> torch::Tensor: torch_mat.hpp).
// Only stages that run networks (recon, render, manip) include this header. Torch-only (no OpenCV): part of
// the NED_NETS_ONLY layer.
#include <torch/torch.h>

#include <map>
#include <string>

#include "ned/core/safetensors.hpp"

namespace ned {

/// Set torch intra-op threads (0 = all cores). Debian's LibTorch starts with 1 thread.
void set_torch_threads(int n);

/// "auto" -> CUDA when available else CPU; "cpu"; "cuda" (BackendError if unavailable); "cuda:N".
torch::Device resolve_device(const std::string& spec);

/// safetensors tensor -> torch tensor (CPU, owning copy).
torch::Tensor to_torch(const st::Tensor& t);
/// torch tensor (any device, contiguous or not) -> safetensors tensor.
st::Tensor from_torch(const torch::Tensor& t);

/// Load every parameter and buffer of `module` from `file`, name = prefix + module's dotted name.
/// strict: every parameter/buffer must be present with the same shape (ModelError otherwise, naming the
/// file and tensor); extra tensors in the file under `prefix` are also an error when strict.
/// Buffers named "num_batches_tracked" may be absent.
void load_module(torch::nn::Module& module, const st::File& file, const std::string& prefix = {},
                 bool strict = true);
/// Add every parameter and buffer of `module` to `file` under prefix + name.
void save_module(const torch::nn::Module& module, st::File& file, const std::string& prefix = {});

}  // namespace ned
