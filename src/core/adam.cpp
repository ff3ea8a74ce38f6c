#include "ned/core/adam.hpp"

#include <cmath>
#include <cstdlib>

#include "ned/core/error.hpp"
#include "ned/core/torch_util.hpp"

namespace ned {

Adam::Named Adam::named_parameters(const torch::nn::Module& m, const std::string& prefix) {
    Named out;
    for (const auto& p : m.named_parameters(true)) out.emplace_back(prefix + p.key(), p.value());
    return out;
}

Adam::Adam(Named params, double lr_, double b1, double b2, double eps_)
    : lr(lr_), beta1(b1), beta2(b2), eps(eps_), params_(std::move(params)) {
    for (const auto& [name, p] : params_) {
        m_.push_back(torch::zeros_like(p, torch::MemoryFormat::Contiguous));
        v_.push_back(torch::zeros_like(p, torch::MemoryFormat::Contiguous));
    }
}

void Adam::zero_grad() {
    for (auto& [name, p] : params_)
        if (p.grad().defined()) p.mutable_grad().zero_();
}

void Adam::step() {
    torch::NoGradGuard ng;
    ++steps;
    const double bc1 = 1 - std::pow(beta1, static_cast<double>(steps));
    const double bc2 = 1 - std::pow(beta2, static_cast<double>(steps));
    for (size_t i = 0; i < params_.size(); ++i) {
        auto& p = params_[i].second;
        const auto& g = p.grad();
        if (!g.defined()) continue;
        // torch.optim.Adam (1.13, single-tensor path): m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
        // p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps)
        m_[i].mul_(beta1).add_(g, 1 - beta1);
        v_[i].mul_(beta2).addcmul_(g, g, 1 - beta2);
        const auto denom = (v_[i].sqrt() / std::sqrt(bc2)).add_(eps);
        p.addcdiv_(m_[i], denom, -lr / bc1);
    }
}

void Adam::save(st::File& f, const std::string& prefix) const {
    for (size_t i = 0; i < params_.size(); ++i) {
        f.tensors[prefix + params_[i].first + ".exp_avg"] = from_torch(m_[i].to(torch::kCPU));
        f.tensors[prefix + params_[i].first + ".exp_avg_sq"] = from_torch(v_[i].to(torch::kCPU));
    }
    f.metadata[prefix + "steps"] = std::to_string(steps);
    f.metadata[prefix + "lr"] = cat(std::hexfloat, lr);
}

void Adam::load(const st::File& f, const std::string& prefix) {
    torch::NoGradGuard ng;
    for (size_t i = 0; i < params_.size(); ++i) {
        for (auto* moments : {&m_, &v_}) {
            const std::string key = prefix + params_[i].first + (moments == &m_ ? ".exp_avg" : ".exp_avg_sq");
            if (!f.has(key)) throw InputError(cat(f.path, ": missing optimiser tensor ", key));
            const auto t = to_torch(f.tensors.at(key));
            if (t.sizes() != (*moments)[i].sizes())
                throw InputError(cat(f.path, ": optimiser tensor ", key, " has shape ", t.sizes(), ", expected ",
                                     (*moments)[i].sizes()));
            (*moments)[i].copy_(t);
        }
    }
    try {
        steps = std::stoll(f.meta(prefix + "steps"));
        const std::string l = f.meta(prefix + "lr", "");
        if (!l.empty()) lr = std::strtod(l.c_str(), nullptr);
    } catch (const std::exception&) {
        throw InputError(cat(f.path, ": bad optimiser metadata for ", prefix));
    }
    if (steps < 0 || !std::isfinite(lr)) throw InputError(cat(f.path, ": bad optimiser metadata for ", prefix));
}

}  // namespace ned
