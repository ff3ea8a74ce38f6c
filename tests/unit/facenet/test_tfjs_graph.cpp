// The TF.js graph interpreter: a tiny graph checked against values computed by hand, its errors, and the shipped
// BlazeFace and FaceMesh graphs against TF.js (tests/fixtures/facenet/reference.json).
#include <gtest/gtest.h>

#include <cmath>

#include "ned/core/error.hpp"
#include "ned/facenet/open_models.hpp"
#include "ned/facenet/tfjs_graph.hpp"
#include "support/test_support.hpp"
#include "unit/facenet/parity.hpp"
#include "unit/facenet/tfjs_files.hpp"

using namespace ned::facenet;
using namespace ned::facenet::test;
namespace fs = std::filesystem;

namespace {
// A tiny graph: x [1, 4, 4, 1] -> 1x1 conv (w = 2) + bias 1 + relu -> 3x3/2 max pool SAME -> mean over H, W.
const char* kGraph = R"({"format": "graph-model", "modelTopology": {"node": [
  {"name": "x", "op": "Placeholder"},
  {"name": "w", "op": "Const"}, {"name": "b", "op": "Const"}, {"name": "axes", "op": "Const"},
  {"name": "conv", "op": "_FusedConv2D", "input": ["x", "w", "b"], "attr": {
     "strides": {"list": {"i": ["1", "1", "1", "1"]}}, "padding": {"s": "U0FNRQ=="},
     "fused_ops": {"list": {"s": ["Qmlhc0FkZA==", "UmVsdQ=="]}}}},
  {"name": "pool", "op": "MaxPool", "input": ["conv"], "attr": {
     "ksize": {"list": {"i": ["1", "3", "3", "1"]}}, "strides": {"list": {"i": ["1", "2", "2", "1"]}},
     "padding": {"s": "U0FNRQ=="}}},
  {"name": "mean", "op": "Mean", "input": ["pool", "axes"], "attr": {"keep_dims": {"b": false}}}%EXTRA%]},
  "weightsManifest": [{"paths": ["g.bin"], "weights": [
     {"name": "w", "shape": [1, 1, 1, 1], "dtype": "float32"}, {"name": "b", "shape": [1], "dtype": "float32"},
     {"name": "axes", "shape": [2], "dtype": "int32"}]}]})";
/// The tiny graph (w = 2, b = 1, axes = H, W) with the nodes `extra` appended, written to folder/g.json.
fs::path write_graph(const fs::path& folder, const std::string& extra) {
    std::string bin;
    put<float>(bin, 2.f);
    put<float>(bin, 1.f);
    put<int32_t>(bin, 1);
    put<int32_t>(bin, 2);
    write(folder / "g.bin", bin);
    std::string json = kGraph;
    write(folder / "g.json", json.replace(json.find("%EXTRA%"), 7, extra));
    return folder / "g.json";
}
}  // namespace

TEST(TfjsGraph, RunsConvPoolMeanWithTfSamePadding) {
    ned::test::TempDir tmp;
    const TfjsGraph g(write_graph(tmp.path(), ""));
    const torch::Tensor x = torch::arange(16, torch::kFloat32).reshape({1, 1, 4, 4});  // NCHW
    // conv: 2x + 1. SAME 3x3/2 pooling of 4x4 pads one row/column at the bottom/right only (TF), so the
    // windows' maxima are x(2,2), x(2,3), x(3,2), x(3,3) = 10, 11, 14, 15 -> 21, 23, 29, 31.
    const torch::Tensor pool = g.run(x, "pool");
    ASSERT_EQ(pool.sizes(), (std::vector<int64_t>{1, 1, 2, 2}));
    EXPECT_EQ(pool.flatten()[0].item<float>(), 21.f);
    EXPECT_EQ(pool.flatten()[1].item<float>(), 23.f);
    EXPECT_EQ(pool.flatten()[2].item<float>(), 29.f);
    EXPECT_EQ(pool.flatten()[3].item<float>(), 31.f);
    const torch::Tensor mean = g.run(x);  // last node
    ASSERT_EQ(mean.sizes(), (std::vector<int64_t>{1, 1}));
    EXPECT_EQ(mean.item<float>(), 26.f);
}

TEST(TfjsGraph, UnsupportedOpsAreModelErrors) {
    ned::test::TempDir tmp;
    const TfjsGraph g(write_graph(tmp.path(), R"(, {"name": "odd", "op": "Erf", "input": ["mean"]})"));
    EXPECT_THROW(g.run(torch::zeros({1, 1, 4, 4})), ned::ModelError);
    write(tmp / "n.json", R"({"format": "layers-model"})");
    EXPECT_THROW(TfjsGraph(tmp / "n.json"), ned::ModelError);
}

TEST(TfjsGraph, MatchesTfjsOnBlazeFaceAndFaceMesh) {
    // @vladmandic/human's BlazeFace and FaceMesh graphs (Pad on channels, Reshape in NHWC order, Prelu, float16
    // weights) on the synthetic pattern of scripts/tfjs_reference.mjs; every stride-th output value is compared.
    // Tolerance as parity.hpp: ~40 layers with K <= 128 (1x1) or 25 (5x5 depthwise): sum K < 1e4, relative to the
    // output's largest magnitude (the outputs are pixel coordinates and logits, up to ~150).
    const double rel = kSigmas * std::sqrt(1e4) * kU;
    const auto graphs = reference()["graphs"];
    for (const char* name : {"blazeface", "facemesh"}) {
        const auto g = graphs[name];
        const int size = g["input_size"].get<int>();
        const float scale = g["scale"].get<float>(), offset = g["offset"].get<float>();
        const int stride = g["stride"].get<int>();
        torch::Tensor x = torch::empty({1, 3, size, size});
        auto a = x.accessor<float, 4>();
        for (int y = 0; y < size; ++y)
            for (int xx = 0; xx < size; ++xx)
                for (int c = 0; c < 3; ++c)
                    a[0][c][y][xx] = float((7 * xx + 13 * y + 50 * c + ((xx * y) % 31)) % 256) * scale + offset;
        const TfjsGraph graph(open_models_dir() / (std::string(name) + ".json"));
        for (const auto& [out_name, ref] : g["outputs"].items()) {
            torch::Tensor o = graph.run(x, out_name);
            if (o.dim() == 4) o = o.permute({0, 2, 3, 1});
            o = o.contiguous().flatten();
            std::vector<int64_t> shape = ref["shape"].get<std::vector<int64_t>>();
            int64_t n = 1;
            for (auto d : shape) n *= d;
            ASSERT_EQ(o.numel(), n) << name << " " << out_name;
            double err = 0, mag = 1;
            const auto& v = ref["values"];
            for (size_t i = 0; i < v.size(); ++i) mag = std::max(mag, std::abs(v[i].get<double>()));
            for (size_t i = 0; i < v.size(); ++i)
                err = std::max(err, std::abs(o[int64_t(i) * stride].item<double>() - v[i].get<double>()));
            EXPECT_LE(err, rel * mag) << name << " " << out_name;
            std::printf("%s %s: max error %.3g (magnitude %.3g)\n", name, out_name.c_str(), err, mag);
        }
    }
}
