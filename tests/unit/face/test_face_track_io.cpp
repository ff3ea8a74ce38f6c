// track.safetensors round trip of the per-frame status and shot starts, and the consistency rules.
#include <gtest/gtest.h>

#include "ned/core/error.hpp"
#include "ned/core/safetensors.hpp"
#include "ned/face/face_track.hpp"
#include "support/test_support.hpp"

using namespace ned;
using namespace ned::face;

namespace {
FaceTrack four_frames() {
    FaceTrack t;
    t.source = "/tmp/x.mp4";
    t.width = 64;
    t.height = 48;
    t.fps_num = 25;
    t.frames.resize(4);
    t.frames[0].valid = t.frames[0].detected = true;
    t.frames[0].shot_start = true;
    t.frames[1].valid = true;  // filled
    t.frames[2].status = FrameStatus::OutsideFrame;
    t.frames[3].valid = t.frames[3].detected = true;
    t.frames[3].shot_start = true;
    return t;
}
}  // namespace

TEST(FaceTrackIo, StatusAndShotStartsRoundTrip) {
    test::TempDir dir;
    save_track(dir / "t.safetensors", four_frames());
    const FaceTrack r = load_track(dir / "t.safetensors");
    ASSERT_EQ(r.frames.size(), 4u);
    EXPECT_EQ(int(r.frames[0].status), int(FrameStatus::Detected));
    EXPECT_EQ(int(r.frames[1].status), int(FrameStatus::Filled));
    EXPECT_EQ(int(r.frames[2].status), int(FrameStatus::OutsideFrame));
    EXPECT_FALSE(r.frames[2].valid);
    EXPECT_EQ(int(r.frames[3].status), int(FrameStatus::Detected));
    EXPECT_TRUE(r.frames[0].shot_start);
    EXPECT_FALSE(r.frames[1].shot_start);
    EXPECT_TRUE(r.frames[3].shot_start);
    const TrackCounts c = count_frames(r);
    EXPECT_EQ(c.frames, 4);
    EXPECT_EQ(c.detected, 2);
    EXPECT_EQ(c.filled, 1);
    EXPECT_EQ(c.valid, 3);
    EXPECT_EQ(c.outside, 1);
    EXPECT_EQ(c.no_face, 0);
    EXPECT_EQ(c.shots, 2);
    EXPECT_EQ(describe(c), "4 frames: face detected in 2, filled 1, valid 3; invalid 1 (no face 0, outside frame 1)");
}

TEST(FaceTrackIo, TrackWithoutStatusDerivesItAndInconsistentStatusIsRefused) {
    test::TempDir dir;
    save_track(dir / "t.safetensors", four_frames());
    st::File f = st::load(dir / "t.safetensors");
    f.tensors.erase("status");
    f.tensors.erase("shot_start");
    st::save(dir / "old.safetensors", f);
    const FaceTrack r = load_track(dir / "old.safetensors");  // a track from before these fields
    EXPECT_EQ(int(r.frames[1].status), int(FrameStatus::Filled));
    EXPECT_EQ(int(r.frames[2].status), int(FrameStatus::NoFace));
    EXPECT_TRUE(r.frames[0].shot_start);
    EXPECT_FALSE(r.frames[3].shot_start);
    // a valid frame marked "no face" contradicts `valid`: exit-2 error naming the file, tensor and frame
    f = st::load(dir / "t.safetensors");
    f.tensors["status"].ptr<uint8_t>()[1] = 0;
    st::save(dir / "bad.safetensors", f);
    try {
        load_track(dir / "bad.safetensors");
        ADD_FAILURE() << "inconsistent status accepted";
    } catch (const InputError& e) {
        const std::string m = e.what();
        EXPECT_NE(m.find("bad.safetensors"), std::string::npos) << m;
        EXPECT_NE(m.find("'status' of frame 1"), std::string::npos) << m;
    }
}

TEST(FaceTrackIo, ModelsPerFrameRoundTripAreCountedAndBadValuesAreRefused) {
    // issue 22: the detector that found each detected frame, and after analysis the landmark model and yaw
    test::TempDir dir;
    FaceTrack t = four_frames();
    t.has_analysis = true;
    t.frames[0].detector = DetectionSource::BlazeFace;
    t.frames[3].detector = DetectionSource::Hog;
    t.frames[0].landmark_source = LandmarkSource::FaceMesh;
    t.frames[0].yaw_deg = -52.5f;
    t.frames[1].landmark_source = LandmarkSource::Blend;
    t.frames[1].yaw_deg = 30.f;
    save_track(dir / "t.safetensors", t);
    const FaceTrack r = load_track(dir / "t.safetensors");
    EXPECT_EQ(int(r.frames[0].detector), int(DetectionSource::BlazeFace));
    EXPECT_EQ(int(r.frames[1].detector), int(DetectionSource::None));  // filled
    EXPECT_EQ(int(r.frames[3].detector), int(DetectionSource::Hog));
    EXPECT_EQ(int(r.frames[0].landmark_source), int(LandmarkSource::FaceMesh));
    EXPECT_EQ(int(r.frames[1].landmark_source), int(LandmarkSource::Blend));
    EXPECT_EQ(int(r.frames[3].landmark_source), int(LandmarkSource::Dlib));
    EXPECT_FLOAT_EQ(r.frames[0].yaw_deg, -52.5f);
    EXPECT_EQ(describe(count_frames(r)),
              "4 frames: face detected in 2 (hog 1, blazeface 1), filled 1, valid 3; invalid 1 (no face 0, outside "
              "frame 1); landmarks dlib 1, facemesh 1, blend 1");
    // a track from before issue 22 loads with defaults: no detector recorded, dlib landmarks
    st::File f = st::load(dir / "t.safetensors");
    for (const char* k : {"detector", "landmark_source", "yaw"}) f.tensors.erase(k);
    st::save(dir / "old.safetensors", f);
    const FaceTrack o = load_track(dir / "old.safetensors");
    EXPECT_EQ(int(o.frames[0].detector), int(DetectionSource::None));
    EXPECT_EQ(int(o.frames[0].landmark_source), int(LandmarkSource::Dlib));
    // values outside the enums, or a detector on a frame that was not detected: exit-2 errors naming the tensor
    auto refused = [&](const char* tensor, int frame, uint8_t value, const std::string& expect) {
        st::File g = st::load(dir / "t.safetensors");
        g.tensors[tensor].ptr<uint8_t>()[frame] = value;
        st::save(dir / "bad.safetensors", g);
        try {
            load_track(dir / "bad.safetensors");
            ADD_FAILURE() << tensor << " " << int(value) << " accepted";
        } catch (const InputError& e) {
            EXPECT_NE(std::string(e.what()).find(expect), std::string::npos) << e.what();
        }
    };
    refused("detector", 0, 9, "'detector' of frame 0 is 9");
    refused("detector", 1, 1, "'detector' of frame 1 is 1, expected 0 for a frame that is not detected");
    refused("landmark_source", 3, 3, "'landmark_source' of frame 3 is 3");
}
