// `ned translate` / `ned style` end to end on a short piece of a shared clip with stand-in models made here:
// a synthetic FLAME (flat grid), a random small manipulator and a small random renderer (ngf 4). Checks the
// output contract (every frame, timestamps, audio bytes, pixels away from the face, metadata) and the stage
// records of the work folder (skips, what an edit or a renderer change re-runs, resumption).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "ned/core/safetensors.hpp"
#include "ned/face/face_track.hpp"
#include "ned/io/video.hpp"
#include "ned/manip/networks.hpp"
#include "ned/renderer/checkpoint.hpp"
#include "support/test_support.hpp"
#include "unit/conditioning/synthetic_flame.hpp"

namespace fs = std::filesystem;
using ned::test::run_ned;
using nlohmann::json;

namespace {

constexpr int kFrames = 10;  // the style encoder needs one window of 10 frames

/// The first kFrames frames of a shared 1080p clip, downscaled to 640x360, audio copied (the whole track).
std::string write_short_clip(const std::string& dir) {
    const std::string src = ned::test::data_path("video/wav2lip-gfpgan__kim_7s_raw.mp4");
    ned::io::VideoReader r(src);
    ned::io::VideoInfo info = r.info();
    info.width = info.display_width = 640;
    info.height = info.display_height = 360;
    info.rotation = 0;
    ned::io::VideoWriterOptions o;
    o.preset = "ultrafast";
    o.crf = 12;
    const std::string path = dir + "/clip.mp4";
    ned::io::VideoWriter w(path, info, o);
    ned::io::Frame f;
    for (int i = 0; i < kFrames && r.read(f); ++i) {
        cv::resize(f.bgr, f.bgr, cv::Size(640, 360), 0, 0, cv::INTER_AREA);
        w.write(f);
    }
    w.finish();
    return path;
}

void write_models(const std::string& dir, uint64_t renderer_seed = 1) {
    fs::create_directories(dir);
    ned::st::save(dir + "/flame.safetensors", ned::test::synthetic_flame_file(16, true));
    torch::manual_seed(0);
    ned::manip::Nets nets(ned::manip::NetConfig{16, 8, 8});
    nets.he_init();
    ned::manip::save_checkpoint(dir + "/manipulator.safetensors", nets);
    torch::manual_seed(static_cast<int64_t>(renderer_seed));
    ned::renderer::GeneratorConfig c;
    c.ngf = 4;
    c.n_blocks = 3;
    ned::renderer::Generator g(c);
    ned::renderer::init_weights(*g);
    ned::renderer::MultiscaleDiscriminator d{nullptr}, dm{nullptr};
    ned::renderer::save_renderer(dir + "/renderer" + std::to_string(renderer_seed) + ".safetensors", g, d, dm);
}

json read_json(const std::string& path) {
    std::ifstream is(path);
    return json::parse(is);
}

/// stage -> skipped, from the --report file.
std::map<std::string, bool> skipped_stages(const std::string& report) {
    std::map<std::string, bool> out;
    const json rep = read_json(report);
    for (const auto& s : rep["stages"]) out[s["stage"].get<std::string>()] = s["skipped"].get<bool>();
    return out;
}

bool was_skipped(const std::map<std::string, bool>& stages, const std::string& s) {
    const auto it = stages.find(s);
    if (it == stages.end()) {
        ADD_FAILURE() << "the report has no stage " << s;
        return false;
    }
    return it->second;
}

std::vector<int64_t> frame_pts(const std::string& path, std::vector<cv::Mat>* frames = nullptr) {
    ned::io::VideoReader r(path);
    std::vector<int64_t> pts;
    ned::io::Frame f;
    while (r.read(f)) {
        pts.push_back(f.pts);
        if (frames) frames->push_back(f.bgr.clone());
    }
    return pts;
}

std::string file_bytes(const std::string& path) {
    std::ifstream is(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(is), {});
}

struct Fixture {
    ned::test::TempDir dir;
    std::string clip, models;
};

Fixture& shared() {
    static Fixture f = [] {
        Fixture x;
        x.clip = write_short_clip(x.dir.path());
        x.models = x.dir / "models";
        write_models(x.models, 1);
        write_models(x.models, 2);
        return x;
    }();
    return f;
}

std::vector<std::string> translate_args(const Fixture& f, const std::string& out, const std::string& work,
                                        const std::string& emotion, int renderer = 1) {
    return {"translate",
            f.clip,
            out,
            "--emotion",
            emotion,
            "--renderer",
            f.models + "/renderer" + std::to_string(renderer) + ".safetensors",
            "--models",
            f.models,
            "--work",
            work,
            "--preset",
            "ultrafast",
            "--crf",
            "12",
            "--threads",
            "2",
            "--fit-iters",
            "10",
            "-q"};
}

}  // namespace

