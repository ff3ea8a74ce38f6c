// The safetensors reader on hostile headers (issue 10): every size taken from the file is checked before use,
// so a corrupted or malicious file is an InputError / ModelError naming the tensor, never UB or a bad_alloc.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "ned/core/error.hpp"
#include "ned/core/safetensors.hpp"

using namespace ned;

namespace {
// A file with the given JSON header and `data_bytes` zero bytes of data.
std::vector<uint8_t> file_with_header(const std::string& header, size_t data_bytes = 16) {
    std::vector<uint8_t> out(8 + header.size() + data_bytes, 0);
    const uint64_t n = header.size();
    for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(n >> (8 * i));
    for (size_t i = 0; i < header.size(); ++i) out[8 + i] = static_cast<uint8_t>(header[i]);
    return out;
}
std::string tensor(const std::string& dtype, const std::string& shape, const std::string& offsets) {
    return "{\"t\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":" + offsets + "}}";
}
}  // namespace

TEST(SafetensorsHostile, CheckedByteSize) {
    uint64_t b = 0;
    EXPECT_TRUE(st::checked_byte_size({2, 3}, 4, b));
    EXPECT_EQ(b, 24u);
    EXPECT_TRUE(st::checked_byte_size({}, 4, b));  // a scalar
    EXPECT_EQ(b, 4u);
    EXPECT_TRUE(st::checked_byte_size({0, 1000000}, 8, b));
    EXPECT_EQ(b, 0u);
    EXPECT_FALSE(st::checked_byte_size({-1, 4}, 4, b));
    EXPECT_FALSE(st::checked_byte_size({INT64_MAX, 2}, 1, b));
    EXPECT_FALSE(st::checked_byte_size({INT64_MAX}, 4, b));
    EXPECT_FALSE(st::checked_byte_size({1 << 30, 1 << 30, 1 << 30}, 4, b));
    EXPECT_FALSE(st::checked_byte_size({4611686018427387904LL, 4}, 1, b));  // 2^62 * 4 wraps to 0
    EXPECT_TRUE(st::checked_byte_size({1LL << 20, 1LL << 20}, 8, b));
    EXPECT_EQ(b, 8ull << 40);
}

TEST(SafetensorsHostile, NumelRefusesOverflow) {
    st::Tensor t;
    t.shape = {INT64_MAX, INT64_MAX};
    EXPECT_THROW(t.numel(), Error);
    t.shape = {-3};
    EXPECT_THROW(t.numel(), Error);
}

TEST(SafetensorsHostile, BadHeadersAreInputOrModelErrors) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {tensor("F32", "[-1,4]", "[0,16]"), "negative dimension"},
        {tensor("F32", "[4611686018427387904,4]", "[0,0]"), "size wraps to 0 (2^62 x 4 x 4 bytes)"},
        {tensor("F32", "[9223372036854775807,9223372036854775807]", "[0,16]"), "huge dimensions"},
        {tensor("F32", "[18446744073709551615]", "[0,16]"), "dimension above INT64_MAX"},
        {tensor("F32", "[2.5]", "[0,16]"), "fractional dimension"},
        {tensor("F32", "\"abc\"", "[0,16]"), "shape not a list"},
        {tensor("F32", "[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]", "[0,4]"), "17 dimensions"},
        {tensor("F32", "[4]", "[0,17]"), "offsets past the data"},
        {tensor("F32", "[4]", "[8,0]"), "begin after end"},
        {tensor("F32", "[4]", "[18446744073709551615,16]"), "begin huge"},
        {tensor("F32", "[4]", "[-16,0]"), "negative offset"},
        {tensor("F32", "[4]", "[0]"), "one offset"},
        {tensor("F32", "[2]", "[0,16]"), "byte count does not match the shape"},
        {tensor("Q4", "[4]", "[0,16]"), "unknown dtype"},
        {"{\"t\":{\"dtype\":\"F32\",\"shape\":[4]}}", "no offsets"},
        {"{\"t\":7}", "tensor entry not an object"},
        {"[1,2,3]", "header not an object"},
        {"{\"__metadata__\":\"x\"}", "metadata not an object"},
        {"{\"t\":", "truncated JSON"},
    };
    for (const auto& [header, what] : cases) {
        const auto bytes = file_with_header(header);
        EXPECT_THROW(st::parse(bytes, "hostile.safetensors", st::Role::Input), InputError) << what;
        EXPECT_THROW(st::parse(bytes, "hostile.safetensors", st::Role::Model), ModelError) << what;
        try {
            st::parse(bytes, "hostile.safetensors", st::Role::Input);
        } catch (const InputError& e) {
            EXPECT_NE(std::string(e.what()).find("hostile.safetensors"), std::string::npos) << e.what();
        }
    }
}

TEST(SafetensorsHostile, HeaderLengthBeyondTheFile) {
    std::vector<uint8_t> bytes(16, 0);
    for (int i = 0; i < 8; ++i) bytes[i] = 0xff;  // 2^64 - 1
    EXPECT_THROW(st::parse(bytes, "x", st::Role::Input), InputError);
    bytes.assign(8, 0);
    EXPECT_THROW(st::parse(bytes, "x", st::Role::Input), InputError);
    EXPECT_THROW(st::parse({1, 2, 3}, "x", st::Role::Model), ModelError);
}

TEST(SafetensorsHostile, ValidEdgeCasesStillParse) {
    // Empty tensor and a scalar.
    const auto bytes = file_with_header(
        "{\"e\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[0,0]},"
        "\"s\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]}}",
        8);
    const st::File f = st::parse(bytes, "ok");
    EXPECT_EQ(f.at("e").numel(), 0);
    EXPECT_EQ(f.at("s").numel(), 1);
}
