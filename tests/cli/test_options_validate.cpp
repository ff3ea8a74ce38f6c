// The options structs' validate(): a bad value is an OptionError naming the field and the value (the CLI shows
// the flag instead, test_cli_options); TrackOptions' serialisation lists every field (the stage keys use it).
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "ned/analysis/analyze.hpp"
#include "ned/blend/composite.hpp"
#include "ned/core/error.hpp"
#include "ned/eval/eval.hpp"
#include "ned/manip/manipulate.hpp"
#include "ned/manip/train.hpp"
#include "ned/pipeline/translate.hpp"
#include "ned/recon/reconstruct.hpp"
#include "ned/renderer/render.hpp"
#include "ned/renderer/train.hpp"
#include "ned/track/face_tracker.hpp"

namespace {

/// Runs `validate` and expects an OptionError whose field is `field` and whose text has `value`.
template <typename F>
void expect_option_error(F validate, const std::string& field, const std::string& value) {
    try {
        validate();
        ADD_FAILURE() << "no error for " << field;
    } catch (const ned::OptionError& e) {
        EXPECT_EQ(e.field(), field) << e.what();
        EXPECT_NE(std::string(e.what()).find(value), std::string::npos) << e.what();
        EXPECT_EQ(std::string(e.what()).rfind(field, 0), 0u) << e.what();
        EXPECT_EQ(std::string(e.what()).find("--"), std::string::npos) << "a library names a flag: " << e.what();
    }
}

TEST(OptionsValidate, TrackOptions) {
    using ned::track::TrackOptions;
    EXPECT_NO_THROW(TrackOptions{}.validate());
    TrackOptions o;
    o.max_gap_s = -1;
    expect_option_error([&] { o.validate(); }, "TrackOptions::max_gap_s", "-1");
    o = {};
    o.max_gap_s = 4000;
    expect_option_error([&] { o.validate(); }, "TrackOptions::max_gap_s", "4000");
    o = {};
    o.face_index = -2;
    expect_option_error([&] { o.validate(); }, "TrackOptions::face_index", "-2");
    o = {};
    o.smooth_window = 0;
    expect_option_error([&] { o.validate(); }, "TrackOptions::smooth_window", "0");
    o = {};
    o.cut_threshold = std::nanf("");
    expect_option_error([&] { o.validate(); }, "TrackOptions::cut_threshold", "nan");
    o = {};
    o.crop_size = 8;
    expect_option_error([&] { o.validate(); }, "TrackOptions::crop_size", "8");
}

TEST(OptionsValidate, FaceAtText) {
    expect_option_error([] { ned::track::parse_face_at("2.5:900"); }, "TrackOptions::face_at", "2.5:900");
    const auto at = ned::track::parse_face_at("2.5:900,400");
    EXPECT_DOUBLE_EQ(at.seconds, 2.5);
    EXPECT_DOUBLE_EQ(at.y, 400);
}

TEST(OptionsValidate, TrackOptionsJsonNamesEveryField) {
    using ned::track::TrackOptions;
    const nlohmann::json plain = ned::track::to_json(TrackOptions{});
    EXPECT_EQ(plain.size(), 17u) << plain.dump() << ": a field added to TrackOptions must be in to_json";
    // every field changed: every key changes
    TrackOptions o;
    o.detector = ned::track::DetectorKind::Hog;
    o.identity = false;
    o.target_face = "me.jpg";
    o.identity_threshold = 0.5f;
    o.detect_scale = 0.5f;
    o.upsample = 1;
    o.face_index = 1;
    o.face_at = ned::track::parse_face_at("1:2,3");
    o.smooth_window = 9;
    o.cut_threshold = 0.3f;
    o.min_iou = 0.4f;
    o.max_gap_s = 1.f;
    o.min_inside = 0.6f;
    o.margin = 60.f;
    o.crop_size = 128;
    o.threads = 3;
    o.max_frames = 10;
    const nlohmann::json changed = ned::track::to_json(o);
    for (const auto& [key, value] : plain.items()) EXPECT_NE(changed.at(key), value) << key;
    EXPECT_TRUE(changed.contains("max_gap_s"));
    EXPECT_TRUE(changed.contains("smooth_window"));
}

TEST(OptionsValidate, TranslateOptions) {
    ned::pipeline::TranslateOptions o;
    expect_option_error([&] { o.validate(); }, "TranslateOptions::edit", "got 0");
    o.edit.emotions = {"happy"};
    EXPECT_NO_THROW(o.validate());
    o.fit_iters = -5;
    expect_option_error([&] { o.validate(); }, "TranslateOptions::fit_iters", "-5");
    o.fit_iters = 0;
    o.track.max_gap_s = -1;  // the nested track options are checked too
    expect_option_error([&] { o.validate(); }, "TrackOptions::max_gap_s", "-1");
}

TEST(OptionsValidate, TrainerOptions) {
    ned::manip::TrainOptions m;
    m.lr = 2;
    expect_option_error([&] { m.validate(); }, "TrainOptions::lr", "2");
    m = {};
    m.decay_epochs = 30;
    expect_option_error([&] { m.validate(); }, "TrainOptions::decay_epochs", "30");
    ned::renderer::TrainOptions r;
    r.actors = {"w"};
    r.out = "o";
    EXPECT_NO_THROW(r.validate());
    r.subsequence = 2;
    expect_option_error([&] { r.validate(); }, "TrainOptions::subsequence", "2");
}

TEST(OptionsValidate, CompositeAndManipulate) {
    ned::blend::CompositeOptions c;
    c.levels = 9;
    expect_option_error([&] { c.validate(); }, "CompositeOptions::levels", "9");
    ned::manip::ManipulateOptions m;
    m.emotions = {"happy"};
    m.intensity = std::nan("");
    expect_option_error([&] { m.validate(); }, "ManipulateOptions::intensity", "nan");
    expect_option_error([] { ned::manip::parse_schedule("0:happy,"); }, "ManipulateOptions::schedule", "empty entry");
}

TEST(OptionsValidate, ReconstructFitAndExportMesh) {
    ned::recon::ReconstructOptions r;
    EXPECT_NO_THROW(r.validate());
    r.batch = 0;
    expect_option_error([&] { r.validate(); }, "ReconstructOptions::batch", "0");
    r = {};
    r.fit.chunk = 0;  // the nested fit options are checked too
    expect_option_error([&] { r.validate(); }, "FitOptions::chunk", "0");
    ned::recon::FitOptions f;
    f.lr = std::nan("");
    expect_option_error([&] { f.validate(); }, "FitOptions::lr", "nan");
    f = {};
    f.w_smooth = -1;
    expect_option_error([&] { f.validate(); }, "FitOptions::w_smooth", "-1");
    ned::recon::ExportMeshOptions e;
    expect_option_error([&] { e.validate(); }, "ExportMeshOptions::out_dir", "empty");
    e.out_dir = "no-such-parent-h9/meshes";
    expect_option_error([&] { e.validate(); }, "ExportMeshOptions::out_dir", "no-such-parent-h9");
}

TEST(OptionsValidate, EvalOptions) {
    ned::eval::EvalOptions o;
    EXPECT_NO_THROW(o.validate());
    o.target_emotion = "happy";
    EXPECT_NO_THROW(o.validate());
    o.target_emotion = "glad";
    expect_option_error([&] { o.validate(); }, "EvalOptions::target_emotion", "glad");
    o = {};
    o.max_frames = -1;
    expect_option_error([&] { o.validate(); }, "EvalOptions::max_frames", "-1");
}

TEST(OptionsValidate, RenderOptions) {
    ned::renderer::RenderOptions r;
    expect_option_error([&] { r.validate(); }, "RenderOptions::renderer", "empty");
    r.renderer = "r.safetensors";
    EXPECT_NO_THROW(r.validate());
}

TEST(OptionsValidate, AnalyzeAndFaceMask) {
    ned::analysis::AnalyzeOptions a;
    EXPECT_NO_THROW(a.validate());
    a.multisample_shift = -1;
    expect_option_error([&] { a.validate(); }, "AnalyzeOptions::multisample_shift", "-1");
    a = {};
    a.mask.forehead_fraction = 3;  // the nested mask options are checked too
    expect_option_error([&] { a.validate(); }, "FaceMaskOptions::forehead_fraction", "3");
    ned::face::FaceMaskOptions m;
    m.erosion_kernel = 20;
    expect_option_error([&] { m.validate(); }, "FaceMaskOptions::erosion_kernel", "20");
    m = {};
    m.erosion_threshold = std::nanf("");
    expect_option_error([&] { m.validate(); }, "FaceMaskOptions::erosion_threshold", "nan");
}

}  // namespace
