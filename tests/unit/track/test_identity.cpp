// Target identity across cuts (issue 13, identity.hpp), on synthetic cuts made with ffmpeg from shared clips
// (label data: skipped without ../shared/data or ffmpeg).
#include <gtest/gtest.h>

#include "ned/core/error.hpp"
#include "ned/track/face_tracker.hpp"
#include "ned/track/identity.hpp"
#include "support/test_support.hpp"

using namespace ned::face;
using namespace ned::track;

namespace {
const char* kMan = "video/no_audio_expression/styletalk__furious_talk1_clip2.mp4";   // 256x256, 30 fps
const char* kWoman = "video/no_audio_expression/styletalk__happyenglish_clip2.mp4";  // 256x256, 30 fps

/// 1.5 s of `a` from `sa` then 1.5 s of `b` from `sb` (45 + 45 frames), one H.264 file.
bool make_cut(const std::string& a, double sa, const std::string& b, double sb, const std::string& out) {
    return ned::test::run_ffmpeg(ned::cat(
        "-i '", a, "' -i '", b, "' -filter_complex \"[0:v]trim=start=", sa, ":duration=1.5,setpts=PTS-STARTPTS[x];",
        "[1:v]trim=start=", sb, ":duration=1.5,setpts=PTS-STARTPTS[y];[x][y]concat=n=2:v=1[v]\" -map \"[v]\" ",
        "-c:v libx264 -preset ultrafast -crf 16 -an '", out, "'"));
}

/// 1.5 s of `a` from 0, 0.6 s of black (longer than --max-gap: the target is lost and re-acquired), 1.5 s of
/// `a` from `sa2` (45 + 18 + 45 frames).
bool make_gap(const std::string& a, double sa2, const std::string& out) {
    return ned::test::run_ffmpeg(
        ned::cat("-i '", a, "' -f lavfi -i color=c=black:s=256x256:r=30:d=0.6 -filter_complex \"[0:v]trim=start=0:",
                 "duration=1.5,setpts=PTS-STARTPTS,format=yuv420p[x];[0:v]trim=start=", sa2,
                 ":duration=1.5,setpts=PTS-STARTPTS,format=yuv420p[z];[1:v]format=yuv420p[y];",
                 "[x][y][z]concat=n=3:v=1[v]\" -map \"[v]\" -c:v libx264 -preset ultrafast -crf 16 -an '", out, "'"));
}
}  // namespace

TEST(TargetIdentity, CutToAnotherPersonMakesThatRangeInvalid) {
    NED_REQUIRE_DATA();
    if (!ned::test::have_ffmpeg()) GTEST_SKIP() << "ffmpeg not found";
    ned::test::TempDir tmp;
    const std::string clip = tmp / "cut.mp4";
    ASSERT_TRUE(make_cut(ned::test::data_path(kMan), 0.0, ned::test::data_path(kWoman), 0.0, clip));
    TrackOptions o;
    o.threads = 2;
    const FaceTrack with = build_track(clip, o);
    ASSERT_EQ(with.frames.size(), 90u);
    long first_valid = 0, second_other = 0, second_valid = 0;
    for (long t = 0; t < 45; ++t) first_valid += with.frames[t].valid;
    for (long t = 46; t < 90; ++t) {  // frame 45 is the cut itself
        second_other += with.frames[t].status == FrameStatus::OtherPerson;
        second_valid += with.frames[t].valid;
    }
    EXPECT_GE(first_valid, 44);
    EXPECT_EQ(second_valid, 0);
    EXPECT_GE(second_other, 40);
    // Without the identity check the tracker takes the second person after the cut.
    o.identity = false;
    const FaceTrack without = build_track(clip, o);
    long valid_after = 0;
    for (long t = 46; t < 90; ++t) valid_after += without.frames[t].valid;
    EXPECT_GE(valid_after, 40);
}

TEST(TargetIdentity, SamePersonAfterAGapStaysValid) {
    NED_REQUIRE_DATA();
    if (!ned::test::have_ffmpeg()) GTEST_SKIP() << "ffmpeg not found";
    ned::test::TempDir tmp;
    const std::string clip = tmp / "gap.mp4";
    ASSERT_TRUE(make_gap(ned::test::data_path(kMan), 8.0, clip));
    TrackOptions o;
    o.threads = 2;
    const FaceTrack track = build_track(clip, o);
    ASSERT_EQ(track.frames.size(), 108u);
    long other = 0, valid = 0, shots = 0;
    for (const auto& f : track.frames)
        other += f.status == FrameStatus::OtherPerson, valid += f.valid, shots += f.shot_start;
    EXPECT_GE(shots, 2);  // the target was lost in the black and re-acquired: a second segment was checked
    EXPECT_EQ(other, 0);
    EXPECT_GE(valid, 88);
}

TEST(TargetIdentity, TargetFacePhotoOfAnotherPersonRejectsEverything) {
    NED_REQUIRE_DATA();
    if (!ned::test::have_ffmpeg()) GTEST_SKIP() << "ffmpeg not found";
    ned::test::TempDir tmp;
    const std::string clip = tmp / "cut.mp4";
    ASSERT_TRUE(make_cut(ned::test::data_path(kMan), 0.0, ned::test::data_path(kWoman), 0.0, clip));
    TrackOptions o;
    o.threads = 2;
    o.identity = false;
    FaceTrack track = build_track(clip, o);
    IdentityOptions io;
    io.target_face = ned::test::data_path("images/faces/face_recognition__obama-1080p.jpg");
    const auto segs = apply_identity(clip, track, io);
    ASSERT_GE(segs.size(), 2u);
    for (const auto& s : segs) {
        EXPECT_FALSE(s.accepted) << "segment " << s.begin << ".." << s.end << " distance " << s.distance;
        EXPECT_GT(s.distance, 0.6);
    }
    EXPECT_EQ(track.num_valid(), 0u);
}
