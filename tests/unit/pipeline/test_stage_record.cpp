// Stage records of the pipeline's work folder: keys, skipping, re-running, atomic records.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "pipeline/stage_record.hpp"
#include "support/test_support.hpp"

namespace fs = std::filesystem;
using ned::pipeline::StageRecords;
using nlohmann::json;

TEST(StageRecord, KeyDependsOnNameAndEveryInput) {
    const json a = {{"upstream", "0123"}, {"seed", 1}};
    EXPECT_EQ(ned::pipeline::stage_key("render", a), ned::pipeline::stage_key("render", a));
    EXPECT_NE(ned::pipeline::stage_key("render", a), ned::pipeline::stage_key("mask", a));
    EXPECT_NE(ned::pipeline::stage_key("render", a),
              ned::pipeline::stage_key("render", json{{"upstream", "0123"}, {"seed", 2}}));
    EXPECT_EQ(ned::pipeline::hash_hex("").size(), 16u);
    EXPECT_EQ(ned::pipeline::hash_hex(""), "cbf29ce484222325");  // FNV-1a 64 offset basis
}

TEST(StageRecord, FileIdentityChangesWhenTheFileIsRewritten) {
    ned::test::TempDir dir;
    const std::string p = dir / "f.bin";
    EXPECT_TRUE(ned::pipeline::file_identity("").is_null());
    EXPECT_TRUE(ned::pipeline::file_identity(p)["missing"].get<bool>());
    { std::ofstream(p) << "abc"; }
    const json id1 = ned::pipeline::file_identity(p);
    EXPECT_EQ(id1["size"], 3);
    fs::last_write_time(p, fs::last_write_time(p) + std::chrono::seconds(2));
    EXPECT_NE(ned::pipeline::file_identity(p), id1);
}

TEST(StageRecord, SkipsAFinishedStageAndRerunsOnChangeOrMissingRecord) {
    ned::test::TempDir dir;
    StageRecords rec(dir.path());
    int runs = 0;
    auto body = [&] {
        ++runs;
        return 7L;
    };
    const json in = {{"x", 1}};
    auto o = rec.run("analyze", in, body);
    EXPECT_FALSE(o.skipped);
    EXPECT_EQ(o.frames, 7);
    EXPECT_TRUE(rec.finished("analyze", o.key));
    EXPECT_EQ(rec.read("analyze")["format"], "ned.stage");
    o = rec.run("analyze", in, body);
    EXPECT_TRUE(o.skipped);
    EXPECT_EQ(o.frames, 7);
    EXPECT_EQ(runs, 1);
    o = rec.run("analyze", json{{"x", 2}}, body);  // another input
    EXPECT_FALSE(o.skipped);
    EXPECT_EQ(runs, 2);
    o = rec.run("analyze", json{{"x", 2}}, body, /*always=*/true);
    EXPECT_FALSE(o.skipped);
    EXPECT_EQ(runs, 3);
    fs::remove(rec.path("analyze"));  // as a run killed inside the stage leaves it
    o = rec.run("analyze", json{{"x", 2}}, body);
    EXPECT_FALSE(o.skipped);
    EXPECT_EQ(runs, 4);
}

TEST(StageRecord, AFailedStageLeavesNoRecord) {
    ned::test::TempDir dir;
    StageRecords rec(dir.path());
    rec.run("render", json{{"x", 1}}, [] { return 1L; });
    ASSERT_TRUE(fs::exists(rec.path("render")));
    EXPECT_THROW(rec.run("render", json{{"x", 2}}, []() -> long { throw std::runtime_error("killed"); }),
                 std::runtime_error);
    EXPECT_FALSE(fs::exists(rec.path("render")));  // the old record is gone too: never reused for new inputs
    EXPECT_FALSE(fs::exists(rec.path("render") + ".tmp"));
}

TEST(StageRecord, AnUnreadableRecordCountsAsNotFinished) {
    ned::test::TempDir dir;
    StageRecords rec(dir.path());
    const auto o = rec.run("mask", json{{"x", 1}}, [] { return 1L; });
    { std::ofstream(rec.path("mask")) << "{ truncated"; }
    EXPECT_FALSE(rec.finished("mask", o.key));
    EXPECT_FALSE(rec.run("mask", json{{"x", 1}}, [] { return 1L; }).skipped);
}
