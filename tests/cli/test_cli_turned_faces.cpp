// `ned crop` / `ned analyze` on a face turned in yaw (issue 22), with clips made inside the test from the yaw
// test set (scripts/make_yaw_set.py; skipped when absent): the default detector finds the turned face, the
// summary line says which model handled how many frames, the track records it per frame, the contact sheet
// is written, and analyze's landmarks of the turned face come from FaceMesh.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>

#include "ned/face/face_track.hpp"
#include "support/test_support.hpp"
#include "support/yaw_set.hpp"

namespace fs = std::filesystem;
using namespace ned::face;
using ned::test::run_ned;

namespace {

/// The rendered head at this pose (first background), or "" when the set lacks it.
std::string rendered(double yaw) {
    for (const auto& e : ned::test::read_yaw_set(ned::test::yaw_set_dir()))
        if (e.kind == "synthetic" && e.yaw == yaw && e.pitch == 0 && e.roll == 0) return e.path;
    return {};
}

/// A 25 fps clip of `frames` copies of `image`.
std::string still_clip(const ned::test::TempDir& tmp, const std::string& image, int frames, const std::string& name) {
    const std::string out = tmp / name;
    EXPECT_TRUE(ned::test::run_ffmpeg("-loop 1 -framerate 25 -i '" + image + "' -frames:v " + std::to_string(frames) +
                                      " -c:v libx264 -crf 16 -pix_fmt yuv420p '" + out + "'"));
    return out;
}

}  // namespace

TEST(CliTurnedFaces, CropFindsATurnedFaceAndSaysWhichModelFoundIt) {
    NED_REQUIRE_YAW_SET();
    if (!ned::test::have_ffmpeg()) GTEST_SKIP() << "ffmpeg command-line tool not found";
    ned::test::TempDir tmp;
    const std::string turned = rendered(-60);
    ASSERT_FALSE(turned.empty());
    const std::string clip = still_clip(tmp, turned, 12, "turned.mp4");
    // hog-rot (the default before issue 22) finds no face here
    const auto old = run_ned({"-q", "crop", clip, tmp / "w_old", "--detector", "hog-rot"});
    EXPECT_EQ(old.exit_code, 2) << old.out << old.err;
    const auto r = run_ned({"-q", "crop", clip, tmp / "w", "--preview", tmp / "sheet.png"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("face detected in 12 (blazeface 12)"), std::string::npos) << r.out;
    EXPECT_TRUE(fs::is_regular_file(tmp / "sheet.png"));
    const FaceTrack t = load_track(tmp / "w/track.safetensors");
    ASSERT_EQ(t.frames.size(), 12u);
    for (const auto& f : t.frames) EXPECT_EQ(int(f.detector), int(DetectionSource::BlazeFace));
}

TEST(CliTurnedFaces, AnalyzeUsesFaceMeshOnATurnedFaceAndDlibOnAFrontalOne) {
    NED_REQUIRE_YAW_SET();
    if (!ned::test::have_ffmpeg()) GTEST_SKIP() << "ffmpeg command-line tool not found";
    ned::test::TempDir tmp;
    for (const double yaw : {0.0, -60.0}) {
        const std::string image = rendered(yaw);
        ASSERT_FALSE(image.empty()) << yaw;
        const std::string name = yaw == 0 ? "frontal" : "turned";
        const std::string clip = still_clip(tmp, image, 6, name + ".mp4");
        const auto r = run_ned({"-q", "analyze", clip, tmp / name});
        ASSERT_EQ(r.exit_code, 0) << r.err;
        const FaceTrack t = load_track(tmp / (name + "/track.safetensors"));
        ASSERT_TRUE(t.has_analysis);
        ASSERT_EQ(t.frames.size(), 6u);
        for (const auto& f : t.frames) {
            ASSERT_TRUE(f.valid);
            if (yaw == 0) {
                EXPECT_EQ(int(f.landmark_source), int(LandmarkSource::Dlib));
                EXPECT_LT(std::abs(f.yaw_deg), 20.f);
            } else {
                EXPECT_EQ(int(f.landmark_source), int(LandmarkSource::FaceMesh));
                EXPECT_LT(f.yaw_deg, -40.f);  // the set's convention: negative = the nose towards image left
            }
        }
        const std::string expect = yaw == 0 ? "landmarks dlib 6, facemesh 0" : "landmarks dlib 0, facemesh 6";
        EXPECT_NE(r.out.find(expect), std::string::npos) << r.out;
    }
}

TEST(CliTurnedFaces, AMissingFaceMeshIsExit3BeforeAnyTracking) {
    // the auto landmark path needs FaceMesh even with a detector that does not: checked with the other models
    NED_REQUIRE_DATA();
    ned::test::TempDir tmp;
    fs::copy(NED_SOURCE_DIR "/models/open", tmp / "open", fs::copy_options::recursive);
    fs::remove(tmp / "open/facemesh.bin");
    const auto r = run_ned({"-v", "analyze", ned::test::data_path("video/styletalk__andrew_clip_1+wav.mp4"), tmp / "w",
                            "--detector", "hog-rot"},
                           {{"NED_OPEN_MODELS", tmp / "open"}});
    EXPECT_EQ(r.exit_code, 3) << r.err;
    EXPECT_NE(r.err.find("facemesh"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("[crop]"), std::string::npos) << "the video was tracked before the models were checked:\n"
                                                       << r.err;
    EXPECT_FALSE(fs::exists(tmp / "w")) << "the work folder was made before the models were checked";
    // --landmarks dlib does not need it
    const auto d = run_ned({"-q", "analyze", ned::test::data_path("video/styletalk__andrew_clip_1+wav.mp4"), tmp / "w",
                            "--detector", "hog-rot", "--landmarks", "dlib", "--max-frames", "3"},
                           {{"NED_OPEN_MODELS", tmp / "open"}});
    EXPECT_EQ(d.exit_code, 0) << d.err;
}
