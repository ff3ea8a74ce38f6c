// Model resolution (models folder, ./models, overrides) and the checks made before any decoding.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "ned/core/error.hpp"
#include "ned/core/safetensors.hpp"
#include "ned/pipeline/translate.hpp"
#include "support/test_support.hpp"

namespace fs = std::filesystem;
using ned::pipeline::ModelPaths;
using ned::pipeline::ModelSearch;

namespace {
void write_model(const std::string& path, const std::string& format) {
    ned::st::File f;
    f.metadata = {{"format", format}, {"version", "1"}};
    f.tensors["x"] = ned::st::Tensor::f32({1}, {0.f});
    ned::st::save(path, f);
}
std::string message_of(const ModelPaths& m) {
    try {
        ned::pipeline::check_models(m);
    } catch (const ned::ModelError& e) {
        return e.what();
    }
    return {};
}
}  // namespace

TEST(PipelineModels, ResolveFromFolderEnvironmentAndOverrides) {
    ned::test::TempDir dir;
    ModelSearch s;
    s.models_dir = dir.path();
    ModelPaths m = ned::pipeline::resolve_models(s);
    EXPECT_EQ(m.flame, dir / "flame.safetensors");
    EXPECT_EQ(m.manipulator, dir / "manipulator.safetensors");
    EXPECT_TRUE(m.deca.empty());  // optional and absent
    EXPECT_TRUE(m.segmentation.empty());
    write_model(dir / "deca.safetensors", "ned.deca");
    write_model(dir / "unet.safetensors", "ned.fsgan_unet");
    m = ned::pipeline::resolve_models(s);
    EXPECT_EQ(m.deca, dir / "deca.safetensors");
    EXPECT_EQ(m.segmentation, dir / "unet.safetensors");
    s.flame = "/elsewhere/flame.safetensors";
    EXPECT_EQ(ned::pipeline::resolve_models(s).flame, "/elsewhere/flame.safetensors");

    // The library never reads $NED_MODELS (the CLI passes it as models_dir): set or not, an empty folder is ./models.
    ::setenv("NED_MODELS", dir.path().c_str(), 1);
    EXPECT_EQ(ned::pipeline::resolve_models(ModelSearch{}).manipulator, "models/manipulator.safetensors");
    ::unsetenv("NED_MODELS");
    EXPECT_EQ(ned::pipeline::resolve_models(ModelSearch{}).manipulator, "models/manipulator.safetensors");
}

TEST(PipelineModels, EveryMissingOrWrongFileIsNamedWithItsConverter) {
    ned::test::TempDir dir;
    ModelPaths m;
    m.flame = dir / "flame.safetensors";
    m.manipulator = dir / "manipulator.safetensors";
    m.renderer = dir / "actor.safetensors";
    std::string msg = message_of(m);
    EXPECT_NE(msg.find("3 model files"), std::string::npos) << msg;
    EXPECT_NE(msg.find("flame.safetensors"), std::string::npos) << msg;
    EXPECT_NE(msg.find("convert_flame.py"), std::string::npos) << msg;
    EXPECT_NE(msg.find("convert_ned_manipulator.py"), std::string::npos) << msg;
    EXPECT_NE(msg.find("actor.safetensors"), std::string::npos) << msg;

    write_model(m.flame, "ned.flame");
    write_model(m.manipulator, "ned.flame");  // the wrong kind of file
    { std::ofstream(m.renderer) << "not a safetensors file"; }
    msg = message_of(m);
    EXPECT_EQ(msg.find("FLAME asset"), std::string::npos) << msg;
    EXPECT_NE(msg.find("'ned.flame' file, expected 'ned.manipulator'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("not a safetensors file"), std::string::npos) << msg;

    write_model(m.manipulator, "ned.manipulator");
    write_model(m.renderer, "ned.renderer");
    EXPECT_EQ(message_of(m), "");
    m.renderer.clear();
    EXPECT_NO_THROW(ned::pipeline::check_models(m, /*need_renderer=*/false));
}

TEST(PipelineModels, DescribeTheEdit) {
    ned::pipeline::Edit e;
    e.emotions = {"happy", "sad"};
    e.intensity = 0.5;
    e.seed = 3;
    EXPECT_EQ(e.describe(), "emotion=happy,sad intensity=0.5 seed=3");
    ned::pipeline::Edit r;
    r.reference = "/x/y/ref.mp4";
    EXPECT_EQ(r.describe(), "reference=ref.mp4 intensity=1");
    EXPECT_EQ(ned::pipeline::format_ranges({{0, 11}, {15, 15}, {20, 40}}), "0-11,15,20-40");
}
