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

/// LibTorch's intra-op threads set to `n` while alive (restored after). For stages that run their networks on
/// several frame workers at once: each worker's LibTorch calls would otherwise start an OpenMP team of the
/// process-wide intra-op count (eval with --threads 16 ran 16 x 16 threads), and OpenMP teams that outnumber the
/// cores spin against each other (face detection with 2 workers x 2 threads on 2 busy cores ran 10x slower).
class ScopedTorchThreads {
public:
    explicit ScopedTorchThreads(int n) : saved_(torch::get_num_threads()) { torch::set_num_threads(n < 1 ? 1 : n); }
    ~ScopedTorchThreads() { torch::set_num_threads(saved_ < 1 ? 1 : saved_); }
    ScopedTorchThreads(const ScopedTorchThreads&) = delete;
    ScopedTorchThreads& operator=(const ScopedTorchThreads&) = delete;

private:
    int saved_;
};

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
void load_module(torch::nn::Module& module, const st::File& file, const std::string& prefix = {}, bool strict = true);
/// Add every parameter and buffer of `module` to `file` under prefix + name.
void save_module(const torch::nn::Module& module, st::File& file, const std::string& prefix = {});

}  // namespace ned
