#include <gtest/gtest.h>

#include <cmath>

#include "ned/core/error.hpp"
#include "ned/core/torch_util.hpp"
#include "ned/recon/deca.hpp"
#include "support/test_support.hpp"

using namespace ned;
using namespace ned::recon;

namespace {
/// A ned.deca file holding `m`'s parameters and buffers, as scripts/convert_deca.py writes them.
st::File deca_file(const DecaModel& m) {
    st::File f;
    f.metadata = {{"format", "ned.deca"}, {"version", "1"}};
    save_module(*m.E_flame, f, "E_flame.");
    save_module(*m.E_detail, f, "E_detail.");
    save_module(*m.D_detail, f, "D_detail.");
    return f;
}

int64_t count_params(const torch::nn::Module& m) {
    int64_t n = 0;
    for (const auto& p : m.parameters()) n += p.numel();
    return n;
}
}  // namespace

// Expected counts, computed by hand:
//  ResNet-50 without fc (torchvision's 25,557,032 minus fc 2048*1000+1000)      = 23,508,032
//  head: Linear 2048->1024 (2,098,176) + Linear 1024->236 (241,900)            =  2,340,076
//        Linear 1024->128 (131,200)                                              ->  2,229,376
//  D_detail: l1 181*8192+8192 = 1,490,944; convs 147,584+73,792+36,928+18,464+4,624+145 = 281,537;
//            BN affine 2*(128+128+64+64+32+16) = 864                            =  1,773,345
TEST(Deca, ParameterCounts) {
    ResNet50 r;
    EXPECT_EQ(count_params(*r), 23508032);
    ResnetEncoder e(236);
    EXPECT_EQ(count_params(*e), 23508032 + 2340076);
    ResnetEncoder d(128);
    EXPECT_EQ(count_params(*d), 23508032 + 2229376);
    DetailGenerator g;
    EXPECT_EQ(count_params(*g), 1773345);
}

TEST(Deca, StateDictNamesFollowDeca) {
    DecaModel m;
    st::File f;
    save_module(*m.E_flame, f, "E_flame.");
    save_module(*m.D_detail, f, "D_detail.");
    for (const char* name :
         {"E_flame.encoder.conv1.weight", "E_flame.encoder.bn1.running_mean",
          "E_flame.encoder.layer1.0.downsample.0.weight", "E_flame.encoder.layer1.0.downsample.1.running_var",
          "E_flame.encoder.layer3.5.conv3.weight", "E_flame.encoder.layer4.2.bn3.bias", "E_flame.layers.0.weight",
          "E_flame.layers.2.bias", "D_detail.l1.0.weight", "D_detail.conv_blocks.0.running_mean",
          "D_detail.conv_blocks.2.weight", "D_detail.conv_blocks.3.weight", "D_detail.conv_blocks.19.bias",
          "D_detail.conv_blocks.21.weight"})
        EXPECT_TRUE(f.has(name)) << name;
    EXPECT_FALSE(f.has("E_flame.encoder.fc.weight"));
    EXPECT_EQ(f.at("E_flame.layers.2.weight").shape, (std::vector<int64_t>{236, 1024}));
    EXPECT_EQ(f.at("E_flame.encoder.layer2.0.conv2.weight").shape, (std::vector<int64_t>{128, 128, 3, 3}));
    EXPECT_EQ(f.at("D_detail.l1.0.weight").shape, (std::vector<int64_t>{8192, 181}));
    EXPECT_EQ(f.at("D_detail.conv_blocks.21.weight").shape, (std::vector<int64_t>{1, 16, 3, 3}));
    // BatchNorm eps: 1e-5 for the first, 0.8 (DECA's positional argument) for the others
    auto bn0 = m.D_detail->conv_blocks[0]->as<torch::nn::BatchNorm2d>();
    auto bn3 = m.D_detail->conv_blocks[3]->as<torch::nn::BatchNorm2d>();
    ASSERT_TRUE(bn0 && bn3);
    EXPECT_DOUBLE_EQ(bn0->options.eps(), 1e-5);
    EXPECT_DOUBLE_EQ(bn3->options.eps(), 0.8);
}

