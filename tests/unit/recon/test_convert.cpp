// The Python converters on tiny synthetic inputs, loaded back with the C++ loaders. Skipped when no
// python3 with numpy (and, for convert_deca.py, torch) is found (test::python_with: scripts/find_python.sh).
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "ned/core/error.hpp"
#include "ned/core/torch_util.hpp"
#include "ned/recon/deca.hpp"
#include "ned/recon/flame.hpp"
#include "support/test_support.hpp"

using namespace ned;
using namespace ned::recon;

namespace {

int run(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()); }

const std::string kSrc = NED_SOURCE_DIR;

}  // namespace

TEST(Converters, FlameScriptOnSyntheticInputs) {
    const auto py = test::python_with("numpy");
    if (py.empty())
        GTEST_SKIP() << "no Python with numpy (scripts/find_python.sh; apt install python3-numpy or set NED_PYTHON)";
    test::TempDir tmp;
    ASSERT_EQ(run(py + " " + kSrc + "/tests/unit/recon/make_fake_flame_inputs.py " + tmp.path()), 0);
    const auto out = tmp / "flame.safetensors";
    ASSERT_EQ(run(py + " " + kSrc + "/scripts/convert_flame.py --flame " + (tmp / "generic_model.pkl") +
                  " --deca-data " + tmp.path() + " --out " + out),
              0);
    // refuses to overwrite without -y
    EXPECT_NE(run(py + " " + kSrc + "/scripts/convert_flame.py --flame " + (tmp / "generic_model.pkl") +
                  " --deca-data " + tmp.path() + " --out " + out),
              0);
    auto f = st::load(out, st::Role::Model);
    EXPECT_EQ(f.meta("format"), "ned.flame");
    EXPECT_EQ(f.meta("version"), "1");
    auto m = FlameModel::load(out);
    const int64_t V = 40, F = 30;
    ASSERT_EQ(m.num_vertices(), V);
    ASSERT_EQ(m.num_faces(), F);
    auto v = m.v_template();
    EXPECT_NEAR(v[7][2].item<float>(), 0.001f * (3 * 7 + 2), 1e-7);
    auto faces = m.faces();
    EXPECT_EQ(faces[29][2].item<int64_t>(), (29 + 2) % V);
    auto sd = to_torch(f.at("shapedirs")), ed = to_torch(f.at("exprdirs"));
    EXPECT_NEAR(sd[5][1][299].item<float>(), 1e-4f * ((5 + 1 + 299) % 7), 1e-8);
    EXPECT_NEAR(ed[5][1][3].item<float>(), 1e-4f * ((5 + 1 + 303) % 7), 1e-8);
    auto pd = to_torch(f.at("posedirs"));
    EXPECT_NEAR(pd[9][2][35].item<float>(), 1e-5f * ((27 + 2 + 35) % 5), 1e-9);
    auto J = m.J_regressor();
    EXPECT_FLOAT_EQ(J[3][6].item<float>(), 0.5f);
    EXPECT_FLOAT_EQ(J[3][7].item<float>(), 0.5f);
    EXPECT_FLOAT_EQ(J.sum().item<float>(), 5.0f);
    EXPECT_FLOAT_EQ(m.lbs_weights()[13][3].item<float>(), 1.0f);
    EXPECT_TRUE(torch::equal(m.parents(), torch::tensor({-1, 0, 1, 1, 1}, torch::kLong)));
    auto dyn = to_torch(f.at("dynamic_lmk_faces_idx"));
    EXPECT_EQ(dyn[78][16].item<int64_t>(), (17 * 78 + 16) % F);
    EXPECT_EQ(to_torch(f.at("full_lmk_faces_idx"))[67].item<int64_t>(), (2 * 67) % F);
    EXPECT_NEAR(to_torch(f.at("full_lmk_bary_coords"))[10][2].item<float>(), 0.8f, 1e-6);
    EXPECT_NEAR(to_torch(f.at("static_lmk_bary_coords"))[50][1].item<float>(), 0.3f, 1e-6);
    // UV data
    ASSERT_TRUE(m.has_uv());
    EXPECT_EQ(m.uv_coords().size(0), V + 3);
    EXPECT_NEAR(m.uv_coords()[10][1].item<float>(), 1.f - 10.f / 43.f, 1e-5);
    EXPECT_TRUE(torch::equal(m.uv_faces(), faces + (torch::arange(F) % 3).unsqueeze(1)));
    ASSERT_TRUE(m.has_fixed_displacement());
    EXPECT_NEAR(m.fixed_displacement()[100][20].item<float>(), 1.2e-3f, 1e-8);
    ASSERT_TRUE(m.has_uv_face_eye_mask());
    auto mask = m.uv_face_eye_mask();
    ASSERT_EQ(mask.sizes(), (std::vector<int64_t>{256, 256}));
    EXPECT_FLOAT_EQ(mask.slice(1, 0, 128).min().item<float>(), 1.f);
    EXPECT_FLOAT_EQ(mask.slice(1, 128).max().item<float>(), 0.f);
    // the model runs on the converted asset: zero parameters give the template
    auto o = m.forward(torch::zeros({1, 100}), torch::zeros({1, 50}), torch::zeros({1, 6}));
    EXPECT_TRUE(torch::allclose(o.vertices[0], v));

    // without the DECA extras: FLAME-only asset
    const auto bare = tmp / "bare.safetensors";
    ASSERT_EQ(run(py + " " + kSrc + "/scripts/convert_flame.py --flame " + (tmp / "generic_model.pkl") +
                  " --landmarks " + (tmp / "landmark_embedding.npy") + " --out " + bare),
              0);
    auto mb = FlameModel::load(bare);
    EXPECT_FALSE(mb.has_uv());
    EXPECT_FALSE(mb.has_fixed_displacement());
}

