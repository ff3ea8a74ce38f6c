// track.safetensors round trip of the per-frame status and shot starts, and the consistency rules.
#include <gtest/gtest.h>

#include "ned/core/error.hpp"
#include "ned/core/safetensors.hpp"
#include "ned/detect/face_track.hpp"
#include "support/test_support.hpp"

using namespace ned;
using namespace ned::detect;

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
