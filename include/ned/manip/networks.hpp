#pragma once
// The four networks of NED's 3D-based emotion manipulator (a StarGAN-v2 over sequences of expression
// parameters; foivospar/NED manipulator/models/networks.py) and their checkpoint file.
//
// Per frame the manipulator sees x = [pose[3] (jaw opening), exp[0:50]] (51 raw DECA values, no
// normalisation) in windows of 10 frames.
//   Generator      G(x[B,10,51], s[B,16]) -> [B,10,51]   Linear 67->512->512, BiLSTM 2x512, MLP 1024->1024->1024->51
//   StyleEncoder   E(x[B,10,51]) -> [B,16]               Linear 51->512->256, BiLSTM 2x128, MLP 256->128->64->16,
//                                                        mean over time
//   Discriminator  D(x[B,10,51], y[B]) -> [B]            as E with a 64->7 head; per-step logits averaged, logit of y
//   MappingNetwork M(z[B,4], y[B]) -> [B,16]             shared 4->64->64->64, 7 heads 64->64->16
// Parameter names equal NED's state-dict names (seq1.0.weight, LSTM.weight_ih_l0_reverse, ...).
//
// Checkpoint: one safetensors file, __metadata__ format "ned.manipulator", version "1", tensors named
// "generator." / "style_encoder." / "mapping_network." / "discriminator." + NED's names (discriminator
// optional). Width metadata (g_hidden, e_hidden, m_hidden) is present only for non-NED sizes (tests).
#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

namespace ned::manip {

constexpr int kSeqLen = 10;     ///< frames per window
constexpr int kNumCoeffs = 51;  ///< [jaw, exp50]
constexpr int kStyleDim = 16;
constexpr int kLatentDim = 4;
constexpr int kNumEmotions = 7;

/// NED's label order: neutral, angry, disgusted, fear, happy, sad, surprised.
const std::vector<std::string>& emotion_names();
/// Index of an emotion name (case-insensitive); InputError listing the valid names otherwise.
int emotion_index(const std::string& name);

/// Widths. The defaults are NED's; smaller values only serve fast tests.
struct NetConfig {
    int g_hidden = 512;  ///< G: seq1 width and LSTM hidden size (seq2 width = 2x)
    int e_hidden = 128;  ///< E and D: LSTM hidden size (seq1 4x -> 2x, seq2 2x -> 1x -> x/2)
    int m_hidden = 64;   ///< M: hidden width
    bool operator==(const NetConfig& o) const {
        return g_hidden == o.g_hidden && e_hidden == o.e_hidden && m_hidden == o.m_hidden;
    }
};

struct GeneratorImpl : torch::nn::Module {
    explicit GeneratorImpl(const NetConfig& cfg = {});
    torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& s);
    torch::nn::Sequential seq1{nullptr}, seq2{nullptr};
    torch::nn::LSTM lstm{nullptr};
};
TORCH_MODULE(Generator);

/// Shared trunk of E and D (NED defines them as two classes with identical layers but the head).
struct SeqEncoderImpl : torch::nn::Module {
    SeqEncoderImpl(const NetConfig& cfg, int out_dim);
    /// Per-step outputs averaged over time: [B,out_dim].
    torch::Tensor forward(const torch::Tensor& x);
    torch::nn::Sequential seq1{nullptr}, seq2{nullptr};
    torch::nn::LSTM lstm{nullptr};
};
TORCH_MODULE(SeqEncoder);

struct StyleEncoderImpl : SeqEncoderImpl {
    explicit StyleEncoderImpl(const NetConfig& cfg = {}) : SeqEncoderImpl(cfg, kStyleDim) {}
};
TORCH_MODULE(StyleEncoder);

struct DiscriminatorImpl : SeqEncoderImpl {
    explicit DiscriminatorImpl(const NetConfig& cfg = {}) : SeqEncoderImpl(cfg, kNumEmotions) {}
    /// Logit of label y for every sequence: [B].
    torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& y);
};
TORCH_MODULE(Discriminator);

struct MappingNetworkImpl : torch::nn::Module {
    explicit MappingNetworkImpl(const NetConfig& cfg = {});
    torch::Tensor forward(const torch::Tensor& z, const torch::Tensor& y);
    torch::nn::Sequential shared{nullptr};
    torch::nn::ModuleList unshared{nullptr};
};
TORCH_MODULE(MappingNetwork);

/// G, E, M and D together.
struct Nets {
    explicit Nets(const NetConfig& cfg = {});
    NetConfig cfg;
    Generator generator;
    StyleEncoder style_encoder;
    MappingNetwork mapping_network;
    Discriminator discriminator;

    void to(const torch::Device& device);
    void train(bool on);
    /// NED's util.he_init: Kaiming-normal (fan_in, relu) weights and zero biases for every Linear;
    /// LSTMs keep their default init. Uses torch's global generator (seed it first).
    void he_init();
};

int64_t count_parameters(const torch::nn::Module& m);

/// Write all four networks (checkpoint format above); `extra` goes into __metadata__.
void save_checkpoint(const std::string& path, const Nets& nets, const std::map<std::string, std::string>& extra = {});
/// Read a checkpoint (ModelError naming the file for a missing file, wrong format or mismatching
/// tensors). The discriminator is loaded when present; `has_discriminator` tells whether it was.
/// The result lives on the CPU.
Nets load_checkpoint(const std::string& path, bool* has_discriminator = nullptr);
/// Load the networks of `path` into existing nets of the same size (fine-tuning start point).
void load_checkpoint_into(const std::string& path, Nets& nets, bool* has_discriminator = nullptr);

}  // namespace ned::manip
