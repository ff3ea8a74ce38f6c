#include "ned/core/torch_util.hpp"

#include <cstring>
#include <set>
#include <thread>

#include "ned/core/error.hpp"
#include "ned/core/log.hpp"

namespace ned {

void set_torch_threads(int n) {
    if (n <= 0) n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    torch::set_num_threads(n);
}

torch::Device resolve_device(const std::string& spec) {
    if (spec == "cpu") return torch::kCPU;
    if (spec == "auto") return torch::cuda::is_available() ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
    if (spec.rfind("cuda", 0) == 0) {
        if (!torch::cuda::is_available())
            throw BackendError("--device " + spec + ": no CUDA device available (this LibTorch " +
                               std::string(torch::cuda::device_count() == 0 ? "sees no GPU" : "has no CUDA") + ")");
        return torch::Device(spec);
    }
    throw OptionError("device", " must be auto, cpu, cuda or cuda:N (got '" + spec + "')");
}

namespace {
torch::ScalarType to_scalar(st::DType d) {
    switch (d) {
        case st::DType::F32: return torch::kFloat32;
        case st::DType::F64: return torch::kFloat64;
        case st::DType::F16: return torch::kFloat16;
        case st::DType::BF16: return torch::kBFloat16;
        case st::DType::I64: return torch::kInt64;
        case st::DType::I32: return torch::kInt32;
        case st::DType::I16: return torch::kInt16;
        case st::DType::I8: return torch::kInt8;
        case st::DType::U8: return torch::kUInt8;
        case st::DType::BOOL: return torch::kBool;
    }
    throw Error("unreachable dtype");
}
st::DType from_scalar(torch::ScalarType s) {
    switch (s) {
        case torch::kFloat32: return st::DType::F32;
        case torch::kFloat64: return st::DType::F64;
        case torch::kFloat16: return st::DType::F16;
        case torch::kBFloat16: return st::DType::BF16;
        case torch::kInt64: return st::DType::I64;
        case torch::kInt32: return st::DType::I32;
        case torch::kInt16: return st::DType::I16;
        case torch::kInt8: return st::DType::I8;
        case torch::kUInt8: return st::DType::U8;
        case torch::kBool: return st::DType::BOOL;
        default: break;
    }
    throw Error(cat("cannot store torch dtype ", s, " in safetensors"));
}
}  // namespace

torch::Tensor to_torch(const st::Tensor& t) {
    auto out = torch::empty(t.shape, torch::TensorOptions().dtype(to_scalar(t.dtype)));
    if (!t.data.empty()) std::memcpy(out.data_ptr(), t.data.data(), t.data.size());
    return out;
}

st::Tensor from_torch(const torch::Tensor& t) {
    auto c = t.detach().to(torch::kCPU).contiguous();
    st::Tensor out;
    out.dtype = from_scalar(c.scalar_type());
    out.shape.assign(c.sizes().begin(), c.sizes().end());
    out.data.resize(c.numel() * c.element_size());
    if (!out.data.empty()) std::memcpy(out.data.data(), c.data_ptr(), out.data.size());
    return out;
}

void load_module(torch::nn::Module& module, const st::File& file, const std::string& prefix, bool strict) {
    torch::NoGradGuard no_grad;
    std::set<std::string> used;
    auto assign = [&](const std::string& name, torch::Tensor& dst, bool optional) {
        const std::string key = prefix + name;
        auto it = file.tensors.find(key);
        if (it == file.tensors.end()) {
            if (optional || !strict) return;
            throw ModelError(cat(file.path, ": missing tensor '", key, "' (expected shape ", dst.sizes(), ")"));
        }
        auto src = to_torch(it->second);
        if (src.sizes() != dst.sizes())
            throw ModelError(
                cat(file.path, ": tensor '", key, "' has shape ", src.sizes(), ", expected ", dst.sizes()));
        // Untrusted weights: a NaN or Inf would only surface as NaN outputs much later.
        if (src.is_floating_point() && src.numel() && !torch::isfinite(src).all().item<bool>())
            throw ModelError(cat(file.path, ": tensor '", key, "' holds NaN or infinite values"));
        dst.copy_(src.to(dst.dtype()));
        used.insert(key);
    };
    for (auto& p : module.named_parameters(true)) assign(p.key(), p.value(), false);
    for (auto& b : module.named_buffers(true)) {
        const bool optional =
            b.key().size() >= 19 && b.key().compare(b.key().size() - 19, 19, "num_batches_tracked") == 0;
        assign(b.key(), b.value(), optional);
    }
    if (strict) {
        for (const auto& [name, t] : file.tensors) {
            if (name.rfind(prefix, 0) != 0 || used.count(name)) continue;
            if (name.size() >= 19 && name.compare(name.size() - 19, 19, "num_batches_tracked") == 0) continue;
            throw ModelError(cat(file.path, ": unexpected tensor '", name, "' (not a parameter of the model)"));
        }
    }
}

void save_module(const torch::nn::Module& module, st::File& file, const std::string& prefix) {
    for (const auto& p : module.named_parameters(true)) file.tensors[prefix + p.key()] = from_torch(p.value());
    for (const auto& b : module.named_buffers(true)) file.tensors[prefix + b.key()] = from_torch(b.value());
}

}  // namespace ned
