// TF.js weights manifest reader: every storage the format allows, checked against values computed here.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>

#include "ned/core/error.hpp"
#include "ned/facenet/tfjs_weights.hpp"
#include "support/test_support.hpp"

using namespace ned::facenet;
namespace fs = std::filesystem;

namespace {
void write(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }
template <typename T>
void put(std::string& buf, T v) {
    char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    buf.append(b, sizeof(T));
}
}  // namespace

TEST(TfjsWeights, DecodesRawQuantisedAndHalfWeights) {
    ned::test::TempDir tmp;
    std::string shard1, shard2;
    put<float>(shard1, 1.5f);  // w32: float32 [2]
    put<float>(shard1, -2.25f);
    put<int32_t>(shard1, -7);  // i32: int32 []
    for (uint8_t q : {0, 1, 255}) put<uint8_t>(shard1, q);  // q8: uint8 affine [3]
    put<uint16_t>(shard2, 0);      // q16: uint16 affine [2]
    put<uint16_t>(shard2, 65535);
    for (uint16_t h : {0x3c00, 0xc000, 0x0001, 0x7bff}) put<uint16_t>(shard2, h);  // f16: 1, -2, 2^-24, 65504
    put<uint8_t>(shard2, 3);  // qi: int32 quantised: round(3 * 0.5 + 0.2) = 2
    write((tmp / "a.bin"), shard1.substr(0, 5));
    write((tmp / "b.bin"), shard1.substr(5));
    write((tmp / "c.bin"), shard2);
    write((tmp / "m.json"), R"([
      {"paths": ["a.bin", "b.bin"], "weights": [
        {"name": "w32", "shape": [2], "dtype": "float32"},
        {"name": "i32", "shape": [], "dtype": "int32"},
        {"name": "q8", "shape": [3], "dtype": "float32", "quantization": {"dtype": "uint8", "scale": 0.1, "min": -1.0}}]},
      {"paths": ["c.bin"], "weights": [
        {"name": "q16", "shape": [2, 1], "dtype": "float32", "quantization": {"dtype": "uint16", "scale": 0.001, "min": 2.0}},
        {"name": "f16", "shape": [2, 2], "dtype": "float32", "quantization": {"dtype": "float16"}},
        {"name": "qi", "shape": [1], "dtype": "int32", "quantization": {"dtype": "uint8", "scale": 0.5, "min": 0.2}}]}])");
    const WeightMap m = load_tfjs_weights((tmp / "m.json"));
    ASSERT_EQ(m.size(), 6u);
    const auto f = [&](const char* n, int i) { return m.at(n).flatten()[i].item<float>(); };
    EXPECT_EQ(f("w32", 0), 1.5f);
    EXPECT_EQ(f("w32", 1), -2.25f);
    EXPECT_EQ(m.at("i32").dim(), 0);
    EXPECT_EQ(m.at("i32").item<int32_t>(), -7);
    EXPECT_EQ(f("q8", 0), float(0 * 0.1 - 1.0));
    EXPECT_EQ(f("q8", 1), float(1 * 0.1 - 1.0));
    EXPECT_EQ(f("q8", 2), float(255 * 0.1 - 1.0));
    EXPECT_EQ(m.at("q16").sizes(), (std::vector<int64_t>{2, 1}));
    EXPECT_EQ(f("q16", 1), float(65535 * 0.001 + 2.0));
    EXPECT_EQ(f("f16", 0), 1.0f);
    EXPECT_EQ(f("f16", 1), -2.0f);
    EXPECT_EQ(f("f16", 2), std::ldexp(1.0f, -24));
    EXPECT_EQ(f("f16", 3), 65504.0f);
    EXPECT_EQ(m.at("qi").scalar_type(), torch::kInt32);
    EXPECT_EQ(m.at("qi")[0].item<int32_t>(), 2);
    EXPECT_EQ(weight(m, "f16", 2, "m.json").size(0), 2);
    EXPECT_THROW(weight(m, "f16", 4, "m.json"), ned::ModelError);
    EXPECT_THROW(weight(m, "nope", -1, "m.json"), ned::ModelError);
}

TEST(TfjsWeights, BrokenManifestsAreModelErrors) {
    ned::test::TempDir tmp;
    EXPECT_THROW(load_tfjs_weights((tmp / "missing.json")), ned::ModelError);
    write((tmp / "bad.json"), "{not json");
    EXPECT_THROW(load_tfjs_weights((tmp / "bad.json")), ned::ModelError);
    write((tmp / "s.bin"), std::string(7, '\0'));  // 8 bytes needed
    write((tmp / "short.json"),
          R"([{"paths": ["s.bin"], "weights": [{"name": "w", "shape": [2], "dtype": "float32"}]}])");
    EXPECT_THROW(load_tfjs_weights((tmp / "short.json")), ned::ModelError);
    write((tmp / "noshard.json"),
          R"([{"paths": ["absent.bin"], "weights": [{"name": "w", "shape": [2], "dtype": "float32"}]}])");
    EXPECT_THROW(load_tfjs_weights((tmp / "noshard.json")), ned::ModelError);
    write((tmp / "dtype.json"),
          R"([{"paths": ["s.bin"], "weights": [{"name": "w", "shape": [1], "dtype": "string"}]}])");
    EXPECT_THROW(load_tfjs_weights((tmp / "dtype.json")), ned::ModelError);
}

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
std::string graph_json(const std::string& extra) {
    std::string s = kGraph;
    return s.replace(s.find("%EXTRA%"), 7, extra);
}
}  // namespace

TEST(TfjsGraph, RunsConvPoolMeanWithTfSamePadding) {
    ned::test::TempDir tmp;
    std::string bin;
    put<float>(bin, 2.f);
    put<float>(bin, 1.f);
    put<int32_t>(bin, 1);
    put<int32_t>(bin, 2);
    write(tmp / "g.bin", bin);
    write(tmp / "g.json", graph_json(""));
    const TfjsGraph g(tmp / "g.json");
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
    std::string bin;
    put<float>(bin, 2.f);
    put<float>(bin, 1.f);
    put<int32_t>(bin, 1);
    put<int32_t>(bin, 2);
    write(tmp / "g.bin", bin);
    write(tmp / "g.json", graph_json(R"(, {"name": "odd", "op": "Erf", "input": ["mean"]})"));
    const TfjsGraph g(tmp / "g.json");
    EXPECT_THROW(g.run(torch::zeros({1, 1, 4, 4})), ned::ModelError);
    write(tmp / "n.json", R"({"format": "layers-model"})");
    EXPECT_THROW(TfjsGraph(tmp / "n.json"), ned::ModelError);
}
