// scripts/convert_ned_renderer.py on a randomly initialised NED-layout renderer (declared with torch.nn in
// the script's self-test mode): the converted file loads and the generator reproduces PyTorch's output.
// Skipped when no Python with numpy and torch is found (test::python_with: scripts/find_python.sh).
#include <gtest/gtest.h>

#include <cstdlib>

#include "ned/core/safetensors.hpp"
#include "ned/core/torch_util.hpp"
#include "ned/renderer/checkpoint.hpp"
#include "support/test_support.hpp"

using namespace ned;
using namespace ned::renderer;

namespace {

int run(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()); }

const std::string kScripts = std::string(NED_SOURCE_DIR) + "/scripts/";

}  // namespace

TEST(RendererConverter, NedLayoutStateDictsRoundTrip) {
    const std::string py = test::python_with("numpy torch");
    if (py.empty()) GTEST_SKIP() << "no python3 with numpy and torch (scripts/find_python.sh; set NED_PYTHON)";
    test::TempDir tmp;
    ASSERT_EQ(
        run(py + " " + kScripts + "convert_ned_renderer.py --make-random " + tmp.path() + " --ngf 4 --n-blocks 3"), 0);
    const std::string out = tmp / "renderer.safetensors";
    ASSERT_EQ(run(py + " " + kScripts + "convert_ned_renderer.py " + (tmp / "latest_net_G.pth") + " " + out), 0);

    const st::File f = st::load(out);
    EXPECT_EQ(f.meta("format"), "ned.renderer");
    for (const auto& [name, t] : f.tensors) {
        EXPECT_EQ(name.find("resnetblock_sequential"), std::string::npos) << name;
        EXPECT_EQ(name.find("running_"), std::string::npos) << name;
        EXPECT_EQ(name.find("num_batches_tracked"), std::string::npos) << name;
    }
    RendererNets nets = load_renderer(out, torch::kCPU, /*with_discriminators=*/true);
    GeneratorConfig want;
    want.ngf = 4;
    want.n_blocks = 3;
    EXPECT_EQ(nets.generator->cfg, want);
    ASSERT_FALSE(nets.discriminator.is_empty());
    ASSERT_FALSE(nets.mouth_discriminator.is_empty());
    DiscriminatorConfig dc;
    dc.ndf = 4;
    EXPECT_EQ(nets.discriminator->cfg, dc);

    // Every tensor of the .pth was kept (sum of all weights and biases equals the Python sum).
    const st::File ref = st::load(tmp / "reference.safetensors");
    double sum = 0;
    for (const auto& p : nets.generator->parameters()) sum += p.to(torch::kDouble).sum().item<double>();
    EXPECT_NEAR(sum, to_torch(ref.at("g_sum")).item<double>(), 1e-6 * (1 + std::abs(sum)));

    // Same output as NED's forward in PyTorch: 30-channel input, 3 frames x [nmfc, eyes, shape, mask],
    // the mask = the last channel. Float32 rounding of two convolution implementations differs by ~1e-6
    // relative; instance norm divides by the per-channel std (O(0.1) here), so 1e-4 is a wide margin.
    torch::NoGradGuard ng;
    const auto input = to_torch(ref.at("input"));
    std::vector<torch::Tensor> chunks;
    for (int k = 0; k < 3; ++k) chunks.push_back(input.narrow(1, 10 * k, 9));
    const auto mask = input.narrow(1, 29, 1);
    const auto got = nets.generator->forward(torch::cat(chunks, 1), to_torch(ref.at("prev")), mask);
    const auto expected = to_torch(ref.at("output"));
    EXPECT_LT((got - expected).abs().max().item<float>(), 1e-4f);
    EXPECT_TRUE(torch::all(got.masked_select((mask == 0).expand_as(got)) == -1).item<bool>());

    // --no-discriminators keeps the generator only
    const std::string g_only = tmp / "g_only.safetensors";
    ASSERT_EQ(run(py + " " + kScripts + "convert_ned_renderer.py " + (tmp / "latest_net_G.pth") + " " + g_only +
                  " --no-discriminators"),
              0);
    const RendererNets g = load_renderer(g_only, torch::kCPU, true);
    EXPECT_TRUE(g.discriminator.is_empty());
}
