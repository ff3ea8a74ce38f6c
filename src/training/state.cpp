// The training state both trainers share: see include/ned/training/state.hpp.
#include "ned/training/state.hpp"

#include <cmath>
#include <cstdio>

#include "ned/core/error.hpp"
#include "ned/core/fault.hpp"

namespace ned::training {
namespace fs = std::filesystem;

std::shared_ptr<dist::Context> job(const std::shared_ptr<dist::Context>& given) {
    return given ? given : dist::Context::single();
}

int64_t rank0_value(dist::Context& ctx, int64_t value) {
    return std::llround(ctx.sum(ctx.is_main() ? static_cast<double>(value) : 0.0));
}

void broadcast_state(dist::Context& ctx, const std::vector<torch::nn::Module*>& modules,
                     const std::vector<Adam*>& adams, std::vector<double>& scalars) {
    std::vector<torch::Tensor> state;
    for (torch::nn::Module* m : modules) {
        for (auto& p : m->parameters(true)) state.push_back(p);
        for (auto& b : m->buffers(true)) state.push_back(b);
    }
    for (Adam* a : adams) {
        state.insert(state.end(), a->exp_avg().begin(), a->exp_avg().end());
        state.insert(state.end(), a->exp_avg_sq().begin(), a->exp_avg_sq().end());
    }
    std::vector<double> values;
    for (const Adam* a : adams) values.push_back(static_cast<double>(a->steps));
    values.insert(values.end(), scalars.begin(), scalars.end());
    const torch::Tensor packed = torch::tensor(values, torch::kFloat64);
    state.push_back(packed);
    fault_point("train.broadcast");
    ctx.broadcast(state);
    for (size_t i = 0; i < adams.size(); ++i) adams[i]->steps = static_cast<int64_t>(packed[i].item<double>());
    for (size_t i = 0; i < scalars.size(); ++i) scalars[i] = packed[adams.size() + i].item<double>();
}

std::string first_non_finite(const std::vector<Adam*>& adams) {
    torch::NoGradGuard no_grad;
    auto bad = [](const torch::Tensor& t) { return t.defined() && !torch::isfinite(t).all().item<bool>(); };
    for (Adam* a : adams) {
        for (const auto& [name, p] : a->params())
            if (bad(p)) return cat("weight ", name);
        for (const auto* moments : {&a->exp_avg(), &a->exp_avg_sq()})
            for (const auto& t : *moments)
                if (bad(t)) return "an Adam moment";
    }
    return {};
}

std::string epoch_file(int epoch, const std::string& suffix) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "epoch_%02d", epoch);
    return buf + suffix;
}

void write_together(const std::vector<fs::path>& files, const std::function<void()>& write) {
    try {
        write();
    } catch (...) {
        std::error_code ec;
        for (const fs::path& f : files) fs::remove(f, ec);
        throw;
    }
}

}  // namespace ned::training