TEST(Deca, EncodeAndDecodeShapesAndRoundTrip) {
    torch::manual_seed(1);
    DecaModel m;
    st::File f = deca_file(m);
    test::TempDir tmp;
    st::save(tmp / "deca.safetensors", f);
    auto loaded = DecaModel::load(tmp / "deca.safetensors");
    auto img = torch::rand({2, 3, 224, 224});
    auto a = m.encode(img), b = loaded.encode(img);
    EXPECT_EQ(a.shape.sizes(), (std::vector<int64_t>{2, 100}));
    EXPECT_EQ(a.tex.sizes(), (std::vector<int64_t>{2, 50}));
    EXPECT_EQ(a.exp.sizes(), (std::vector<int64_t>{2, 50}));
    EXPECT_EQ(a.pose.sizes(), (std::vector<int64_t>{2, 6}));
    EXPECT_EQ(a.cam.sizes(), (std::vector<int64_t>{2, 3}));
    EXPECT_EQ(a.light.sizes(), (std::vector<int64_t>{2, 9, 3}));
    EXPECT_EQ(a.detail.sizes(), (std::vector<int64_t>{2, 128}));
    EXPECT_TRUE(torch::allclose(a.exp, b.exp, 1e-5, 1e-5));
    EXPECT_TRUE(torch::allclose(a.detail, b.detail, 1e-5, 1e-5));
    // split order: shape | tex | exp | pose | cam | light
    auto code = m.E_flame->forward(img);
    EXPECT_TRUE(torch::allclose(a.exp, code.slice(1, 150, 200)));
    EXPECT_TRUE(torch::allclose(a.cam, code.slice(1, 206, 209)));
    // batch = single (eval-mode BatchNorm). Batch 1 and 2 may use different convolution algorithms through
    // 50 layers, each adding float32 rounding: equal to ~1e-3 relative, not bit for bit.
    auto one = m.encode(img.slice(0, 1, 2), false);
    EXPECT_TRUE(torch::allclose(one.pose[0], a.pose[1], 1e-3, 1e-4));
    EXPECT_FALSE(one.detail.defined());
    auto uvz = loaded.decode_detail(a.detail, a.exp, a.pose.slice(1, 3, 6));
    EXPECT_EQ(uvz.sizes(), (std::vector<int64_t>{2, 1, 256, 256}));
    EXPECT_LE(uvz.abs().max().item<float>(), 0.01f + 1e-6f);
    // missing tensor -> ModelError
    auto missing = f;
    missing.tensors.erase("D_detail.l1.0.bias");
    st::save(tmp / "missing.safetensors", missing);
    EXPECT_THROW(DecaModel::load(tmp / "missing.safetensors"), ModelError);
    EXPECT_THROW(DecaModel::load(tmp / "nope.safetensors"), ModelError);
}

// convert_deca.py version 1 wrote 0-d tensors as [1]; such a file is refused with a message that names the
// converter version and says to convert again, while the current converter's files load.
TEST(Deca, FileFromAnOldConverterNamesTheConverterVersion) {
    test::TempDir tmp;
    st::File f = deca_file(DecaModel());
    const std::string nbt = "E_flame.encoder.bn1.num_batches_tracked";
    ASSERT_TRUE(f.has(nbt));
    ASSERT_TRUE(f.tensors.at(nbt).shape.empty());
    f.tensors[nbt] = st::Tensor::i64({1}, {0});
    st::save(tmp / "old.safetensors", f);
    try {
        DecaModel::load(tmp / "old.safetensors");
        ADD_FAILURE() << "a [1]-shaped num_batches_tracked was accepted";
    } catch (const ModelError& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("num_batches_tracked"), std::string::npos) << msg;
        EXPECT_NE(msg.find("convert_deca.py version 1"), std::string::npos) << msg;
    }
    f.tensors[nbt] = st::Tensor::i64({}, {0});
    f.metadata["converter_version"] = "2";
    st::save(tmp / "new.safetensors", f);
    EXPECT_NO_THROW(DecaModel::load(tmp / "new.safetensors"));
}

// On the CPU a batch is encoded in slices of 2 images (faster: the activations stay in the caches). Each image's
// codes must not depend on the batch it came in: a batch of 5 (slices 2, 2, 1) against the images one by one, equal
// up to the kernels' rounding (float32, u = 2^-24; ResNet-50's longest path has 53 convolutions of K <= 4608
// products: worst case 53 * 4608 u = 0.0146 relative, norm-wise).
TEST(Deca, EncodingInSlicesEqualsOneImageAtATime) {
    torch::manual_seed(4);
    DecaModel m;
    const auto images = torch::rand({5, 3, kDecaImageSize, kDecaImageSize});
    const DecaCodes all = m.encode(images);
    const double bound = 53 * 4608 * std::ldexp(1.0, -24);
    for (int64_t i = 0; i < 5; ++i) {
        const DecaCodes one = m.encode(images.slice(0, i, i + 1));
        for (const auto& [a, b] : {std::make_pair(all.exp, one.exp), std::make_pair(all.shape, one.shape),
                                   std::make_pair(all.detail, one.detail), std::make_pair(all.cam, one.cam)}) {
            const auto x = a.slice(0, i, i + 1).to(torch::kDouble), y = b.to(torch::kDouble);
            EXPECT_LE(((x - y).norm() / y.norm().clamp_min(1e-30)).item<double>(), bound) << "image " << i;
        }
    }
}