TEST(Converters, DecaScriptKeepsParameterNames) {
    const auto py = test::python_with("numpy torch");
    if (py.empty())
        GTEST_SKIP()
            << "no Python with numpy and torch (scripts/find_python.sh; apt install python3-torch or set NED_PYTHON)";
    test::TempDir tmp;
    // names and shapes of the C++ modules -> a fake deca_model.tar built with torch
    DecaModel ref;
    st::File names;
    save_module(*ref.E_flame, names, "E_flame.");
    save_module(*ref.E_detail, names, "E_detail.");
    save_module(*ref.D_detail, names, "D_detail.");
    {
        std::ofstream os(tmp / "make_tar.py");
        os << "import torch, collections\nsd = {'E_flame': collections.OrderedDict(), 'E_detail': "
              "collections.OrderedDict(), 'D_detail': collections.OrderedDict()}\n";
        for (const auto& [name, t] : names.tensors) {
            auto dot = name.find('.');
            if (name.find("num_batches_tracked") != std::string::npos) {
                os << "sd['" << name.substr(0, dot) << "']['" << name.substr(dot + 1) << "'] = torch.tensor(0)\n";
                continue;
            }
            os << "sd['" << name.substr(0, dot) << "']['" << name.substr(dot + 1) << "'] = torch.full([";
            for (size_t i = 0; i < t.shape.size(); ++i) os << (i ? "," : "") << t.shape[i];
            os << "], " << (name.find("running_var") != std::string::npos ? "1.0" : "0.01") << ")\n";
        }
        os << "sd['opt'] = {'lr': 1}\ntorch.save(sd, '" << (tmp / "deca_model.tar") << "')\n";
    }
    ASSERT_EQ(run(py + " " + (tmp / "make_tar.py")), 0);
    const auto out = tmp / "deca.safetensors";
    ASSERT_EQ(run(py + " " + kSrc + "/scripts/convert_deca.py --deca " + (tmp / "deca_model.tar") + " --out " + out),
              0);
    auto m = DecaModel::load(out);
    auto c = m.encode(torch::rand({1, 3, 224, 224}), true);
    EXPECT_EQ(c.shape.sizes(), (std::vector<int64_t>{1, 100}));
    EXPECT_NEAR(m.E_flame->layers[2]->as<torch::nn::Linear>()->bias[5].item<float>(), 0.01f, 1e-7);
}
