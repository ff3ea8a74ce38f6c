// TF.js weights manifest reader: every storage the format allows, checked against values computed here.
#include <gtest/gtest.h>

#include <cmath>

#include "ned/core/error.hpp"
#include "ned/facenet/tfjs_weights.hpp"
#include "support/test_support.hpp"
#include "unit/facenet/tfjs_files.hpp"

using namespace ned::facenet;
using namespace ned::facenet::test;

TEST(TfjsWeights, DecodesRawQuantisedAndHalfWeights) {
    ned::test::TempDir tmp;
    std::string shard1, shard2;
    put<float>(shard1, 1.5f);  // w32: float32 [2]
    put<float>(shard1, -2.25f);
    put<int32_t>(shard1, -7);                               // i32: int32 []
    for (uint8_t q : {0, 1, 255}) put<uint8_t>(shard1, q);  // q8: uint8 affine [3]
    put<uint16_t>(shard2, 0);                               // q16: uint16 affine [2]
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
        {"name": "q8", "shape": [3], "dtype": "float32",
         "quantization": {"dtype": "uint8", "scale": 0.1, "min": -1.0}}]},
      {"paths": ["c.bin"], "weights": [
        {"name": "q16", "shape": [2, 1], "dtype": "float32",
         "quantization": {"dtype": "uint16", "scale": 0.001, "min": 2.0}},
        {"name": "f16", "shape": [2, 2], "dtype": "float32", "quantization": {"dtype": "float16"}},
        {"name": "qi", "shape": [1], "dtype": "int32",
         "quantization": {"dtype": "uint8", "scale": 0.5, "min": 0.2}}]}])");
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
