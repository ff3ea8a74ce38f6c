#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "ned/core/error.hpp"
#include "ned/core/safetensors.hpp"
#include "ned/manip/networks.hpp"
#include "support/test_support.hpp"

using namespace ned;
using namespace ned::manip;

TEST(ManipNetworks, ParameterCountsMatchNed) {
    Nets n;
    EXPECT_EQ(count_parameters(*n.generator), 12951091);
    EXPECT_EQ(count_parameters(*n.style_encoder), 990672);
    EXPECT_EQ(count_parameters(*n.discriminator), 990087);
    EXPECT_EQ(count_parameters(*n.mapping_network), 45040);
}

TEST(ManipNetworks, TensorNamesAndShapesMatchNed) {
    Nets n;
    auto shape = [](torch::nn::Module& m, const std::string& name) {
        auto params = m.named_parameters(true);
        auto* p = params.find(name);
        EXPECT_NE(p, nullptr) << name;
        return p ? std::vector<int64_t>(p->sizes().begin(), p->sizes().end()) : std::vector<int64_t>{};
    };
    using V = std::vector<int64_t>;
    EXPECT_EQ(shape(*n.generator, "seq1.0.weight"), (V{512, 67}));
    EXPECT_EQ(shape(*n.generator, "seq1.2.weight"), (V{512, 512}));
    EXPECT_EQ(shape(*n.generator, "LSTM.weight_ih_l0"), (V{2048, 512}));
    EXPECT_EQ(shape(*n.generator, "LSTM.weight_hh_l0_reverse"), (V{2048, 512}));
    EXPECT_EQ(shape(*n.generator, "LSTM.weight_ih_l1"), (V{2048, 1024}));
    EXPECT_EQ(shape(*n.generator, "LSTM.bias_hh_l1_reverse"), (V{2048}));
    EXPECT_EQ(shape(*n.generator, "seq2.4.weight"), (V{51, 1024}));
    EXPECT_EQ(shape(*n.style_encoder, "seq1.0.weight"), (V{512, 51}));
    EXPECT_EQ(shape(*n.style_encoder, "LSTM.weight_ih_l1_reverse"), (V{512, 256}));
    EXPECT_EQ(shape(*n.style_encoder, "seq2.4.weight"), (V{16, 64}));
    EXPECT_EQ(shape(*n.discriminator, "seq2.4.weight"), (V{7, 64}));
    EXPECT_EQ(shape(*n.mapping_network, "shared.4.weight"), (V{64, 64}));
    EXPECT_EQ(shape(*n.mapping_network, "unshared.6.2.weight"), (V{16, 64}));
    EXPECT_EQ(n.generator->named_parameters().size(), 4u + 16u + 6u);
    EXPECT_EQ(n.mapping_network->named_parameters().size(), 6u + 7u * 4u);
}

TEST(ManipNetworks, ForwardShapesAndLabelSelection) {
    NetConfig small{32, 16, 16};
    Nets n(small);
    auto x = torch::randn({3, 10, 51});
    auto s = torch::randn({3, 16});
    EXPECT_EQ(n.generator->forward(x, s).sizes(), (std::vector<int64_t>{3, 10, 51}));
    EXPECT_EQ(n.style_encoder->forward(x).sizes(), (std::vector<int64_t>{3, 16}));
    auto y = torch::tensor({0, 4, 6}, torch::kLong);
    auto d = n.discriminator->forward(x, y);
    ASSERT_EQ(d.sizes(), (std::vector<int64_t>{3}));
    auto all = n.discriminator->SeqEncoderImpl::forward(x);
    EXPECT_FLOAT_EQ(d[1].item<float>(), all[1][4].item<float>());
    auto z = torch::randn({3, 4});
    auto m = n.mapping_network->forward(z, y);
    auto h = n.mapping_network->shared->forward(z);
    auto head6 = n.mapping_network->unshared[6]->as<torch::nn::Sequential>()->forward(h);
    EXPECT_TRUE(torch::allclose(m[2], head6[2]));
}

TEST(ManipNetworks, EmotionNames) {
    EXPECT_EQ(emotion_index("neutral"), 0);
    EXPECT_EQ(emotion_index("Happy"), 4);
    EXPECT_EQ(emotion_index("surprised"), 6);
    EXPECT_THROW(emotion_index("contempt"), InputError);
}

TEST(ManipNetworks, HeInitZeroBiasesAndFanInScale) {
    torch::manual_seed(1);
    Nets n;
    n.he_init();
    auto lin = n.generator->seq2[0]->as<torch::nn::Linear>();
    EXPECT_EQ(lin->bias.abs().max().item<float>(), 0.f);
    const double std_expected = std::sqrt(2.0 / 1024);
    EXPECT_NEAR(lin->weight.std().item<double>(), std_expected, 0.02 * std_expected);
}

