#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "ned/core/error.hpp"
#include "ned/core/safetensors.hpp"
#include "support/test_support.hpp"

using namespace ned;

TEST(Safetensors, RoundTripKeepsTensorsAndMetadata) {
    st::File f;
    f.metadata = {{"format", "ned.test"}, {"version", "1"}};
    f.tensors["a"] = st::Tensor::f32({2, 3}, {1, 2, 3, 4, 5, 6});
    f.tensors["b"] = st::Tensor::i64({2}, {-1, 7});
    f.tensors["c"] = st::Tensor::u8({3}, {0, 1, 255});
    auto bytes = st::serialize(f);
    // header length is the first 8 bytes, little endian, and the data starts 8-byte aligned
    uint64_t n = 0;
    for (int i = 0; i < 8; ++i) n |= uint64_t(bytes[i]) << (8 * i);
    EXPECT_EQ((8 + n) % 8, 0u);
    auto g = st::parse(bytes, "mem");
    EXPECT_EQ(g.meta("format"), "ned.test");
    ASSERT_TRUE(g.has("a"));
    EXPECT_EQ(g.at("a").shape, (std::vector<int64_t>{2, 3}));
    EXPECT_EQ(g.floats("a")[5], 6.f);
    EXPECT_EQ(g.at("b").ptr<int64_t>()[0], -1);
    EXPECT_EQ(g.at("c").ptr<uint8_t>()[2], 255);
    EXPECT_NO_THROW(g.require_format("ned.test", 1));
    EXPECT_THROW(g.require_format("ned.other", 1), InputError);
}

TEST(Safetensors, ShapeCheckNamesTensor) {
    st::File f;
    f.path = "x.safetensors";
    f.tensors["boxes"] = st::Tensor::f32({2, 4}, std::vector<float>(8, 0.f));
    EXPECT_NO_THROW(f.at("boxes", st::DType::F32, {-1, 4}));
    try {
        f.at("boxes", st::DType::F32, {-1, 5});
        FAIL();
    } catch (const InputError& e) {
        EXPECT_NE(std::string(e.what()).find("boxes"), std::string::npos);
    }
    EXPECT_THROW(f.at("missing"), InputError);
}

TEST(Safetensors, RejectsGarbage) {
    std::vector<uint8_t> junk = {'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd'};
    EXPECT_THROW(st::parse(junk, "junk"), InputError);
    EXPECT_THROW(st::parse(junk, "junk", st::Role::Model), ModelError);
    // header claims a tensor beyond the data
    std::string h = R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})";
    std::vector<uint8_t> b(8 + h.size());
    b[0] = static_cast<uint8_t>(h.size());
    std::copy(h.begin(), h.end(), b.begin() + 8);
    EXPECT_THROW(st::parse(b, "short"), InputError);
}

TEST(Safetensors, SaveIsAtomicAndLoadReadsBack) {
    test::TempDir dir;
    st::File f;
    f.metadata = {{"format", "ned.test"}, {"version", "1"}};
    f.tensors["x"] = st::Tensor::f32({1}, {3.5f});
    st::save(dir / "x.safetensors", f);
    auto g = st::load(dir / "x.safetensors");
    EXPECT_EQ(g.floats("x")[0], 3.5f);
    int files = 0;
    for (auto& e : std::filesystem::directory_iterator(dir.path())) files += e.is_regular_file();
    EXPECT_EQ(files, 1) << "no temporary file may be left behind";
    EXPECT_THROW(st::load(dir / "missing.safetensors"), InputError);
    EXPECT_THROW(st::load(dir / "missing.safetensors", st::Role::Model), ModelError);
}
