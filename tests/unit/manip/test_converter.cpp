// Tests of scripts/convert_ned_manipulator.py: its pure-Python safetensors writer (always, when python3
// exists) and a real .pth conversion (only when Python has torch). Python is found by test::python_with
// (scripts/find_python.sh), the same rule as every other converter test.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "ned/core/safetensors.hpp"
#include "ned/core/torch_util.hpp"
#include "ned/manip/networks.hpp"
#include "support/test_support.hpp"

using namespace ned;
using namespace ned::manip;

namespace {
int sh(const std::string& cmd) { return std::system(cmd.c_str()); }

}  // namespace

TEST(ManipConverter, PurePythonWriterProducesALoadableNedLayoutCheckpoint) {
    const std::string py = test::python_with("struct json");
    if (py.empty()) GTEST_SKIP() << "no Python found (scripts/find_python.sh; set NED_PYTHON)";
    test::TempDir dir;
    const std::string out = dir / "rand.safetensors", sums = dir / "sums.json";
    ASSERT_EQ(sh(py + " " NED_MANIP_CONVERTER " --random-layout " + out + " --sums " + sums + " --seed 4"), 0);
    bool has_d = false;
    Nets nets = load_checkpoint(out, &has_d);  // strict: every NED name and shape must be there
    EXPECT_TRUE(has_d);
    std::ifstream in(sums);
    auto j = nlohmann::json::parse(in);
    const st::File f = st::load(out);
    EXPECT_EQ(f.meta("format"), "ned.manipulator");
    EXPECT_EQ(j.size(), f.tensors.size());
    for (const auto& [name, s] : j.items()) {
        auto v = f.floats(name);
        double total = 0;
        for (float x : v) total += x;
        EXPECT_NEAR(total, s.get<double>(), 1e-3 * (1 + std::abs(s.get<double>()))) << name;
    }
}

TEST(ManipConverter, RoundTripOfARandomNedStateDict) {
    const std::string py = test::python_with("torch");
    if (py.empty())
        GTEST_SKIP() << "no Python with torch (scripts/find_python.sh; apt install python3-torch or set NED_PYTHON)";
    test::TempDir dir;
    const std::string pth = dir / "02_nets_finetuned.pth", out = dir / "m.safetensors", ref = dir / "ref.safetensors";
    ASSERT_EQ(sh(py + " " NED_MANIP_CONVERTER " --make-random-pth " + pth + " --reference-output " + ref), 0);
    ASSERT_EQ(sh(py + " " NED_MANIP_CONVERTER " " + pth + " " + out), 0);
    Nets nets = load_checkpoint(out);
    // The script also stored G(x, M(z, y)) computed by PyTorch for fixed inputs: compare.
    const st::File r = st::load(ref);
    torch::NoGradGuard ng;
    auto x = to_torch(r.at("x"));
    auto z = to_torch(r.at("z"));
    auto y = to_torch(r.at("y")).to(torch::kLong);
    auto s = nets.mapping_network->forward(z, y);
    auto g = nets.generator->forward(x, s);
    EXPECT_TRUE(torch::allclose(g, to_torch(r.at("g")), 1e-4, 1e-5));
    EXPECT_TRUE(torch::allclose(nets.style_encoder->forward(x), to_torch(r.at("e")), 1e-4, 1e-5));
}