TEST(ManipNetworks, CheckpointRoundTripAndErrors) {
    test::TempDir dir;
    torch::manual_seed(3);
    NetConfig small{32, 16, 16};
    Nets a(small);
    save_checkpoint(dir / "m.safetensors", a, {{"epoch", "2"}});
    auto f = st::load(dir / "m.safetensors");
    EXPECT_EQ(f.meta("format"), "ned.manipulator");
    EXPECT_EQ(f.meta("version"), "1");
    EXPECT_TRUE(f.has("generator.LSTM.weight_ih_l0_reverse"));
    EXPECT_TRUE(f.has("mapping_network.unshared.3.0.bias"));
    EXPECT_TRUE(f.has("discriminator.seq2.4.weight"));
    bool has_d = false;
    Nets b = load_checkpoint(dir / "m.safetensors", &has_d);
    EXPECT_TRUE(has_d);
    EXPECT_TRUE(b.cfg == small);
    EXPECT_TRUE(torch::equal(a.generator->seq2[4]->as<torch::nn::Linear>()->weight,
                             b.generator->seq2[4]->as<torch::nn::Linear>()->weight));
    EXPECT_THROW(load_checkpoint(dir / "missing.safetensors"), ModelError);
    // Without a discriminator (NED's test checkpoints may lack it) the file still loads.
    for (auto it = f.tensors.begin(); it != f.tensors.end();)
        it = it->first.rfind("discriminator.", 0) == 0 ? f.tensors.erase(it) : std::next(it);
    st::save(dir / "nod.safetensors", f);
    load_checkpoint(dir / "nod.safetensors", &has_d);
    EXPECT_FALSE(has_d);
    f.tensors.erase("generator.seq1.0.bias");
    st::save(dir / "bad.safetensors", f);
    EXPECT_THROW(load_checkpoint(dir / "bad.safetensors"), ModelError);
    f.metadata["format"] = "ned.reconstruction";
    st::save(dir / "fmt.safetensors", f);
    EXPECT_THROW(load_checkpoint(dir / "fmt.safetensors"), ModelError);
}

// A checkpoint whose first-layer widths disagree with its width metadata (here: the metadata is gone, so NED's
// 512/128/64 apply to a 4-wide file) is refused by name and shape before any network is built.
TEST(ManipNetworks, WidthsCheckedAgainstFirstLayersBeforeBuilding) {
    test::TempDir dir;
    save_checkpoint(dir / "w4.safetensors", Nets(NetConfig{4, 4, 4}));
    auto f = st::load(dir / "w4.safetensors");
    f.metadata.erase("g_hidden");
    f.metadata.erase("e_hidden");
    f.metadata.erase("m_hidden");
    st::save(dir / "nometa.safetensors", f);
    try {
        load_checkpoint(dir / "nometa.safetensors");
        FAIL() << "a 4-wide file without width metadata was accepted";
    } catch (const ModelError& e) {
        EXPECT_NE(std::string(e.what()).find("'generator.seq1.0.weight' has shape [4, 67], expected [512, 67]"),
                  std::string::npos)
            << e.what();
    }
    // Metadata that matches G but not M: the mapping network's first layer names the mismatch.
    f = st::load(dir / "w4.safetensors");
    f.metadata["m_hidden"] = "8";
    st::save(dir / "m8.safetensors", f);
    try {
        load_checkpoint(dir / "m8.safetensors");
        FAIL() << "m_hidden=8 metadata on a 4-wide mapping network was accepted";
    } catch (const ModelError& e) {
        EXPECT_NE(std::string(e.what()).find("'mapping_network.shared.0.weight' has shape [4, 4], expected [8, 4]"),
                  std::string::npos)
            << e.what();
    }
    f.tensors.erase("style_encoder.seq1.0.weight");
    f.metadata["m_hidden"] = "4";
    st::save(dir / "noe.safetensors", f);
    EXPECT_THROW(load_checkpoint(dir / "noe.safetensors"), ModelError);
    EXPECT_NO_THROW(load_checkpoint(dir / "w4.safetensors"));
}

// No manipulator checkpoint with a NaN or an infinity is ever written under its final name: save_checkpoint refuses
// it (ned::Error naming the tensor), writes nothing, and leaves an earlier file under that name as it was.
TEST(ManipNetworks, NonFiniteWeightsAreNeverWritten) {
    test::TempDir dir;
    torch::manual_seed(3);
    Nets a(NetConfig{32, 16, 16});
    save_checkpoint(dir / "m.safetensors", a, {{"epoch", "1"}});
    const auto good = st::load(dir / "m.safetensors");
    for (const float bad : {std::nanf(""), INFINITY}) {
        {
            torch::NoGradGuard ng;
            a.discriminator->named_parameters().begin()->value().view(-1)[0] = bad;
        }
        for (const std::string& target : {dir / "m.safetensors", dir / "new.safetensors"})
            EXPECT_THROW(save_checkpoint(target, a, {{"epoch", "2"}}), Error) << target;
        EXPECT_FALSE(std::filesystem::exists(dir / "new.safetensors"));
    }
    const auto after = st::load(dir / "m.safetensors");
    EXPECT_EQ(after.meta("epoch"), "1");
    EXPECT_EQ(st::first_non_finite(after), "");
    EXPECT_EQ(after.tensors.size(), good.tensors.size());
    int files = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir.path())) files += e.is_regular_file();
    EXPECT_EQ(files, 1);
}
