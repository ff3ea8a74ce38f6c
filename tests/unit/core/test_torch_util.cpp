#include <gtest/gtest.h>

#include "ned/core/error.hpp"
#include "ned/core/torch_util.hpp"

using namespace ned;

TEST(TorchUtil, SafetensorsRoundTrip) {
    auto t = torch::arange(12, torch::kFloat32).reshape({3, 4}).t();  // non-contiguous
    auto s = from_torch(t);
    EXPECT_EQ(s.shape, (std::vector<int64_t>{4, 3}));
    EXPECT_TRUE(torch::equal(to_torch(s), t.contiguous()));
}

TEST(TorchUtil, LoadModuleStrictChecksNamesAndShapes) {
    torch::nn::Sequential a(torch::nn::Linear(3, 2), torch::nn::BatchNorm1d(2));
    torch::nn::Sequential b(torch::nn::Linear(3, 2), torch::nn::BatchNorm1d(2));
    st::File f;
    f.path = "mem";
    save_module(*a, f, "net.");
    load_module(*b, f, "net.");
    EXPECT_TRUE(torch::equal(a[0]->as<torch::nn::Linear>()->weight, b[0]->as<torch::nn::Linear>()->weight));
    st::File missing = f;
    missing.tensors.erase("net.0.bias");
    EXPECT_THROW(load_module(*b, missing, "net."), ModelError);
    st::File extra = f;
    extra.tensors["net.9.weight"] = f.tensors["net.0.bias"];
    EXPECT_THROW(load_module(*b, extra, "net."), ModelError);
    torch::nn::Sequential c(torch::nn::Linear(4, 2), torch::nn::BatchNorm1d(2));
    EXPECT_THROW(load_module(*c, f, "net."), ModelError);
}