TEST(CliTranslate, EndToEndKeepsFramesTimestampsAudioAndResumes) {
    NED_REQUIRE_DATA();
    Fixture& f = shared();
    const std::string work = f.dir / "work", out = f.dir / "out.mp4", report = f.dir / "report.json";
    auto args = translate_args(f, out, work, "happy");
    args.insert(args.end(), {"--report", report, "--preview", f.dir / "preview.mp4"});
    auto r = run_ned(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;

    // Every frame with its timestamp, the audio byte for byte.
    std::vector<cv::Mat> in_frames, out_frames;
    const auto in_pts = frame_pts(f.clip, &in_frames);
    const auto out_pts = frame_pts(out, &out_frames);
    ASSERT_EQ(in_pts.size(), static_cast<size_t>(kFrames));
    EXPECT_EQ(out_pts, in_pts);
    const auto info = ned::io::probe(f.clip);
    ASSERT_FALSE(info.audio.empty());
    const auto a_in = ned::io::read_stream_packets(f.clip, info.audio[0].index);
    const auto out_info = ned::io::probe(out);
    ASSERT_FALSE(out_info.audio.empty());
    const auto a_out = ned::io::read_stream_packets(out, out_info.audio[0].index);
    EXPECT_EQ(a_out.data, a_in.data);

    // Pixels away from the face unchanged within encoder noise (measured: the same video re-encoded by
    // `ned composite` without faces, same CRF and preset); the face region changed.
    fs::create_directories(f.dir / "no_faces");
    r = run_ned({"composite", f.clip, work, f.dir / "baseline.mp4", "--faces", f.dir / "no_faces", "--preset",
                 "ultrafast", "--crf", "12", "-q"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::vector<cv::Mat> base_frames;
    ASSERT_EQ(frame_pts(f.dir / "baseline.mp4", &base_frames), in_pts);
    const auto track = ned::face::load_track(work + "/track.safetensors");
    ASSERT_EQ(track.frames.size(), static_cast<size_t>(kFrames));
    double face_diff = 0, face_noise = 0, outside_diff = 0, outside_noise = 0;
    int faces = 0;
    for (int t = 0; t < kFrames; ++t) {
        if (!track.frames[t].valid) continue;
        const cv::Vec4f b = track.frames[t].box;  // x0 y0 x1 y1
        const cv::Rect face =
            cv::Rect(cv::Point(int(b[0]), int(b[1])), cv::Point(int(b[2]), int(b[3]))) & cv::Rect(0, 0, 640, 360);
        const int pad = int(face.width * 0.8);
        cv::Mat outside_mask(360, 640, CV_8UC1, cv::Scalar(255));
        cv::rectangle(outside_mask, cv::Rect(face.x - pad, face.y - pad, face.width + 2 * pad, face.height + 2 * pad),
                      cv::Scalar(0), cv::FILLED);
        cv::Mat diff, noise;
        cv::absdiff(in_frames[t], out_frames[t], diff);
        cv::absdiff(in_frames[t], base_frames[t], noise);
        face_diff += cv::mean(diff(face))[0];
        face_noise += cv::mean(noise(face))[0];
        outside_diff += cv::mean(diff, outside_mask)[0];
        outside_noise += cv::mean(noise, outside_mask)[0];
        ++faces;
    }
    ASSERT_GT(faces, kFrames / 2);
    EXPECT_LT(outside_diff / faces, outside_noise / faces + 0.5);
    EXPECT_GT(face_diff / faces, face_noise / faces + 4.0);

    // The output says what it is.
    const std::string bytes = file_bytes(out);
    EXPECT_NE(bytes.find("Edited with ned"), std::string::npos);
    EXPECT_NE(bytes.find("emotion=happy"), std::string::npos);
    EXPECT_EQ(ned::io::probe(f.dir / "preview.mp4").display_width, 1280);

    // Report and stage records.
    const json rep = read_json(report);
    EXPECT_EQ(rep["frames"], kFrames);
    EXPECT_EQ(rep["frames_edited"].get<long>() + rep["frames_passed_through"].get<long>(), kFrames);
    EXPECT_GT(rep["frames_edited"].get<long>(), 0);
    EXPECT_GT(rep["mean_expression_change"].get<double>(), 0.0);
    for (const char* s : {"analyze", "reconstruct", "manipulate", "render"}) {
        EXPECT_FALSE(was_skipped(skipped_stages(report), s)) << s;
        EXPECT_EQ(read_json(work + "/stages/" + s + ".json")["format"], "ned.stage") << s;
    }
    // The streamed render stage: conditioning, network and compositing in one pass, their busy times reported;
    // no conditioning images on disk, the faces and blend masks kept in WORK.
    for (const auto& s : rep["stages"]) {
        if (s["stage"] != "render") continue;
        for (const char* k : {"condition", "render", "composite"}) EXPECT_GT(s["busy_s"][k].get<double>(), 0.0) << k;
    }
    EXPECT_FALSE(fs::exists(work + "/conditioning"));
    EXPECT_EQ(std::distance(fs::directory_iterator(work + "/faces"), fs::directory_iterator{}),
              rep["frames_edited"].get<long>());
    EXPECT_EQ(std::distance(fs::directory_iterator(work + "/edit_masks/crop"), fs::directory_iterator{}),
              rep["frames_edited"].get<long>());
    EXPECT_FALSE(fs::exists(work + "/render_resume.safetensors"));

    // Same inputs again: every stage is skipped; the kept faces are composited again.
    args = translate_args(f, out, work, "happy");
    args.insert(args.end(), {"--report", report, "-y"});
    r = run_ned(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto sk = skipped_stages(report);
    for (const char* s : {"analyze", "reconstruct", "manipulate", "render"}) EXPECT_TRUE(was_skipped(sk, s)) << s;
    EXPECT_FALSE(was_skipped(sk, "composite"));
    EXPECT_EQ(frame_pts(out), in_pts);
    EXPECT_EQ(read_json(report)["frames_edited"], rep["frames_edited"]);

    // The same edit with a matte added: the finished edit is composited again and writes it, one frame per source
    // frame.
    const std::string matte = f.dir / "matte/";
    args = translate_args(f, out, work, "happy");
    args.insert(args.end(), {"--report", report, "-y", "--matte", matte});
    r = run_ned(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_FALSE(was_skipped(skipped_stages(report), "composite"));
    ASSERT_TRUE(fs::is_directory(matte));
    EXPECT_EQ(std::distance(fs::directory_iterator(matte), fs::directory_iterator{}), kFrames);

    // Another emotion: manipulation and later run again, analysis and reconstruction are reused.
    const std::string key_manip = read_json(work + "/stages/manipulate.json")["key"];
    args = translate_args(f, out, work, "sad");
    args.insert(args.end(), {"--report", report, "-y"});
    r = run_ned(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    sk = skipped_stages(report);
    EXPECT_TRUE(was_skipped(sk, "analyze"));
    EXPECT_TRUE(was_skipped(sk, "reconstruct"));
    for (const char* s : {"manipulate", "render"}) EXPECT_FALSE(was_skipped(sk, s)) << s;
    EXPECT_NE(read_json(work + "/stages/manipulate.json")["key"], key_manip);

    // Another renderer: only rendering (and compositing, in the same pass).
    args = translate_args(f, out, work, "sad", 2);
    args.insert(args.end(), {"--report", report, "-y"});
    r = run_ned(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    sk = skipped_stages(report);
    for (const char* s : {"analyze", "reconstruct", "manipulate"}) EXPECT_TRUE(was_skipped(sk, s)) << s;
    EXPECT_FALSE(was_skipped(sk, "render"));

    // A run killed (SIGTERM) while rendering: no render record is left, the output is not written, and the next
    // run starts at rendering. (Back to renderer 1, so rendering has to run; the kill comes once the render
    // stage has removed its old record.)
    {
        auto killed_args = translate_args(f, f.dir / "killed.mp4", work, "sad", 1);
        const pid_t pid = ::fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            std::vector<char*> argv;
            const std::string bin = ned::test::ned_binary();
            argv.push_back(const_cast<char*>(bin.c_str()));
            for (auto& a : killed_args) argv.push_back(a.data());
            argv.push_back(nullptr);
            ::execv(bin.c_str(), argv.data());
            ::_exit(127);
        }
        bool render_started = false;
        for (int i = 0; i < 6000 && !render_started; ++i) {  // up to 120 s
            if (!fs::exists(work + "/stages/render.json"))
                render_started = true;
            else
                ::usleep(20000);
        }
        ::usleep(200000);
        ::kill(pid, SIGTERM);
        int status = 0;
        ::waitpid(pid, &status, 0);
        ASSERT_TRUE(render_started);
        ASSERT_TRUE(WIFEXITED(status));
        EXPECT_EQ(WEXITSTATUS(status), 143);  // 128 + SIGTERM, from ned's signal cleanup
        EXPECT_FALSE(fs::exists(work + "/stages/render.json"));
        EXPECT_FALSE(fs::exists(f.dir / "killed.mp4"));
    }
    args = translate_args(f, out, work, "sad", 1);
    args.insert(args.end(), {"--report", report, "-y"});
    r = run_ned(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    sk = skipped_stages(report);
    for (const char* s : {"analyze", "reconstruct", "manipulate"}) EXPECT_TRUE(was_skipped(sk, s)) << s;
    EXPECT_FALSE(was_skipped(sk, "render"));

    // Existing output without -y: exit 2.
    r = run_ned(translate_args(f, out, work, "sad", 2));
    EXPECT_EQ(r.exit_code, 2) << r.err;
    // Another run holds the work folder: exit 2, nothing written.
    {
        const int fd = ::open((work + "/.lock").c_str(), O_RDWR | O_CREAT, 0644);
        ASSERT_GE(fd, 0);
        ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);
        r = run_ned(translate_args(f, f.dir / "locked.mp4", work, "sad", 2));
        ::close(fd);
        EXPECT_EQ(r.exit_code, 2) << r.err;
        EXPECT_NE(r.err.find("in use"), std::string::npos) << r.err;
        EXPECT_FALSE(fs::exists(f.dir / "locked.mp4"));
    }

    // scripts/batch/translate_many.sh on two short jobs, one failing (missing renderer): one failure. The job that
    // works reuses this work folder (every stage but compositing skipped), so it is quick.
    const std::string jobs = f.dir / "jobs.tsv";
    {
        std::ofstream os(jobs);
        os << "# input\toutput\tedit\toptions\n";
        os << f.clip << "\t" << f.dir / "batch_ok.mp4"
           << "\tsad\t--renderer " << f.models << "/renderer1.safetensors --models " << f.models << " --work " << work
           << " --preset ultrafast --crf 12 --threads 2 --fit-iters 10 -q\n";
        os << f.clip << "\t" << f.dir / "batch_bad.mp4"
           << "\temotion=happy\t--renderer " << f.dir / "none.safetensors"
           << " --models " << f.models << " -q\n";
    }
    const std::string cmd = std::string("NED='") + ned::test::ned_binary() + "' '" + NED_SOURCE_DIR +
                            "/scripts/batch/translate_many.sh' -j 2 '" + jobs + "' > '" + f.dir / "batch.out" +
                            "' 2>&1";
    const int status = std::system(cmd.c_str());
    ASSERT_TRUE(WIFEXITED(status)) << file_bytes(f.dir / "batch.out");
    EXPECT_EQ(WEXITSTATUS(status), 1) << file_bytes(f.dir / "batch.out");
    EXPECT_EQ(frame_pts(f.dir / "batch_ok.mp4"), in_pts);
    EXPECT_FALSE(fs::exists(f.dir / "batch_bad.mp4"));
    EXPECT_NE(file_bytes(f.dir / "logs/2_batch_bad.mp4.log").find("none.safetensors"), std::string::npos);
    EXPECT_NE(file_bytes(f.dir / "batch.out").find("1 ok, 0 skipped, 1 failed"), std::string::npos)
        << file_bytes(f.dir / "batch.out");

    // The detector is part of the analysis key: another one re-runs the analysis and everything after it.
    args = translate_args(f, out, work, "sad", 1);
    args.insert(args.end(), {"--detector", "hog", "--report", report, "-y"});
    r = run_ned(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    sk = skipped_stages(report);
    for (const char* s : {"analyze", "reconstruct", "manipulate", "render"}) EXPECT_FALSE(was_skipped(sk, s)) << s;
}

TEST(CliTranslate, StyleFromAReferenceReconstruction) {
    NED_REQUIRE_DATA();
    Fixture& f = shared();
    const std::string work = f.dir / "work_style", out = f.dir / "style.mp4";
    // The reference: the translate test's edited reconstruction is not guaranteed to exist; make the
    // reconstruction of the clip itself with a first style run that refers to the clip (a video reference).
    auto r = run_ned({"style", "--reference", f.clip, f.clip, out, "--renderer", f.models + "/renderer1.safetensors",
                      "--models", f.models, "--work", work, "--preset", "ultrafast", "--threads", "2", "--fit-iters",
                      "10", "-q"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(frame_pts(out), frame_pts(f.clip));
    EXPECT_TRUE(fs::exists(work + "/stages/reference-reconstruct.json"));
    EXPECT_NE(file_bytes(out).find("reference=clip.mp4"), std::string::npos);
    // A reconstruction file as the reference.
    r = run_ned({"style", "--reference", work + "/reference/reconstruction.safetensors", f.clip, out, "--renderer",
                 f.models + "/renderer1.safetensors", "--models", f.models, "--work", work, "--preset", "ultrafast",
                 "--threads", "2", "--fit-iters", "10", "-q", "-y"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
}

TEST(CliTranslate, MissingModelIsExitThreeNamingTheFile) {
    NED_REQUIRE_DATA();
    Fixture& f = shared();
    ned::test::TempDir empty;
    const std::string out = empty / "out.mp4";
    auto r = run_ned({"translate", f.clip, out, "--emotion", "happy", "--renderer", f.models + "/renderer1.safetensors",
                      "--models", empty.path(), "-q"});
    EXPECT_EQ(r.exit_code, 3) << r.err;
    EXPECT_NE(r.err.find("flame.safetensors"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("convert_flame.py"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("manipulator.safetensors"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(out));
    // A missing renderer too.
    r = run_ned({"translate", f.clip, out, "--emotion", "happy", "--renderer", empty / "nope.safetensors", "--models",
                 f.models, "-q"});
    EXPECT_EQ(r.exit_code, 3) << r.err;
    EXPECT_NE(r.err.find("nope.safetensors"), std::string::npos) << r.err;
    // A bad emotion is a usage error (2), found before any work.
    r = run_ned({"translate", f.clip, out, "--emotion", "bored", "--renderer", f.models + "/renderer1.safetensors",
                 "--models", f.models, "-q"});
    EXPECT_EQ(r.exit_code, 2) << r.err;
}

TEST(CliTranslate, VideoWithoutAFaceIsExitTwo) {
    NED_REQUIRE_DATA();
    Fixture& f = shared();
    ned::test::TempDir dir;
    ned::io::VideoInfo info;
    info.width = info.display_width = 160;
    info.height = info.display_height = 120;
    info.time_base = {1, 25};
    info.frame_rate = {25, 1};
    ned::io::VideoWriterOptions o;
    o.preset = "ultrafast";
    o.copy_audio = false;
    {
        ned::io::VideoWriter w(dir / "grey.mp4", info, o);
        for (int i = 0; i < 6; ++i) {
            ned::io::Frame fr;
            fr.bgr = cv::Mat(120, 160, CV_8UC3, cv::Scalar(90, 100, 110));
            fr.index = fr.pts = i;
            w.write(fr);
        }
        w.finish();
    }
    const auto r = run_ned({"translate", dir / "grey.mp4", dir / "out.mp4", "--emotion", "happy", "--renderer",
                            f.models + "/renderer1.safetensors", "--models", f.models, "-q"});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_FALSE(fs::exists(dir / "out.mp4"));
}

namespace {
/// Two talking heads side by side (two shared clips: 320x320 left, 240x240 in a black 320x320 square right;
/// 10 frames, 25 fps): 640x320, the left face larger.
std::string write_two_face_clip(const std::string& dir) {
    ned::io::VideoReader left(ned::test::data_path("video/sadtalker__WDA_KatieHill_000.mp4"));
    ned::io::VideoReader right(ned::test::data_path("video/eamm__surprised.mp4"));
    ned::io::VideoInfo info = left.info();
    info.width = info.display_width = 640;
    info.height = info.display_height = 320;
    info.rotation = 0;
    ned::io::VideoWriterOptions o;
    o.preset = "ultrafast";
    o.crf = 12;
    o.copy_audio = false;
    const std::string path = dir + "/two_faces.mp4";
    ned::io::VideoWriter w(path, info, o);
    ned::io::Frame a, b;
    for (int i = 0; i < kFrames && left.read(a) && right.read(b); ++i) {
        cv::Mat l, r;
        cv::resize(a.bgr, l, cv::Size(320, 320), 0, 0, cv::INTER_AREA);
        cv::resize(b.bgr, r, cv::Size(240, 240), 0, 0, cv::INTER_AREA);  // the smaller face, centred in its half
        cv::copyMakeBorder(r, r, 40, 40, 40, 40, cv::BORDER_CONSTANT, cv::Scalar(0, 0, 0));
        cv::hconcat(l, r, a.bgr);
        w.write(a);
    }
    w.finish();
    return path;
}

float box_side(const ned::face::FaceTrack& t, size_t i) { return t.frames[i].box[2] - t.frames[i].box[0]; }
float box_cx(const ned::face::FaceTrack& t, size_t i) { return 0.5f * (t.frames[i].box[0] + t.frames[i].box[2]); }
}  // namespace

TEST(CliTranslate, TwoFaceClipEditsOnlyTheFacePointedAtOrShownInAPhoto) {
    NED_REQUIRE_DATA();
    Fixture& f = shared();
    ned::test::TempDir dir;
    const std::string clip = write_two_face_clip(dir.path());
    std::vector<cv::Mat> in_frames;
    const auto in_pts = frame_pts(clip, &in_frames);
    ASSERT_EQ(in_pts.size(), static_cast<size_t>(kFrames));

    // --face-index picks by size (0 = largest, 1 = second largest); --face-at the face at the point.
    auto r = run_ned({"crop", clip, dir / "crop0", "--face-index", "0", "-q"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = run_ned({"crop", clip, dir / "crop1", "--face-index", "1", "-q"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = run_ned({"crop", clip, dir / "crop_at", "--face-at", "0.2:480,160", "-q"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto t0 = ned::face::load_track(dir / "crop0/track.safetensors");
    const auto t1 = ned::face::load_track(dir / "crop1/track.safetensors");
    const auto ta = ned::face::load_track(dir / "crop_at/track.safetensors");
    int both = 0;
    for (size_t i = 0; i < static_cast<size_t>(kFrames); ++i) {
        if (ta.frames[i].valid) EXPECT_GT(box_cx(ta, i), 320.f) << "frame " << i;  // the right face throughout
        if (!t0.frames[i].valid || !t1.frames[i].valid) continue;
        // picked by size where both are first seen, then followed (two different faces in every frame)
        if (both++ == 0) EXPECT_GT(box_side(t0, i), box_side(t1, i)) << "frame " << i;
        EXPECT_GT(std::abs(box_cx(t0, i) - box_cx(t1, i)), 160.f) << "frame " << i;
    }
    EXPECT_GT(both, kFrames / 2);
    int valid_at = 0;
    for (const auto& fr : ta.frames) valid_at += fr.valid;
    EXPECT_GT(valid_at, kFrames / 2);

    // Bad values: exit 2 naming what is wrong; no face near the point: exit 2 naming the time.
    r = run_ned({"crop", clip, dir / "bad", "--face-at", "0.2:480", "-q"});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("SECONDS:X,Y"), std::string::npos) << r.err;
    r = run_ned({"crop", clip, dir / "bad", "--face-at", "0.2:320,5", "-q"});  // between the faces, at the top
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("0.2 s"), std::string::npos) << r.err;
    r = run_ned({"crop", clip, dir / "bad", "--face-at", "30:480,160", "-q"});  // after the end
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("ends at"), std::string::npos) << r.err;
    r = run_ned({"crop", clip, dir / "bad", "--face-at", "0:700,160", "-q"});  // outside the frame
    EXPECT_EQ(r.exit_code, 2) << r.err;
    r = run_ned({"crop", clip, dir / "bad", "--face-at", "0:480,160", "--face-index", "1", "-q"});
    EXPECT_EQ(r.exit_code, 2) << r.err;

    // --target-face PHOTO picks the person by identity (the photo: a later frame of the right-hand clip, never
    // part of the two-face video); a photo of a third person matches no face (exit 2 naming the photo).
    const auto photo_of = [&](const std::string& video, int frame, const std::string& path) {
        ned::io::VideoReader rd(ned::test::data_path(video));
        ned::io::Frame fr;
        for (int i = 0; i <= frame; ++i) ASSERT_TRUE(rd.read(fr)) << video;
        ASSERT_TRUE(cv::imwrite(path, fr.bgr));
    };
    photo_of("video/eamm__surprised.mp4", 60, dir / "right_person.png");
    photo_of("video/styletalk__andrew_clip_1+wav.mp4", 10, dir / "third_person.png");
    r = run_ned({"crop", clip, dir / "crop_photo", "--target-face", dir / "right_person.png", "-q"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto tp = ned::face::load_track(dir / "crop_photo/track.safetensors");
    int valid_photo = 0;
    for (size_t i = 0; i < static_cast<size_t>(kFrames); ++i)
        if (tp.frames[i].valid) {
            ++valid_photo;
            EXPECT_GT(box_cx(tp, i), 320.f) << "frame " << i;
        }
    EXPECT_GT(valid_photo, kFrames / 2);
    r = run_ned({"crop", clip, dir / "crop_third", "--target-face", dir / "third_person.png", "-q"});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("third_person.png"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("is this person"), std::string::npos) << r.err;

    // translate --target-face on the right person: the right face changes, the left half stays as the encoder
    // leaves it.
    const std::string out = dir / "out.mp4", work = dir / "work";
    r = run_ned({"translate",
                 clip,
                 out,
                 "--emotion",
                 "happy",
                 "--target-face",
                 dir / "right_person.png",
                 "--renderer",
                 f.models + "/renderer1.safetensors",
                 "--models",
                 f.models,
                 "--work",
                 work,
                 "--preset",
                 "ultrafast",
                 "--crf",
                 "12",
                 "--threads",
                 "2",
                 "--fit-iters",
                 "10",
                 "-q"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    fs::create_directories(dir / "no_faces");
    r = run_ned({"composite", clip, work, dir / "baseline.mp4", "--faces", dir / "no_faces", "--preset", "ultrafast",
                 "--crf", "12", "-q"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::vector<cv::Mat> out_frames, base_frames;
    ASSERT_EQ(frame_pts(out, &out_frames), in_pts);
    ASSERT_EQ(frame_pts(dir / "baseline.mp4", &base_frames), in_pts);
    const auto track = ned::face::load_track(work + "/track.safetensors");
    const cv::Rect left(0, 0, 300, 320);  // the left clip, away from the seam (encoder blocks may straddle it)
    double left_diff = 0, left_noise = 0, face_diff = 0, face_noise = 0;
    int faces = 0;
    for (int t = 0; t < kFrames; ++t) {
        cv::Mat diff, noise;
        cv::absdiff(in_frames[t], out_frames[t], diff);
        cv::absdiff(in_frames[t], base_frames[t], noise);
        left_diff += cv::mean(diff(left))[0];
        left_noise += cv::mean(noise(left))[0];
        if (!track.frames[t].valid) continue;
        const cv::Vec4f b = track.frames[t].box;
        const cv::Rect face =
            cv::Rect(cv::Point(int(b[0]), int(b[1])), cv::Point(int(b[2]), int(b[3]))) & cv::Rect(0, 0, 640, 320);
        EXPECT_GT(face.x, 320) << "frame " << t;
        face_diff += cv::mean(diff(face))[0];
        face_noise += cv::mean(noise(face))[0];
        ++faces;
    }
    ASSERT_GT(faces, kFrames / 2);
    EXPECT_LT(left_diff / kFrames, left_noise / kFrames + 0.5);
    EXPECT_GT(face_diff / faces, face_noise / faces + 4.0);
}

namespace {
/// frame -> inode of WORK/faces/*.png (a file written again gets a new inode: AtomicFile renames).
std::map<std::string, ino_t> face_inodes(const std::string& work) {
    std::map<std::string, ino_t> out;
    for (const auto& e : fs::directory_iterator(work + "/faces")) {
        if (e.path().extension() != ".png") continue;
        struct stat st {};
        if (::stat(e.path().c_str(), &st) == 0) out[e.path().filename().string()] = st.st_ino;
    }
    return out;
}

/// Run translate with the render stage interrupted (`sig` to itself) once `after` frames are on disk.
ned::test::RunResult run_interrupted(const std::vector<std::string>& args, int after, int sig = SIGTERM) {
    return run_ned(args, {{"NED_TEST_INTERRUPT_RENDER_AFTER", std::to_string(after)},
                          {"NED_TEST_INTERRUPT_SIGNAL", std::to_string(sig)}});
}

/// Number of pixels that differ between two images of the same size (all channels).
long differing_pixels(const cv::Mat& a, const cv::Mat& b) {
    if (a.size() != b.size() || a.type() != b.type()) return -1;
    cv::Mat d;
    cv::absdiff(a, b, d);
    d = d.reshape(1, d.rows);
    return cv::countNonZero(d);
}

/// Every PNG of WORK/<sub> equal, pixel for pixel, to the one of the uninterrupted run `ref`.
void expect_same_images(const std::string& ref, const std::string& work, const std::string& sub,
                        const std::string& label) {
    size_t n = 0;
    for (const auto& e : fs::directory_iterator(ref + "/" + sub)) {
        if (e.path().extension() != ".png") continue;
        ++n;
        const std::string name = e.path().filename().string();
        const cv::Mat a = cv::imread(e.path().string(), cv::IMREAD_UNCHANGED);
        const cv::Mat b = cv::imread(work + "/" + sub + "/" + name, cv::IMREAD_UNCHANGED);
        ASSERT_FALSE(a.empty() || b.empty()) << label << ": " << sub << "/" << name;
        EXPECT_EQ(differing_pixels(a, b), 0) << label << ": " << sub << "/" << name;
    }
    EXPECT_GE(n, 6u) << label << ": " << sub;
}
}  // namespace

TEST(CliTranslate, RenderKilledMidwayContinuesFromTheFramesOnDisk) {
    NED_REQUIRE_DATA();
    Fixture& f = shared();
    ned::test::TempDir dir;
    const std::string work = dir / "work", full = dir / "full", report = dir / "report.json";
    // An uninterrupted run for comparison.
    auto r = run_ned(translate_args(f, dir / "full.mp4", full, "happy"));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto full_faces = face_inodes(full);
    ASSERT_GE(full_faces.size(), 6u);

    // Killed after 4 rendered frames: no render record, 4 faces and the resume file on disk.
    r = run_interrupted(translate_args(f, dir / "out.mp4", work, "happy"), 4);
    ASSERT_EQ(r.exit_code, 143) << r.err;
    EXPECT_TRUE(fs::exists(work + "/stages/manipulate.json"));
    EXPECT_FALSE(fs::exists(work + "/stages/render.json"));
    EXPECT_TRUE(fs::exists(work + "/render_resume.safetensors"));
    EXPECT_FALSE(fs::exists(dir / "out.mp4"));
    const auto partial = face_inodes(work);
    ASSERT_EQ(partial.size(), 4u);

    // The next run keeps those 4 files (same inodes: not written again), renders the rest, and the result equals
    // the uninterrupted run's bit for bit (the ring buffer is restored exactly and the conditioning batches are
    // the same; CPU float32 inference is deterministic for the same thread count).
    auto args = translate_args(f, dir / "out.mp4", work, "happy");
    args.insert(args.end(), {"--report", report});
    r = run_ned(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const json rep = read_json(report);
    EXPECT_EQ(rep["render_frames_resumed"], 4);
    EXPECT_FALSE(was_skipped(skipped_stages(report), "render"));
    EXPECT_TRUE(was_skipped(skipped_stages(report), "manipulate"));
    EXPECT_FALSE(fs::exists(work + "/render_resume.safetensors"));
    const auto resumed = face_inodes(work);
    ASSERT_EQ(resumed.size(), full_faces.size());
    for (const auto& [name, ino] : partial) EXPECT_EQ(resumed.at(name), ino) << name << " was rendered again";
    expect_same_images(full, work, "faces", "killed after 4");

    // A stale partial result (interrupted with renderer 1, continued with renderer 2) is never reused.
    r = run_interrupted(translate_args(f, dir / "out2.mp4", work, "sad", 1), 3);
    ASSERT_EQ(r.exit_code, 143) << r.err;
    const auto stale = face_inodes(work);
    EXPECT_EQ(stale.size(), 3u);
    args = translate_args(f, dir / "out2.mp4", work, "sad", 2);
    args.insert(args.end(), {"--report", report, "-y"});
    const auto before = fs::file_time_type::clock::now();
    r = run_ned(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(read_json(report)["render_frames_resumed"], 0);
    for (const auto& [name, ino] : stale) {
        (void)ino;
        EXPECT_GE(fs::last_write_time(work + "/faces/" + name), before) << name << " was reused";
    }
}

// Resume equals an uninterrupted run bit for bit wherever the pass is killed (early, in the middle, just before
// the end; SIGTERM, SIGINT or SIGKILL): every face, every edit mask and every frame of the output video.
TEST(CliTranslate, ResumeAfterAKillAnywhereEqualsAnUninterruptedRun) {
    NED_REQUIRE_DATA();
    Fixture& f = shared();
    ned::test::TempDir dir;
    const std::string full = dir / "full", work = dir / "work";
    auto r = run_ned(translate_args(f, dir / "full.mp4", full, "surprised"));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::vector<cv::Mat> want;
    frame_pts(dir / "full.mp4", &want);
    const int rendered = static_cast<int>(face_inodes(full).size());
    ASSERT_GE(rendered, 6);
    const std::vector<std::pair<int, int>> kills{{1, SIGTERM}, {rendered / 2, SIGINT}, {rendered - 1, SIGKILL}};
    for (const auto& [after, sig] : kills) {
        const std::string label = "killed by signal " + std::to_string(sig) + " after " + std::to_string(after);
        // Only the render stage runs again: its record (and the composite's) removed.
        fs::remove(work + "/stages/render.json");
        fs::remove(work + "/stages/composite.json");
        const std::string out = dir / ("out" + std::to_string(after) + ".mp4");
        r = run_interrupted(translate_args(f, out, work, "surprised"), after, sig);
        ASSERT_EQ(r.exit_code, 128 + sig) << label << "\n" << r.err;
        ASSERT_EQ(face_inodes(work).size(), static_cast<size_t>(after)) << label;
        const std::string report = dir / ("report" + std::to_string(after) + ".json");
        auto args = translate_args(f, out, work, "surprised");
        args.insert(args.end(), {"--report", report});
        r = run_ned(args);
        ASSERT_EQ(r.exit_code, 0) << label << "\n" << r.err;
        EXPECT_EQ(read_json(report)["render_frames_resumed"], after) << label;
        expect_same_images(full, work, "faces", label);
        expect_same_images(full, work, "edit_masks/crop", label);
        std::vector<cv::Mat> got;
        frame_pts(out, &got);
        ASSERT_EQ(got.size(), want.size()) << label;
        for (size_t i = 0; i < got.size(); ++i)
            EXPECT_EQ(differing_pixels(got[i], want[i]), 0) << label << ": frame " << i;
    }
}

// A kept face (or its edit mask) that went missing from a finished --work folder is rendered again, never
// passed through unedited while the report and the comment call the frame edited.
TEST(CliTranslate, AKeptFaceThatWentMissingIsRenderedAgain) {
    NED_REQUIRE_DATA();
    Fixture& f = shared();
    ned::test::TempDir dir;
    const std::string work = dir / "work", report = dir / "report.json";
    auto args = translate_args(f, dir / "out.mp4", work, "happy");
    args.insert(args.end(), {"--report", report});
    auto r = run_ned(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const json first = read_json(report);
    const long edited = first["frames_edited"].get<long>();
    ASSERT_GE(edited, 6);
    ASSERT_EQ(static_cast<long>(face_inodes(work).size()), edited);
    fs::create_directories(dir / "before");
    fs::copy(work + "/faces", dir / "before/faces");
    const std::string name = std::next(face_inodes(work).begin(), 3)->first;

    // 1. The face deleted, only the encoder changed (what would composite from the kept faces).
    fs::remove(work + "/faces/" + name);
    auto again = translate_args(f, dir / "out2.mp4", work, "happy");
    again.insert(again.end(), {"--report", report, "-y"});
    *std::next(std::find(again.begin(), again.end(), std::string("--crf"))) = "14";
    r = run_ned(again);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find(name), std::string::npos) << "the warning names the missing face: " << r.err;
    json rep = read_json(report);
    EXPECT_EQ(rep["frames_edited"], edited);
    EXPECT_EQ(rep["edited_ranges"], first["edited_ranges"]);
    EXPECT_FALSE(was_skipped(skipped_stages(report), "render"));
    ASSERT_TRUE(fs::exists(work + "/faces/" + name));
    expect_same_images(dir / "before", work, "faces", "rendered again");

    // 2. An edit mask deleted: the same.
    fs::remove(work + "/edit_masks/crop/" + name);
    r = run_ned(again);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    rep = read_json(report);
    EXPECT_EQ(rep["frames_edited"], edited);
    EXPECT_TRUE(fs::exists(work + "/edit_masks/crop/" + name));
}

// The streamed render stage makes the faces of the staged commands: `ned render-inputs` of the edited
// reconstruction, then `ned render` (without the edit mask here: it has no command of its own). Same functions
// on the same 8-bit images, so equal up to float rounding of the network (different thread interleaving):
// one grey level in aligned space, two after the Lanczos unalign.
TEST(CliTranslate, StreamedFacesEqualTheStagedCommands) {
    NED_REQUIRE_DATA();
    Fixture& f = shared();
    ned::test::TempDir dir;
    const std::string work = dir / "work";
    auto args = translate_args(f, dir / "out.mp4", work, "happy");
    args.push_back("--no-edit-mask");
    auto r = run_ned(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_FALSE(fs::exists(work + "/edit_masks/crop"));
    const auto streamed = face_inodes(work);
    ASSERT_GE(streamed.size(), 6u);
    fs::rename(work + "/faces", dir / "streamed");
    r = run_ned({"render-inputs", work, "--reconstruction", work + "/edited.safetensors", "--flame",
                 f.models + "/flame.safetensors", "--threads", "2", "-q"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = run_ned({"render", work, "--renderer", f.models + "/renderer1.safetensors", "--threads", "2", "-q"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto staged = face_inodes(work);
    ASSERT_EQ(staged.size(), streamed.size());
    for (const auto& [name, ino] : staged) {
        (void)ino;
        ASSERT_TRUE(streamed.count(name)) << name;
        const cv::Mat a = cv::imread(dir / "streamed" + "/" + name), b = cv::imread(work + "/faces/" + name);
        ASSERT_FALSE(a.empty() || b.empty()) << name;
        double maxdiff = 0;
        cv::minMaxLoc(cv::abs(a - b) + cv::abs(b - a), nullptr, &maxdiff);
        EXPECT_LE(maxdiff, 2.0) << name;
        EXPECT_GT(cv::norm(a, cv::NORM_L1), 0.0) << name;  // a face, not an empty image
    }

    // A failure inside the stream (here the renderer thread: a source mask of the wrong size for a late frame)
    // stops every thread: one error line, exit 2, no output, no hang.
    const std::string late = std::prev(staged.end())->first;
    fs::create_directories(work + "/masks");
    cv::imwrite(work + "/masks/" + late, cv::Mat(10, 10, CV_8UC1, cv::Scalar(255)));
    args = translate_args(f, dir / "failed.mp4", work, "happy", 2);
    args.push_back("--no-edit-mask");
    r = run_ned(args);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_EQ(r.err.find("ned: error:"), r.err.rfind("ned: error:")) << r.err;  // one error line (warnings aside)
    EXPECT_EQ(r.err.find("[E]"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(late), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("expected 256x256"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(dir / "failed.mp4"));
    EXPECT_FALSE(fs::exists(work + "/stages/render.json"));
}

TEST(CliTranslate, TemporaryWorkFolderIsRemovedOnASignal) {
    NED_REQUIRE_DATA();
    Fixture& f = shared();
    ned::test::TempDir dir;
    const std::string tmp = dir / "tmp";
    fs::create_directories(tmp);
    std::vector<std::string> args = {"translate",
                                     f.clip,
                                     dir / "out.mp4",
                                     "--emotion",
                                     "happy",
                                     "--renderer",
                                     f.models + "/renderer1.safetensors",
                                     "--models",
                                     f.models,
                                     "--preset",
                                     "ultrafast",
                                     "--threads",
                                     "2",
                                     "--fit-iters",
                                     "10",
                                     "-q"};
    const char* old_tmp = std::getenv("TMPDIR");
    const std::string saved = old_tmp ? old_tmp : "";
    ::setenv("TMPDIR", tmp.c_str(), 1);
    const auto r = run_interrupted(args, 2);  // SIGTERM while rendering: every stage has written its files
    if (old_tmp)
        ::setenv("TMPDIR", saved.c_str(), 1);
    else
        ::unsetenv("TMPDIR");
    EXPECT_EQ(r.exit_code, 143) << r.err;
    EXPECT_NE(r.err.find("terminated"), std::string::npos) << r.err;
    std::vector<std::string> left;
    for (const auto& e : fs::directory_iterator(tmp)) left.push_back(e.path().string());
    EXPECT_TRUE(left.empty()) << left.front();
    EXPECT_FALSE(fs::exists(dir / "out.mp4"));
}

// issue 11 deliverable 4: `ned train-renderer` takes a video file; the video is prepared once (analysis,
// landmark fit with the synthetic FLAME, conditioning) into DIR/cache/video-<stem>-<hash>/ with stage records,
// and a second run reuses every stage. (Here with the translate fixture's clip and FLAME.)
TEST(CliTranslate, TrainRendererPreparesAVideoOnceAndReusesIt) {
    NED_REQUIRE_DATA();
    Fixture& f = shared();
    ned::test::TempDir dir;
    const std::string out = dir / "actor";
    auto args = [&](bool again) {
        std::vector<std::string> a = {"train-renderer",
                                      f.clip,
                                      "--out",
                                      out,
                                      "--flame",
                                      f.models + "/flame.safetensors",
                                      "--fit-iters",
                                      "10",
                                      "--ngf",
                                      "4",
                                      "--ndf",
                                      "4",
                                      "--no-vgg",
                                      "--epochs",
                                      "1",
                                      "--clip-frames",
                                      "3",
                                      "--val-frames",
                                      "2",
                                      "--subsequence",
                                      "4",
                                      "--batch-size",
                                      "1",
                                      "--save-minutes",
                                      "0",
                                      "--threads",
                                      "2",
                                      "-q"};
        if (again) a.push_back("-y");
        return a;
    };
    auto r = run_ned(args(false));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(fs::exists(out + "/renderer.safetensors"));
    std::vector<fs::path> prepared;
    for (const auto& e : fs::directory_iterator(out + "/cache"))
        if (e.path().filename().string().rfind("video-clip-", 0) == 0) prepared.push_back(e.path());
    ASSERT_EQ(prepared.size(), 1u);
    const fs::path w = prepared[0];
    std::map<std::string, std::string> keys;
    for (const char* s : {"analyze", "reconstruct", "condition"}) {
        const json rec = read_json((w / "stages" / (std::string(s) + ".json")).string());
        EXPECT_EQ(rec["format"], "ned.stage") << s;
        keys[s] = rec["key"];
    }
    EXPECT_TRUE(fs::exists(w / "conditioning" / "conditioning.json"));
    EXPECT_EQ(ned::face::load_track((w / "track.safetensors").string()).frames.size(), static_cast<size_t>(kFrames));
    const auto stamp = fs::last_write_time(w / "stages" / "analyze.json");
    const auto recon_stamp = fs::last_write_time(w / "reconstruction.safetensors");

    // Second run (-y starts the training over): the preparation is reused, nothing is analysed again.
    r = run_ned(args(true));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    for (const char* s : {"analyze", "reconstruct", "condition"})
        EXPECT_EQ(read_json((w / "stages" / (std::string(s) + ".json")).string())["key"], keys[s]) << s;
    EXPECT_EQ(fs::last_write_time(w / "stages" / "analyze.json"), stamp);
    EXPECT_EQ(fs::last_write_time(w / "reconstruction.safetensors"), recon_stamp);

    // A folder of videos is taken too (same video, same cache entry); a missing FLAME is exit 3 before decoding.
    fs::create_directories(dir / "videos");
    fs::copy_file(f.clip, dir / "videos/clip.mp4");
    r = run_ned({"train-renderer", dir / "videos", "--out", dir / "actor2", "--flame", dir / "none.safetensors",
                 "--no-vgg", "-q"});
    EXPECT_EQ(r.exit_code, 3) << r.err;
    EXPECT_NE(r.err.find("none.safetensors"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(dir / "actor2/cache"));
}

// Faces at 512x512 (issue 24): --crop-size 512 with a renderer trained at 512 keeps 512x512 faces in --work; a
// 256 renderer (NED's, no crop_size metadata) with --crop-size 512 is refused with one line before any work.
TEST(CliTranslate, CropSize512KeepsFacesAt512AndRefusesA256Renderer) {
    NED_REQUIRE_DATA();
    Fixture& f = shared();
    ned::test::TempDir dir;
    torch::manual_seed(3);
    ned::renderer::GeneratorConfig c;
    c.ngf = 4;
    c.n_blocks = 3;
    ned::renderer::Generator g(c);
    ned::renderer::init_weights(*g);
    const std::string r512 = dir / "renderer512.safetensors";
    ned::renderer::save_renderer(r512, g, ned::renderer::MultiscaleDiscriminator{nullptr},
                                 ned::renderer::MultiscaleDiscriminator{nullptr}, {{"crop_size", "512"}});

    const std::string work = dir / "work";
    auto args = translate_args(f, dir / "out.mp4", work, "happy");
    args.insert(args.end(), {"--crop-size", "512"});
    auto refused = args;  // renderer1: no crop_size metadata, taken as NED's 256
    auto r = run_ned(refused);
    EXPECT_EQ(r.exit_code, 3) << r.err;
    EXPECT_NE(r.err.find("renderer1.safetensors was trained at 256x256 faces; the track's crops are 512x512"),
              std::string::npos)
        << r.err;
    EXPECT_FALSE(fs::exists(work)) << "refused before any work";

    args[6] = r512;  // --renderer
    r = run_ned(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(ned::face::load_track(work + "/track.safetensors").crop_size, 512);
    int faces = 0;
    for (const auto& e : fs::directory_iterator(work + "/faces")) {
        const cv::Mat img = cv::imread(e.path().string(), cv::IMREAD_UNCHANGED);
        EXPECT_EQ(img.size(), cv::Size(512, 512)) << e.path();
        ++faces;
    }
    EXPECT_GT(faces, 0);
    EXPECT_EQ(frame_pts(dir / "out.mp4").size(), static_cast<size_t>(kFrames));
}
