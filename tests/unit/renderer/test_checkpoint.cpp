// Renderer checkpoint (ned.renderer v1): round trip, sizes read from the shapes, names, errors.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "ned/core/error.hpp"
#include "ned/core/safetensors.hpp"
#include "ned/renderer/checkpoint.hpp"
#include "support/test_support.hpp"
#include "unit/renderer/synthetic_renderer.hpp"

using namespace ned;
using namespace ned::renderer;

TEST(RendererCheckpoint, RoundTripKeepsSizesWeightsAndOutputs) {
    test::TempDir tmp;
    const std::string path = test::write_synthetic_renderer(tmp / "renderer.safetensors", /*with_discriminators=*/true);
    const st::File f = st::load(path);
    EXPECT_EQ(f.meta("format"), "ned.renderer");
    EXPECT_EQ(f.meta("version"), "1");
    for (const auto& [name, t] : f.tensors) {
        EXPECT_TRUE(name.rfind("generator.", 0) == 0 || name.rfind("discriminator.", 0) == 0 ||
                    name.rfind("mouth_discriminator.", 0) == 0)
            << name;
        EXPECT_EQ(name.find("resnetblock_sequential"), std::string::npos) << name;
        EXPECT_EQ(name.find("running_"), std::string::npos) << name;
        EXPECT_EQ(t.dtype, st::DType::F32) << name;
    }
    EXPECT_TRUE(f.has("mouth_discriminator.scale1_layer4.0.bias"));

    RendererNets nets = load_renderer(path, torch::kCPU, true);
    EXPECT_EQ(nets.generator->cfg, test::small_generator_config());
    ASSERT_FALSE(nets.discriminator.is_empty());
    ASSERT_FALSE(nets.mouth_discriminator.is_empty());
    DiscriminatorConfig dc;
    dc.ndf = 4;
    EXPECT_EQ(nets.discriminator->cfg, dc);
    EXPECT_EQ(nets.mouth_discriminator->cfg, dc);

    // same weights as the saved module (write_synthetic_renderer seeds 7 before building it)
    torch::manual_seed(7);
    Generator ref(test::small_generator_config());
    init_weights(*ref);
    torch::NoGradGuard ng;
    const auto cond = torch::rand({1, 27, 32, 32});
    const auto prev = torch::rand({1, 6, 32, 32}) * 2 - 1;
    const auto mask = torch::ones({1, 1, 32, 32});
    EXPECT_TRUE(torch::equal(nets.generator->forward(cond, prev, mask), ref->forward(cond, prev, mask)));

    // the generator alone loads; the discriminators are optional
    Generator g = load_generator(path);
    EXPECT_EQ(parameter_count(*g), generator_parameter_count(test::small_generator_config()));
}

TEST(RendererCheckpoint, GeneratorOnlyFileHasNoDiscriminators) {
    test::TempDir tmp;
    const std::string path = test::write_synthetic_renderer(tmp / "renderer.safetensors", false);
    const RendererNets nets = load_renderer(path, torch::kCPU, true);
    EXPECT_TRUE(nets.discriminator.is_empty());
    EXPECT_TRUE(nets.mouth_discriminator.is_empty());
}

