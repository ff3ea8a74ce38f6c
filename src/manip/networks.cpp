#include "ned/manip/networks.hpp"

#include <algorithm>
#include <cctype>

#include "ned/core/error.hpp"
#include "ned/core/safetensors.hpp"
#include "ned/core/torch_util.hpp"

namespace ned::manip {
namespace nn = torch::nn;

namespace {
constexpr const char* kFormat = "ned.manipulator";

nn::LSTM make_lstm(int in, int hidden) {
    return nn::LSTM(nn::LSTMOptions(in, hidden).num_layers(2).batch_first(true).bidirectional(true));
}
}  // namespace

const std::vector<std::string>& emotion_names() {
    static const std::vector<std::string> names = {"neutral", "angry", "disgusted", "fear",
                                                   "happy",   "sad",   "surprised"};
    return names;
}

int emotion_index(const std::string& name) {
    std::string lower = name;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    const auto& names = emotion_names();
    for (size_t i = 0; i < names.size(); ++i)
        if (names[i] == lower) return static_cast<int>(i);
    std::string valid;
    for (const auto& n : names) valid += (valid.empty() ? "" : ", ") + n;
    throw InputError(cat("unknown emotion '", name, "' (expected one of: ", valid, ")"));
}

GeneratorImpl::GeneratorImpl(const NetConfig& cfg) {
    const int h = cfg.g_hidden;
    seq1 = register_module(
        "seq1", nn::Sequential(nn::Linear(kNumCoeffs + kStyleDim, h), nn::ReLU(), nn::Linear(h, h), nn::ReLU()));
    lstm = register_module("LSTM", make_lstm(h, h));
    seq2 = register_module("seq2", nn::Sequential(nn::Linear(2 * h, 2 * h), nn::ReLU(), nn::Linear(2 * h, 2 * h),
                                                  nn::ReLU(), nn::Linear(2 * h, kNumCoeffs)));
}

torch::Tensor GeneratorImpl::forward(const torch::Tensor& x, const torch::Tensor& s) {
    // NED: s.view(B,1,S).repeat(1,T,1); cat([x, s], dim=2)
    auto sr = s.view({s.size(0), 1, s.size(1)}).expand({s.size(0), x.size(1), s.size(1)});
    auto h = seq1->forward(torch::cat({x, sr}, 2));
    auto out = std::get<0>(lstm->forward(h));
    return seq2->forward(out);
}

SeqEncoderImpl::SeqEncoderImpl(const NetConfig& cfg, int out_dim) {
    const int h = cfg.e_hidden;
    seq1 = register_module(
        "seq1", nn::Sequential(nn::Linear(kNumCoeffs, 4 * h), nn::ReLU(), nn::Linear(4 * h, 2 * h), nn::ReLU()));
    lstm = register_module("LSTM", make_lstm(2 * h, h));
    seq2 = register_module("seq2", nn::Sequential(nn::Linear(2 * h, h), nn::ReLU(), nn::Linear(h, h / 2), nn::ReLU(),
                                                  nn::Linear(h / 2, out_dim)));
}

torch::Tensor SeqEncoderImpl::forward(const torch::Tensor& x) {
    auto out = std::get<0>(lstm->forward(seq1->forward(x)));
    return seq2->forward(out).mean(1);
}

torch::Tensor DiscriminatorImpl::forward(const torch::Tensor& x, const torch::Tensor& y) {
    auto logits = SeqEncoderImpl::forward(x);  // [B,7]
    return logits.gather(1, y.view({-1, 1}).to(torch::kLong)).squeeze(1);
}

MappingNetworkImpl::MappingNetworkImpl(const NetConfig& cfg) {
    const int h = cfg.m_hidden;
    shared = register_module("shared", nn::Sequential(nn::Linear(kLatentDim, h), nn::ReLU(), nn::Linear(h, h),
                                                      nn::ReLU(), nn::Linear(h, h), nn::ReLU()));
    unshared = register_module("unshared", nn::ModuleList());
    for (int k = 0; k < kNumEmotions; ++k)
        unshared->push_back(nn::Sequential(nn::Linear(h, h), nn::ReLU(), nn::Linear(h, kStyleDim)));
}

torch::Tensor MappingNetworkImpl::forward(const torch::Tensor& z, const torch::Tensor& y) {
    auto h = shared->forward(z);
    std::vector<torch::Tensor> outs;
    outs.reserve(unshared->size());
    for (size_t k = 0; k < unshared->size(); ++k) outs.push_back(unshared[k]->as<nn::Sequential>()->forward(h));
    auto out = torch::stack(outs, 1);  // [B,7,S]
    auto idx = y.view({-1, 1, 1}).to(torch::kLong).expand({out.size(0), 1, out.size(2)});
    return out.gather(1, idx).squeeze(1);
}

Nets::Nets(const NetConfig& c) : cfg(c), generator(c), style_encoder(c), mapping_network(c), discriminator(c) {}

void Nets::to(const torch::Device& device) {
    generator->to(device);
    style_encoder->to(device);
    mapping_network->to(device);
    discriminator->to(device);
}

void Nets::train(bool on) {
    generator->train(on);
    style_encoder->train(on);
    mapping_network->train(on);
    discriminator->train(on);
}

void Nets::he_init() {
    torch::NoGradGuard no_grad;
    // NED: for name, module in nets.items(): module.apply(util.he_init) -- generator, mapping_network,
    // style_encoder, discriminator (create_model's dict order); apply visits children depth-first.
    for (nn::Module* net : std::initializer_list<nn::Module*>{generator.get(), mapping_network.get(),
                                                              style_encoder.get(), discriminator.get()}) {
        for (auto& m : net->modules(/*include_self=*/false)) {
            if (auto* lin = m->as<nn::Linear>()) {
                nn::init::kaiming_normal_(lin->weight, 0.0, torch::kFanIn, torch::kReLU);
                if (lin->bias.defined()) lin->bias.zero_();
            }
        }
    }
}

int64_t count_parameters(const torch::nn::Module& m) {
    int64_t n = 0;
    for (const auto& p : m.parameters()) n += p.numel();
    return n;
}

void save_checkpoint(const std::string& path, const Nets& nets, const std::map<std::string, std::string>& extra) {
    st::File f;
    f.metadata = extra;
    f.metadata["format"] = kFormat;
    f.metadata["version"] = "1";
    f.metadata["emotions"] = "neutral,angry,disgusted,fear,happy,sad,surprised";
    if (!(nets.cfg == NetConfig{})) {
        f.metadata["g_hidden"] = std::to_string(nets.cfg.g_hidden);
        f.metadata["e_hidden"] = std::to_string(nets.cfg.e_hidden);
        f.metadata["m_hidden"] = std::to_string(nets.cfg.m_hidden);
    }
    save_module(*nets.generator, f, "generator.");
    save_module(*nets.style_encoder, f, "style_encoder.");
    save_module(*nets.mapping_network, f, "mapping_network.");
    save_module(*nets.discriminator, f, "discriminator.");
    // a file under the final name is always usable: weights with a NaN or an infinity (a diverged run) are refused
    int64_t at = 0;
    if (const std::string bad = st::first_non_finite(f, &at); !bad.empty())
        throw Error(cat(path, ": not written: tensor '", bad, "' holds a NaN or an infinity (element ", at,
                        "; the training diverged: try a lower --lr)"));
    st::save(path, f);
}

namespace {
NetConfig config_of(const st::File& f) {
    NetConfig cfg;
    auto get = [&](const char* key, int fallback) {
        const std::string v = f.meta(key);
        if (v.empty()) return fallback;
        try {
            const int n = std::stoi(v);
            if (n >= 2 && n <= 65536) return n;  // bounded before networks of that width are built
        } catch (const std::exception&) {}
        throw ModelError(cat(f.path, ": bad metadata ", key, "='", v, "'"));
    };
    cfg.g_hidden = get("g_hidden", cfg.g_hidden);
    cfg.e_hidden = get("e_hidden", cfg.e_hidden);
    cfg.m_hidden = get("m_hidden", cfg.m_hidden);
    return cfg;
}

st::File load_file(const std::string& path) { return st::load_model(path, kFormat, 1); }

// The first layer of G, E and M must have the widths the metadata (or NED's defaults) give, checked before the
// networks are built: a file without width metadata would otherwise build NED-size networks (~17 M parameters)
// only for load_module to refuse its first tensor.
void check_first_layers(const st::File& f, const NetConfig& c) {
    const std::pair<const char*, std::vector<int64_t>> first[] = {
        {"generator.seq1.0.weight", {c.g_hidden, kNumCoeffs + kStyleDim}},
        {"style_encoder.seq1.0.weight", {4 * int64_t(c.e_hidden), kNumCoeffs}},
        {"mapping_network.shared.0.weight", {c.m_hidden, kLatentDim}}};
    for (const auto& [name, shape] : first) {
        auto it = f.tensors.find(name);
        if (it == f.tensors.end())
            throw ModelError(
                cat(f.path, ": missing tensor '", name, "' (expected shape ", torch::IntArrayRef(shape), ")"));
        if (it->second.shape != shape)
            throw ModelError(cat(f.path, ": tensor '", name, "' has shape ", torch::IntArrayRef(it->second.shape),
                                 ", expected ", torch::IntArrayRef(shape), " (network widths g_hidden=", c.g_hidden,
                                 ", e_hidden=", c.e_hidden, ", m_hidden=", c.m_hidden, ")"));
    }
}

void load_into(const st::File& f, Nets& nets, bool* has_d) {
    load_module(*nets.generator, f, "generator.");
    load_module(*nets.style_encoder, f, "style_encoder.");
    load_module(*nets.mapping_network, f, "mapping_network.");
    const bool d = f.has("discriminator.seq1.0.weight");
    if (d) load_module(*nets.discriminator, f, "discriminator.");
    if (has_d) *has_d = d;
}
}  // namespace

Nets load_checkpoint(const std::string& path, bool* has_discriminator) {
    st::File f = load_file(path);
    const NetConfig cfg = config_of(f);
    check_first_layers(f, cfg);
    Nets nets(cfg);
    load_into(f, nets, has_discriminator);
    return nets;
}

void load_checkpoint_into(const std::string& path, Nets& nets, bool* has_discriminator) {
    st::File f = load_file(path);
    if (!(config_of(f) == nets.cfg))
        throw ModelError(cat(path, ": network widths differ from the networks being trained"));
    load_into(f, nets, has_discriminator);
}

}  // namespace ned::manip
