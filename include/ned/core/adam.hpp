#pragma once
// Adam with PyTorch's arithmetic (torch.optim.Adam, no weight decay, no amsgrad), shared by the trainers
// (`ned train-manipulator`, `ned train-renderer`). Its state is plain named tensors so that it is saved in
// safetensors next to the weights: "<prefix><name>.exp_avg", "<prefix><name>.exp_avg_sq", metadata
// "<prefix>steps" and "<prefix>lr" (hexadecimal float).
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "ned/core/safetensors.hpp"

namespace ned {

class Adam {
public:
    using Named = std::vector<std::pair<std::string, torch::Tensor>>;
    /// The parameters of `m` named prefix + their dotted name.
    static Named named_parameters(const torch::nn::Module& m, const std::string& prefix = {});

    Adam(Named params, double lr, double beta1, double beta2, double eps = 1e-8);

    /// Set every defined gradient to zero.
    void zero_grad();
    /// One update of every parameter with a defined gradient (parameters without one are left alone).
    void step();
    /// Write the moments and the step count / learning rate under `prefix`.
    void save(st::File& f, const std::string& prefix) const;
    /// Read what save() wrote (InputError naming the file and tensor for a missing or misshapen tensor).
    /// A file without "<prefix>lr" keeps the current learning rate.
    void load(const st::File& f, const std::string& prefix);

    const Named& params() const { return params_; }
    std::vector<torch::Tensor>& exp_avg() { return m_; }
    std::vector<torch::Tensor>& exp_avg_sq() { return v_; }

    double lr, beta1, beta2, eps;
    int64_t steps = 0;

private:
    Named params_;
    std::vector<torch::Tensor> m_, v_;
};

}  // namespace ned