TEST(RendererCheckpoint, BadFilesAreModelErrors) {
    test::TempDir tmp;
    EXPECT_THROW(load_generator(tmp / "missing.safetensors"), ModelError);

    const std::string path = test::write_synthetic_renderer(tmp / "renderer.safetensors", false);
    st::File f = st::load(path);
    st::File wrong = f;
    wrong.metadata["format"] = "ned.manipulator";
    st::save(tmp / "wrong_format.safetensors", wrong);
    EXPECT_THROW(load_generator(tmp / "wrong_format.safetensors"), ModelError);

    st::File missing = f;
    missing.tensors.erase("generator.model_final_img.1.bias");
    st::save(tmp / "missing_tensor.safetensors", missing);
    EXPECT_THROW(load_generator(tmp / "missing_tensor.safetensors"), ModelError);

    st::File extra = f;
    extra.tensors["generator.model_res_img.0.resnetblock_sequential.1.weight"] =
        f.tensors.at("generator.model_res_img.0.conv_block.1.weight");
    st::save(tmp / "extra.safetensors", extra);
    EXPECT_THROW(load_generator(tmp / "extra.safetensors"), ModelError);

    // 3 blocks split 1 + 2 instead of NED's 2 + 1
    st::File split = f;
    split.tensors.erase("generator.model_down_img.14.conv_block.1.weight");
    for (auto& [name, t] : std::map<std::string, st::Tensor>(split.tensors)) {
        const std::string from = "generator.model_down_seg.14.";
        if (name.rfind(from, 0) == 0) {
            split.tensors["generator.model_res_img.1." + name.substr(from.size())] = t;
            split.tensors.erase(name);
        }
    }
    st::save(tmp / "split.safetensors", split);
    EXPECT_THROW(load_generator(tmp / "split.safetensors"), ModelError);
}

// No checkpoint with a non-finite value is ever written under its final name (a diverged run wrote renderer.safetensors
// with every weight NaN): save_renderer refuses it with ned::Error naming the tensor, writes nothing, and an earlier
// file under that name stays as it was.
TEST(RendererCheckpoint, NonFiniteWeightsAreNeverWritten) {
    test::TempDir tmp;
    const std::string path = test::write_synthetic_renderer(tmp / "renderer.safetensors", false);
    const st::File good = st::load(path);
    torch::manual_seed(1);
    Generator g(test::small_generator_config());
    DiscriminatorConfig dc;
    dc.ndf = 4;
    MultiscaleDiscriminator d(dc);
    for (const float bad : {std::nanf(""), INFINITY, -INFINITY}) {
        {
            torch::NoGradGuard ng;
            g->named_parameters()["model_final_img.1.bias"][0] = bad;
        }
        for (const std::string& target : {path, tmp / "new.safetensors"}) {
            try {
                save_renderer(target, g, d, MultiscaleDiscriminator{nullptr});
                ADD_FAILURE() << "a generator with " << bad << " was written to " << target;
            } catch (const ModelError&) {
                ADD_FAILURE() << "not a model error";
            } catch (const Error& e) {
                EXPECT_NE(std::string(e.what()).find("generator.model_final_img.1.bias"), std::string::npos)
                    << e.what();
            }
        }
        EXPECT_FALSE(std::filesystem::exists(tmp / "new.safetensors"));
    }
    // the earlier file is untouched, and nothing else (no temporary file) is left in the folder
    const st::File after = st::load(path);
    EXPECT_EQ(after.tensors.at("generator.model_final_img.1.bias").data,
              good.tensors.at("generator.model_final_img.1.bias").data);
    int files = 0;
    for (const auto& e : std::filesystem::directory_iterator(tmp.path())) files += e.is_regular_file();
    EXPECT_EQ(files, 1);
    // the same rule for any file a trainer writes (the state with the Adam moments): F32, F16 and BF16
    st::File f;
    f.tensors["a"] = st::Tensor::f32({2}, {1.f, 2.f});
    EXPECT_NO_THROW(require_finite(f, "x"));
    f.tensors["b"] = st::Tensor::f32({2}, {1.f, INFINITY});
    EXPECT_THROW(require_finite(f, "x"), Error);
    f.tensors.erase("b");
    st::Tensor h;
    h.dtype = st::DType::F16;
    h.shape = {1};
    h.data = {0x00, 0x7C};  // +inf in half precision
    f.tensors["h"] = h;
    EXPECT_THROW(require_finite(f, "x"), Error);
    h.dtype = st::DType::BF16;
    h.data = {0xC0, 0x7F};  // NaN in bfloat16
    f.tensors["h"] = h;
    EXPECT_THROW(require_finite(f, "x"), Error);
}
