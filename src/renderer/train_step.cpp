// `ned train-renderer`: one training window (NED's recipe, ned-reference §3.5-3.6).
#include <algorithm>

#include "ned/core/error.hpp"
#include "renderer/train_step.hpp"

namespace ned::renderer::train_detail {

const char* const kLossNames[kNumLosses] = {"G_GAN",  "G_GAN_Feat", "G_VGG",   "Gm_GAN", "Gm_GAN_Feat",
                                            "D_real", "D_fake",     "Dm_real", "Dm_fake"};

bool LossScaler::unscale(const std::vector<torch::Tensor>& params) const {
    if (!enabled) return true;
    torch::NoGradGuard ng;
    bool finite = true;
    for (const auto& p : params) {
        if (!p.grad().defined()) continue;
        auto g = p.mutable_grad();
        g.div_(scale);
        finite = finite && torch::isfinite(g).all().item<bool>();
    }
    return finite;
}

void LossScaler::update(bool finite) {
    if (!enabled) return;
    if (!finite) {
        scale = std::max(scale * 0.5, 1.0);
        good = 0;
    } else if (++good >= growth_interval) {
        scale = std::min(scale * 2.0, 16777216.0);  // 2^24: beyond it fp16 gradients of ordinary size overflow
        good = 0;
    }
}

WindowLosses window_losses(Trainer& tr, const Clips& c, size_t w0, size_t window, torch::Tensor& prev, int S) {
    const int B = static_cast<int>(c.clips.size());
    const torch::Device device = tr.device;
    const auto ct = tr.compute;  // the networks run in this type (float32 master weights cast per convolution)
    auto stack = [&](size_t t, auto field) {
        std::vector<torch::Tensor> v;
        for (int k = 0; k < B; ++k) v.push_back(field(c.clips[k][t]));
        return torch::stack(v).to(device);
    };
    const size_t L = c.length;
    std::vector<torch::Tensor> fakes, reals, conds;
    std::vector<std::pair<int, int>> mouths;
    for (size_t t = w0; t < std::min(L, w0 + window); ++t) {
        const auto cond = torch::cat({stack(t - 2, [](const FrameData& d) { return d.cond; }),
                                      stack(t - 1, [](const FrameData& d) { return d.cond; }),
                                      stack(t, [](const FrameData& d) { return d.cond; })},
                                     1);
        const auto mask = stack(t, [](const FrameData& d) { return d.mask; });
        // the output back in float32 (a differentiable cast): images, losses and the fed-back frames
        const auto fake = tr.G->forward(cond.to(ct), prev.detach().to(ct), mask.to(ct)).to(torch::kFloat);
        prev = torch::cat({prev.narrow(1, 3, 3), fake.detach()}, 1);
        fakes.push_back(fake);
        reals.push_back(stack(t, [](const FrameData& d) { return d.real; }));
        conds.push_back(stack(t, [](const FrameData& d) { return d.cond; }));
        for (int k = 0; k < B; ++k) mouths.push_back(c.clips[k][t].mouth);
    }
    const auto fake = torch::cat(fakes), real = torch::cat(reals), cond = torch::cat(conds);
    // discriminator inputs: [conditioning of frame t (9), image (3)]
    const auto real_ab = torch::cat({cond, real}, 1), fake_ab = torch::cat({cond, fake}, 1);
    const auto real_in = real_ab.to(ct), fake_in = fake_ab.to(ct);
    const auto pred_real = tr.D->forward(real_in);
    const auto pred_fake_d = tr.D->forward(fake_in.detach());
    const auto pred_fake_g = tr.D->forward(fake_in);
    const int roi = mouth_roi_size(S);
    const auto m_real = crop_roi(real_in, mouths, roi), m_fake = crop_roi(fake_in, mouths, roi);
    const auto mpred_real = tr.Dm->forward(m_real);
    const auto mpred_fake_d = tr.Dm->forward(m_fake.detach());
    const auto mpred_fake_g = tr.Dm->forward(m_fake);
    // every loss is reduced in float32 (lsgan_loss, feature_matching_loss and vgg_loss cast their inputs)
    WindowLosses w;
    torch::Tensor* L_ = w.terms;
    L_[0] = lsgan_loss(pred_fake_g, true);
    L_[1] = feature_matching_loss(pred_fake_g, pred_real, tr.D->cfg);
    L_[2] = tr.vgg.is_empty() ? torch::zeros({}, fake.options()) : vgg_loss(tr.vgg, fake, real) * 10.0;
    L_[3] = lsgan_loss(mpred_fake_g, true);
    L_[4] = feature_matching_loss(mpred_fake_g, mpred_real, tr.Dm->cfg);
    L_[5] = lsgan_loss(pred_real, true);
    L_[6] = lsgan_loss(pred_fake_d, false);
    L_[7] = lsgan_loss(mpred_real, true);
    L_[8] = lsgan_loss(mpred_fake_d, false);
    w.loss_g = L_[0] + L_[1] + L_[2] + L_[3] + L_[4];
    w.loss_d = (L_[5] + L_[6]) * 0.5 + (L_[7] + L_[8]) * 0.5;
    return w;
}

std::array<double, kNumLosses> train_window(Trainer& tr, const Clips& c, size_t w0, size_t window, torch::Tensor& prev,
                                            double share, int S) {
    std::array<double, kNumLosses> out{};
    std::vector<double> vals(kNumLosses, 0.0);
    std::vector<torch::Tensor> gp, dp;
    for (const auto& [n, p] : tr.optG->params()) gp.push_back(p);
    for (const auto& [n, p] : tr.optD->params()) dp.push_back(p);
    // fp16: the summed gradients are unscaled and checked; an overflow skips the step on every rank alike
    auto step = [](Adam& opt, LossScaler& scaler, const std::vector<torch::Tensor>& params) {
        const bool finite = scaler.unscale(params);
        if (finite) opt.step();
        scaler.update(finite);
    };
    if (c.clips.empty()) {
        // this rank holds no clip in this (last, partial) global batch: it adds zero gradients to the sums
        tr.redG->prepare(share);
        tr.redG->finish(&vals);
        step(*tr.optG, tr.scaleG, gp);
        tr.redD->prepare(share);
        tr.redD->finish(nullptr);
        step(*tr.optD, tr.scaleD, dp);
        std::copy(vals.begin(), vals.end(), out.begin());
        return out;
    }
    const WindowLosses w = window_losses(tr, c, w0, window, prev, S);
    for (int k = 0; k < kNumLosses; ++k) vals[k] = w.terms[k].item<double>();

    // G step: gradients of G only (backward restricted to G's parameters: D's weight gradients are not
    // computed for it); the reducer sums them over the ranks while the backward pass runs
    tr.optG->zero_grad();
    tr.redG->prepare(share);
    const double sg = tr.scaleG.factor(), sd = tr.scaleD.factor();
    (sg == 1 ? w.loss_g : w.loss_g * sg).backward({}, c10::nullopt, false, c10::optional<at::TensorList>(gp));
    tr.redG->finish(&vals);
    step(*tr.optG, tr.scaleG, gp);
    // D and Dm step
    tr.optD->zero_grad();
    tr.redD->prepare(share);
    (sd == 1 ? w.loss_d : w.loss_d * sd).backward();
    tr.redD->finish(nullptr);
    step(*tr.optD, tr.scaleD, dp);
    std::copy(vals.begin(), vals.end(), out.begin());
    return out;
}

void make_optimisers(Trainer& tr, double lr) {
    tr.optG = std::make_unique<Adam>(Adam::named_parameters(*tr.G, "generator."), lr, 0.5, 0.999);
    auto dparams = Adam::named_parameters(*tr.D, "discriminator.");
    for (auto& p : Adam::named_parameters(*tr.Dm, "mouth_discriminator.")) dparams.push_back(p);
    tr.optD = std::make_unique<Adam>(dparams, lr, 0.5, 0.999);
}

void make_reducers(Trainer& tr, const std::shared_ptr<dist::Context>& ctx) {
    NED_CHECK(tr.optG && tr.optD, "make_reducers needs the optimisers (make_optimisers)");
    std::vector<torch::Tensor> gp, dp;
    for (const auto& [n, p] : tr.optG->params()) gp.push_back(p);
    for (const auto& [n, p] : tr.optD->params()) dp.push_back(p);
    tr.redG = std::make_unique<dist::GradReducer>(ctx, gp);
    tr.redD = std::make_unique<dist::GradReducer>(ctx, dp);
}

}  // namespace ned::renderer::train_detail
