// Hostile and broken inputs × commands through the real binary (issue 10). Every case asserts the exit code,
// one line on stderr (naming what went wrong), nothing left behind and every input byte-identical: the whole
// scratch folder is snapshotted (path -> bytes) before and after the run.
//
// The inputs are small and synthetic, made by the fixture in-process (no shared clips, no model weights):
// a 64x64 10-frame video, a track and a reconstruction for it, a dataset, and hostile variants of each.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <thread>

#include <opencv2/imgcodecs.hpp>

#include "ned/core/fs_util.hpp"
#include "ned/core/safetensors.hpp"
#include "ned/face/face_track.hpp"
#include "ned/io/video.hpp"
#include "ned/recon/reconstruction.hpp"
#include "support/test_support.hpp"
#include "unit/conditioning/synthetic_flame.hpp"

namespace fs = std::filesystem;
using ned::test::count_lines;

// stderr without the warnings ("[W] ...") that the run logged before it failed (e.g. "no DECA weights: coarse
// shape images", a missing mask replaced by the default one): those are ordinary log lines; what these tests
// hold to one line is the failure itself, which must come last.
static std::string without_warnings(const std::string& err) {
    std::string out, line;
    std::istringstream in(err);
    while (std::getline(in, line))
        if (line.rfind("[W] ", 0) != 0) out += line + "\n";
    return out;
}
using ned::test::run_ned;

extern char** environ;  // the test's environment, passed on to the spawned ned with one variable added

namespace {

constexpr int kW = 64, kH = 64, kFrames = 10, kCrop = 32;

void write_video(const std::string& path, int w, int h, int frames, const std::string& preset = "ultrafast") {
    ned::io::VideoInfo info;
    info.path = path;
    info.width = info.display_width = w;
    info.height = info.display_height = h;
    info.frame_rate = {25, 1};
    info.time_base = {1, 25};
    ned::io::VideoWriterOptions o;
    o.copy_audio = false;
    o.preset = preset;
    ned::io::VideoWriter writer(path, info, o);
    for (int i = 0; i < frames; ++i) {
        ned::io::Frame f;
        f.bgr = cv::Mat(h, w, CV_8UC3);
        cv::randu(f.bgr, cv::Scalar::all(0), cv::Scalar::all(255));
        f.index = i;
        f.pts = i;
        writer.write(f);
    }
    writer.finish();
}

ned::face::FaceTrack make_track(const std::string& video, int frames, int w = kW, int h = kH) {
    ned::face::FaceTrack t;
    t.source = video;
    t.width = w;
    t.height = h;
    t.fps_num = 25;
    t.fps_den = 1;
    t.crop_size = kCrop;
    t.has_analysis = true;
    t.frames.resize(frames);
    for (auto& f : t.frames) {
        f.valid = f.detected = true;
        f.box = {16, 16, 48, 48};
        f.crop_to_frame = cv::Matx23f(1, 0, 16, 0, 1, 16);
        for (int k = 0; k < ned::face::kNumLandmarks; ++k) {
            f.landmarks[k] = {8.f + (k % 17), 8.f + k / 4.f};
            f.aligned_landmarks[k] = f.landmarks[k];
        }
        f.align = cv::Matx23f(1, 0, 0, 0, 1, 0);
        f.pupils = {cv::Point2f(12, 12), cv::Point2f(20, 12)};
    }
    return t;
}

ned::recon::Reconstruction make_recon(const std::string& video, int frames) {
    ned::recon::Reconstruction r;
    r.source = video;
    r.fps = "25/1";
    r.method = "fit";
    r.valid.assign(frames, 1);
    for (const char* p : {"shape", "exp", "pose", "cam", "tform"}) r.ensure(p);
    for (int t = 0; t < frames; ++t) r.at("cam").values[3 * t] = 8.f;
    return r;
}

void write_bytes(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// A safetensors file whose only tensor has the given shape (JSON) and offsets, with `format` metadata.
std::string hostile_safetensors(const std::string& format, const std::string& shape, const std::string& offsets) {
    const std::string header = "{\"__metadata__\":{\"format\":\"" + format +
                               "\",\"version\":\"1\"},\"valid\":{\"dtype\":"
                               "\"U8\",\"shape\":" +
                               shape + ",\"data_offsets\":" + offsets + "}}";
    std::string out(8, '\0');
    for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
    return out + header + std::string(16, '\0');
}

/// Everything under `root`: relative path -> contents ("<dir>" for folders, "-> target" for symlinks).
std::map<std::string, std::string> snapshot(const std::string& root) {
    std::map<std::string, std::string> s;
    for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it) {
        const std::string rel = fs::relative(it->path(), root).string();
        if (it->is_symlink())
            s[rel] = "-> " + fs::read_symlink(it->path()).string();
        else if (it->is_directory())
            s[rel] = "<dir>";
        else
            s[rel] = slurp(it->path().string());
    }
    return s;
}

/// The shared scratch folder with every input (made once per test process).
class Fixture {
public:
    static Fixture& get() {
        static Fixture f;
        return f;
    }
    const std::string& root() const { return dir_.path(); }

private:
    Fixture() {
        const std::string F = dir_.path();
        const std::string video = F + "/in.mp4";
        write_video(video, kW, kH, kFrames);
        fs::create_directories(F + "/sub");
        fs::create_symlink(video, F + "/link.mp4");
        fs::create_hard_link(video, F + "/hard.mp4");
        write_bytes(F + "/garbage.mp4", "this is not a video\n");
        write_bytes(F + "/existing.log", "an old log\n");
        write_bytes(F + "/flame.safetensors", "not really a FLAME asset\n");
        write_bytes(F + "/ckpt.safetensors", "not really a checkpoint\n");
        write_bytes(F + "/ckpt_huge.safetensors",
                    hostile_safetensors("ned.manipulator", "[9223372036854775807,9223372036854775807]", "[0,16]"));
        write_bytes(F + "/ckpt_wrap.safetensors",
                    hostile_safetensors("ned.manipulator", "[4611686018427387904,4]", "[0,0]"));
        {  // network widths from the metadata: 2e9 would be built (terabytes) before any tensor is looked at
            const std::string h =
                "{\"__metadata__\":{\"format\":\"ned.manipulator\",\"version\":\"1\",\"g_hidden\":\"2000000000\"}}";
            std::string b(8, '\0');
            for (int i = 0; i < 8; ++i) b[i] = static_cast<char>((h.size() >> (8 * i)) & 0xff);
            write_bytes(F + "/ckpt_wide.safetensors", b + h);
        }

        // Work folder: a valid track (with analysis), faces for 3 frames, a reconstruction.
        fs::create_directories(F + "/w/faces");
        ned::face::save_track(F + "/w/track.safetensors", make_track(video, kFrames));
        for (int t = 0; t < 3; ++t)
            cv::imwrite(F + "/w/faces/" + ned::frame_name(t, ".png"),
                        cv::Mat(kCrop, kCrop, CV_8UC3, cv::Scalar(0, 128, 255)));
        ned::recon::save_reconstruction(F + "/w/reconstruction.safetensors", make_recon(video, kFrames));

        // Hostile tracks.
        auto nan_track = make_track(video, kFrames);
        nan_track.frames[2].crop_to_frame(0, 2) = std::numeric_limits<float>::quiet_NaN();
        fs::create_directories(F + "/track_nan");
        ned::face::save_track(F + "/track_nan/track.safetensors", nan_track);
        auto huge_track = make_track(video, kFrames);
        huge_track.frames[4].landmarks[30] = {1e30f, -1e30f};
        fs::create_directories(F + "/track_huge");
        ned::face::save_track(F + "/track_huge/track.safetensors", huge_track);
        fs::create_directories(F + "/track_size");
        ned::face::save_track(F + "/track_size/track.safetensors", make_track(video, kFrames, 96, 64));
        fs::create_directories(F + "/track_long");
        ned::face::save_track(F + "/track_long/track.safetensors", make_track(video, kFrames + 5));

        // Reconstructions.
        ned::recon::save_reconstruction(F + "/rec.safetensors", make_recon(video, 12));
        ned::recon::save_reconstruction(F + "/ref.safetensors", make_recon(video, 12));
        auto nan_rec = make_recon(video, 12);
        nan_rec.at("exp").values[3 * 50 + 7] = std::numeric_limits<float>::quiet_NaN();
        ned::recon::save_reconstruction(F + "/rec_nan.safetensors", nan_rec);
        auto inf_cam = make_recon(video, kFrames);
        inf_cam.at("cam").values[3 * 5] = std::numeric_limits<float>::infinity();
        ned::recon::save_reconstruction(F + "/rec_infcam.safetensors", inf_cam);
        auto short_ref = make_recon(video, 12);
        for (int t = 0; t < 12; t += 5) short_ref.valid[t] = 0;  // longest valid run: 4 frames
        ned::recon::save_reconstruction(F + "/ref_short.safetensors", short_ref);
        write_bytes(F + "/rec_negdim.safetensors", hostile_safetensors("ned.reconstruction", "[-4]", "[0,16]"));

        // Datasets.
        fs::create_directories(F + "/dataset/happy");
        fs::create_directories(F + "/dataset/sad");
        ned::recon::save_reconstruction(F + "/dataset/happy/a.safetensors", make_recon(video, 12));
        ned::recon::save_reconstruction(F + "/dataset/sad/b.safetensors", make_recon(video, 12));
        fs::create_directories(F + "/empty_dataset");
        fs::create_directories(F + "/dataset_nan/happy");
        fs::create_directories(F + "/dataset_nan/sad");
        ned::recon::save_reconstruction(F + "/dataset_nan/happy/a.safetensors", make_recon(video, 12));
        ned::recon::save_reconstruction(F + "/dataset_nan/sad/b.safetensors", nan_rec);
        // A dataset whose jaw and expression vary (training runs): for the disk-full test.
        for (const char* e : {"happy", "sad"}) {
            fs::create_directories(F + "/dataset_var/" + e);
            auto r = make_recon(video, 12);
            for (int t = 0; t < 12; ++t) {
                r.at("pose").values[6 * t + 3] = 0.05f * std::sin(0.7f * t + (e[0] == 'h'));
                for (int k = 0; k < 50; ++k) r.at("exp").values[50 * t + k] = 0.1f * std::cos(0.3f * t * (k + 1));
            }
            ned::recon::save_reconstruction(F + "/dataset_var/" + e + "/a.safetensors", r);
        }

        // A FLAME asset that loads (synthetic, 24x24 grid): the checks that come after loading it.
        ned::st::save(F + "/flame_ok.safetensors", ned::test::synthetic_flame_file(24, true));
        {  // the same with one NaN weight: found by the model check before any decoding (exit 3)
            auto nan_flame = ned::test::synthetic_flame_file(24, true);
            for (auto& [name, t] : nan_flame.tensors)
                if (t.dtype == ned::st::DType::F32 && t.numel() > 10) {
                    const float nan = std::numeric_limits<float>::quiet_NaN();
                    std::memcpy(t.data.data() + 4 * 7, &nan, 4);
                    break;
                }
            ned::st::save(F + "/flame_nan.safetensors", nan_flame);
        }
        // Stand-ins of the manipulator and renderer files that pass the model check (format, finite weights):
        // the translate cases that must get past it. A renderer cut short: its header points past its end.
        for (const char* fmt : {"manipulator", "renderer"}) {
            ned::st::File f;
            f.metadata = {{"format", std::string("ned.") + fmt}, {"version", "1"}};
            f.tensors["w"] = ned::st::Tensor::f32({4}, {1, 2, 3, 4});
            ned::st::save(F + "/" + fmt + "_stub.safetensors", f);
            if (fmt[0] == 'r') {
                const auto bytes = ned::st::serialize(f);
                write_bytes(F + "/renderer_short.safetensors", std::string(bytes.begin(), bytes.end() - 8));
            }
        }
        // Work folders: "stages" is a file; a render with an empty conditioning manifest.
        fs::create_directories(F + "/work_stages_file");
        write_bytes(F + "/work_stages_file/stages", "a file where a folder belongs\n");
        fs::create_directories(F + "/w_emptycond/conditioning");
        ned::face::save_track(F + "/w_emptycond/track.safetensors", make_track(video, kFrames));
        write_bytes(F + "/w_emptycond/conditioning/conditioning.json",
                    "{\"format\": \"ned.conditioning\", \"frames\": []}");

        // Corrupt face and mask PNGs (truncated; a flipped byte in the image data): ned's own line, no libpng's.
        cv::imwrite(F + "/ok.png", cv::Mat(kCrop, kCrop, CV_8UC3, cv::Scalar(10, 128, 250)));
        const std::string png = slurp(F + "/ok.png");
        fs::remove(F + "/ok.png");
        std::string flipped = png;
        flipped[png.find("IDAT") + 6] ^= 0x5a;
        fs::create_directories(F + "/faces_truncated");
        write_bytes(F + "/faces_truncated/" + ned::frame_name(1, ".png"), png.substr(0, png.size() - 30));
        fs::create_directories(F + "/faces_crc");
        write_bytes(F + "/faces_crc/" + ned::frame_name(0, ".png"), flipped);
        fs::create_directories(F + "/masks_bad");
        write_bytes(F + "/masks_bad/" + ned::frame_name(0, ".png"), png.substr(0, 40));
    }
    ned::test::TempDir dir_;
};

struct Case {
    const char* name;
    std::vector<std::string> args;  ///< "@" is replaced by the fixture folder
    int code;
    const char* says = "";                     ///< a substring stderr must contain
    std::vector<std::string> may_create = {};  ///< success cases: outputs allowed to appear
};

std::ostream& operator<<(std::ostream& os, const Case& c) { return os << c.name; }

const std::vector<Case>& cases() {
    static const std::vector<Case> t = {
        // --- an output never resolves to an input, with or without -y ---
        {"composite_out_is_video",
         {"-y", "composite", "@/in.mp4", "@/w", "@/in.mp4", "--faces", "@/w/faces"},
         2,
         "is the input video"},
        {"composite_out_dot_spelling",
         {"-y", "composite", "@/in.mp4", "@/w", "@/./in.mp4", "--faces", "@/w/faces"},
         2,
         "is the input video"},
        {"composite_out_dotdot_spelling",
         {"-y", "composite", "@/in.mp4", "@/w", "@/sub/../in.mp4", "--faces", "@/w/faces"},
         2,
         "is the input video"},
        {"composite_out_symlink_to_video",
         {"-y", "composite", "@/in.mp4", "@/w", "@/link.mp4", "--faces", "@/w/faces"},
         2,
         "is the input video"},
        {"composite_out_hardlink_to_video",
         {"-y", "composite", "@/in.mp4", "@/w", "@/hard.mp4", "--faces", "@/w/faces"},
         2,
         "is the input video"},
        {"composite_video_via_symlink_out_is_video",
         {"-y", "composite", "@/link.mp4", "@/w", "@/in.mp4", "--faces", "@/w/faces"},
         2,
         "is the input video"},
        {"manipulate_out_is_in",
         {"-y", "manipulate", "@/rec.safetensors", "@/rec.safetensors", "--checkpoint", "@/ckpt.safetensors",
          "--emotion", "happy"},
         2,
         "is the input reconstruction"},
        {"manipulate_out_is_reference",
         {"-y", "manipulate", "@/rec.safetensors", "@/ref.safetensors", "--checkpoint", "@/ckpt.safetensors",
          "--reference", "@/ref.safetensors"},
         2,
         "is the reference reconstruction"},
        {"manipulate_out_is_checkpoint",
         {"-y", "manipulate", "@/rec.safetensors", "@/ckpt.safetensors", "--checkpoint", "@/ckpt.safetensors",
          "--emotion", "happy"},
         2,
         "is the checkpoint"},
        {"analyze_preview_is_video",
         {"-y", "analyze", "@/in.mp4", "@/aw", "--preview", "@/in.mp4"},
         2,
         "is the input video"},
        {"render_inputs_preview_is_track_source",
         {"-y", "render-inputs", "@/w", "--flame", "@/flame.safetensors", "--preview", "@/in.mp4"},
         2,
         "is the source video of the track"},
        {"reconstruct_log_file_is_flame",
         {"--log-file", "@/flame.safetensors", "reconstruct", "@/w", "--flame", "@/flame.safetensors"},
         2,
         "is the FLAME asset"},
        {"log_file_is_video_without_y", {"--log-file", "@/in.mp4", "probe", "@/in.mp4"}, 2, "is the input video"},
        {"log_file_is_video_with_y", {"-y", "--log-file", "@/link.mp4", "probe", "@/in.mp4"}, 2, "is the input video"},
        {"log_file_exists_without_y", {"--log-file", "@/existing.log", "probe", "@/in.mp4"}, 2, "already exists"},
        {"log_file_is_folder", {"--log-file", "@/w", "probe", "@/in.mp4"}, 2, "is a folder"},
        {"log_file_in_missing_folder", {"--log-file", "@/nope/x.log", "probe", "@/in.mp4"}, 2, "does not exist"},
        {"export_mesh_log_file_is_reconstruction",
         {"-y", "--log-file", "@/rec.safetensors", "export-mesh", "@/rec.safetensors", "--flame", "@/flame.safetensors",
          "--out", "@/meshes"},
         2,
         "is the reconstruction"},
        // --- every output has its own path (checked up front by main: before the log file, before any work) ---
        {"translate_report_is_output",
         {"-y", "translate", "@/in.mp4", "@/o.mp4", "--emotion", "happy", "--renderer", "@/renderer_stub.safetensors",
          "--report", "@/o.mp4"},
         2,
         "every output needs its own path"},
        {"translate_report_is_output_other_spelling",
         {"translate", "@/in.mp4", "@/o.mp4", "--emotion", "happy", "--renderer", "@/renderer_stub.safetensors",
          "--report", "@/sub/../o.mp4"},
         2,
         "every output needs its own path"},
        {"translate_preview_is_report",
         {"translate", "@/in.mp4", "@/o.mp4", "--emotion", "happy", "--renderer", "@/renderer_stub.safetensors",
          "--preview", "@/p.mp4", "--report", "@/p.mp4"},
         2,
         "every output needs its own path"},
        {"translate_work_is_output",
         {"translate", "@/in.mp4", "@/o.mp4", "--emotion", "happy", "--renderer", "@/renderer_stub.safetensors",
          "--work", "@/o.mp4"},
         2,
         "every output needs its own path"},
        {"translate_log_file_is_report",
         {"-y", "--log-file", "@/r.json", "translate", "@/in.mp4", "@/o.mp4", "--emotion", "happy", "--renderer",
          "@/renderer_stub.safetensors", "--report", "@/r.json"},
         2,
         "every output needs its own path"},
        {"eval_json_is_plot",
         {"eval", "@/in.mp4", "@/in.mp4", "--json", "@/m.png", "--plot", "@/m.png"},
         2,
         "every output needs its own path"},
        {"crop_preview_is_outdir",
         {"crop", "@/in.mp4", "@/cw", "--preview", "@/cw"},
         2,
         "every output needs its own path"},
        // --- the work folder of translate: checked before it is created or written ---
        {"translate_work_is_a_file",
         {"translate", "@/in.mp4", "@/o.mp4", "--emotion", "happy", "--models", "@/nomodels", "--flame",
          "@/flame_ok.safetensors", "--manipulator", "@/manipulator_stub.safetensors", "--renderer",
          "@/renderer_stub.safetensors", "--work", "@/existing.log"},
         2,
         "is a file, not a folder"},
        {"translate_work_stages_is_a_file",
         {"translate", "@/in.mp4", "@/o.mp4", "--emotion", "happy", "--models", "@/nomodels", "--flame",
          "@/flame_ok.safetensors", "--manipulator", "@/manipulator_stub.safetensors", "--renderer",
          "@/renderer_stub.safetensors", "--work", "@/work_stages_file"},
         2,
         "work_stages_file/stages is a file"},
        {"translate_failure_removes_the_work_folder_it_made",
         {"translate", "@/in.mp4", "@/o.mp4", "--emotion", "happy", "--models", "@/nomodels", "--flame",
          "@/flame_ok.safetensors", "--manipulator", "@/manipulator_stub.safetensors", "--renderer",
          "@/renderer_stub.safetensors", "--work", "@/tw/deeper"},
         2,
         "no face"},
        // --- every model file fully checked (header, offsets, sizes, finite values) before any decoding ---
        {"translate_flame_with_nan",
         {"translate", "@/in.mp4", "@/o.mp4", "--emotion", "happy", "--models", "@/nomodels", "--flame",
          "@/flame_nan.safetensors", "--manipulator", "@/manipulator_stub.safetensors", "--renderer",
          "@/renderer_stub.safetensors"},
         3,
         "flame_nan.safetensors: tensor"},
        {"translate_renderer_cut_short",
         {"translate", "@/in.mp4", "@/o.mp4", "--emotion", "happy", "--models", "@/nomodels", "--flame",
          "@/flame_ok.safetensors", "--manipulator", "@/manipulator_stub.safetensors", "--renderer",
          "@/renderer_short.safetensors"},
         3,
         "renderer_short.safetensors"},
        // --- style: a wrong reference is refused before the analysis of IN ---
        {"style_reference_not_a_video",
         {"style", "@/in.mp4", "@/o.mp4", "--reference", "@/garbage.mp4", "--models", "@/nomodels", "--flame",
          "@/flame_ok.safetensors", "--manipulator", "@/manipulator_stub.safetensors", "--renderer",
          "@/renderer_stub.safetensors"},
         2,
         "garbage.mp4"},
        {"style_reference_without_window",
         {"style", "@/in.mp4", "@/o.mp4", "--reference", "@/ref_short.safetensors", "--models", "@/nomodels", "--flame",
          "@/flame_ok.safetensors", "--manipulator", "@/manipulator_stub.safetensors", "--renderer",
          "@/renderer_stub.safetensors"},
         2,
         "no 10 consecutive"},
        // --- render ---
        {"render_empty_conditioning_manifest",
         {"render", "@/w_emptycond", "--renderer", "@/renderer_stub.safetensors"},
         2,
         "lists no frame"},
        // --- hostile model and boundary files: no crash, the right exit code ---
        {"manipulate_checkpoint_huge_dims",
         {"manipulate", "@/rec.safetensors", "@/o.safetensors", "--checkpoint", "@/ckpt_huge.safetensors", "--emotion",
          "happy"},
         3,
         "too large"},
        {"manipulate_checkpoint_size_wraps",
         {"manipulate", "@/rec.safetensors", "@/o.safetensors", "--checkpoint", "@/ckpt_wrap.safetensors", "--emotion",
          "happy"},
         3,
         "too large"},
        {"manipulate_checkpoint_huge_width",
         {"manipulate", "@/rec.safetensors", "@/o.safetensors", "--checkpoint", "@/ckpt_wide.safetensors", "--emotion",
          "happy"},
         3,
         "g_hidden"},
        {"train_init_from_huge_dims",
         {"train-manipulator", "@/dataset_var", "--out", "@/tout", "--init-from", "@/ckpt_huge.safetensors"},
         3,
         "too large"},
        {"manipulate_input_negative_dim",
         {"manipulate", "@/rec_negdim.safetensors", "@/o.safetensors", "--checkpoint", "@/ckpt.safetensors",
          "--emotion", "happy"},
         2,
         "invalid dimension"},
        {"composite_track_nan_crop_to_frame",
         {"composite", "@/in.mp4", "@/track_nan", "@/o.mp4", "--faces", "@/w/faces"},
         2,
         "'crop_to_frame' frame 2"},
        {"composite_track_huge_landmarks",
         {"composite", "@/in.mp4", "@/track_huge", "@/o.mp4", "--faces", "@/w/faces"},
         2,
         "'landmarks' frame 4"},
        {"composite_track_other_size",
         {"composite", "@/in.mp4", "@/track_size", "@/o.mp4", "--faces", "@/w/faces"},
         2,
         "96x64"},
        {"composite_track_longer_than_video",
         {"composite", "@/in.mp4", "@/track_long", "@/o.mp4", "--faces", "@/w/faces"},
         2,
         "has only 10"},
        {"composite_garbage_video",
         {"composite", "@/garbage.mp4", "@/w", "@/o.mp4", "--faces", "@/w/faces"},
         2,
         "garbage.mp4"},
        {"composite_unknown_extension",
         {"composite", "@/in.mp4", "@/w", "@/o.gif", "--faces", "@/w/faces"},
         2,
         "unsupported extension"},
        {"manipulate_nan_exp",
         {"manipulate", "@/rec_nan.safetensors", "@/o.safetensors", "--checkpoint", "@/ckpt.safetensors", "--emotion",
          "happy"},
         2,
         "'exp' frame 3"},
        {"render_inputs_inf_cam",
         {"render-inputs", "@/w", "--flame", "@/flame.safetensors", "--reconstruction", "@/rec_infcam.safetensors"},
         2,
         "'cam' frame 5"},
        {"train_nan_file_in_dataset", {"train-manipulator", "@/dataset_nan", "--out", "@/tout"}, 2, "'exp' frame 3"},
        // --- nonsense option values ---
        {"train_lr_nan", {"train-manipulator", "@/dataset", "--out", "@/tout", "--lr", "nan"}, 2, "--lr"},
        {"train_lr_negative", {"train-manipulator", "@/dataset", "--out", "@/tout", "--lr", "-1"}, 2, "--lr"},
        // Constant data: the Pearson mouth loss would be 0/0 -> refused up front, saying the data do not vary.
        {"train_constant_data",
         {"train-manipulator", "@/dataset", "--out", "@/tout", "--epochs", "1", "--decay-epochs", "0",
          "--iters-per-epoch", "1", "--batch-size", "2"},
         2,
         "the training data do not vary"},
        {"train_empty_dataset", {"train-manipulator", "@/empty_dataset", "--out", "@/tout"}, 2, "empty_dataset"},
        {"train_bad_init_from",
         {"train-manipulator", "@/dataset_var", "--out", "@/tout", "--init-from", "@/ckpt.safetensors"},
         3,
         "ckpt.safetensors"},
        {"reconstruct_fit_smooth_nan",
         {"reconstruct", "@/w", "--flame", "@/flame.safetensors", "--fit-smooth", "nan"},
         2,
         "--fit-smooth"},
        {"reconstruct_fit_chunk_zero",
         {"reconstruct", "@/w", "--flame", "@/flame.safetensors", "--fit-chunk", "0"},
         2,
         "--fit-chunk"},
        {"crop_max_frames_negative", {"crop", "@/in.mp4", "@/cw", "--max-frames", "-1"}, 2, "--max-frames"},
        {"crop_cut_threshold_2", {"crop", "@/in.mp4", "@/cw", "--cut-threshold", "2"}, 2, "--cut-threshold"},
        {"crop_crop_size_huge", {"crop", "@/in.mp4", "@/cw", "--crop-size", "100000"}, 2, "--crop-size"},
        {"crop_preview_unknown_extension",
         {"crop", "@/in.mp4", "@/cw", "--preview", "@/sheet.gif"},
         2,
         "unsupported extension"},
        {"analyze_cut_threshold_nan", {"analyze", "@/in.mp4", "@/aw", "--cut-threshold", "nan"}, 2, "--cut-threshold"},
        {"device_tpu", {"--device", "tpu", "probe", "@/in.mp4"}, 2, "tpu"},
        {"translate_seed_too_large",
         {"translate", "@/in.mp4", "@/o.mp4", "--emotion", "happy", "--renderer", "@/renderer_stub.safetensors",
          "--seed", "99999999999999999999999"},
         2,
         "--seed"},
        {"translate_seed_negative",
         {"translate", "@/in.mp4", "@/o.mp4", "--emotion", "happy", "--renderer", "@/renderer_stub.safetensors",
          "--seed", "-1"},
         2,
         "--seed"},
        {"manipulate_seed_too_large",
         {"manipulate", "@/rec.safetensors", "@/o.safetensors", "--checkpoint", "@/ckpt.safetensors", "--emotion",
          "happy", "--seed", "18446744073709551616"},
         2,
         "--seed"},
        {"translate_schedule_trailing_comma",
         {"translate", "@/in.mp4", "@/o.mp4", "--schedule", "0:happy,", "--renderer", "@/renderer_stub.safetensors"},
         2,
         "empty entry"},
        {"analyze_identity_threshold_nan",
         {"analyze", "@/in.mp4", "@/aw", "--identity-threshold", "nan"},
         2,
         "--identity-threshold"},
        {"manipulate_empty_emotion_element",
         {"manipulate", "@/rec.safetensors", "@/o.safetensors", "--checkpoint", "@/ckpt.safetensors", "--emotion",
          "happy,,sad"},
         2,
         "empty name"},
        {"manipulate_intensity_nan",
         {"manipulate", "@/rec.safetensors", "@/o.safetensors", "--checkpoint", "@/ckpt.safetensors", "--emotion",
          "happy", "--intensity", "nan"},
         2,
         "--intensity"},
        {"manipulate_reference_without_window",
         {"manipulate", "@/rec.safetensors", "@/o.safetensors", "--checkpoint", "@/ckpt.safetensors", "--reference",
          "@/ref_short.safetensors"},
         2,
         "no 10 consecutive"},
        // --- checks after a FLAME asset loaded ---
        {"export_mesh_out_is_file",
         {"export-mesh", "@/rec.safetensors", "--flame", "@/flame_ok.safetensors", "--out", "@/existing.log"},
         2,
         "exists and is not a folder"},
        {"export_mesh_out_parent_missing",
         {"export-mesh", "@/rec.safetensors", "--flame", "@/flame_ok.safetensors", "--out", "@/nope/meshes"},
         2,
         "does not exist"},
        {"export_mesh_frame_out_of_range",
         {"export-mesh", "@/rec.safetensors", "--flame", "@/flame_ok.safetensors", "--out", "@/meshes", "--frames",
          "3,40"},
         2,
         "out of range"},
        {"export_mesh_bad_frame_list",
         {"export-mesh", "@/rec.safetensors", "--flame", "@/flame_ok.safetensors", "--out", "@/meshes", "--frames",
          "5-2"},
         2,
         "reversed"},
        {"export_mesh_nan_exp",
         {"export-mesh", "@/rec_nan.safetensors", "--flame", "@/flame_ok.safetensors", "--out", "@/meshes"},
         2,
         "'exp' frame 3"},
        {"render_inputs_inf_cam_real_flame",
         {"render-inputs", "@/w", "--flame", "@/flame_ok.safetensors", "--reconstruction", "@/rec_infcam.safetensors"},
         2,
         "'cam' frame 5"},
        {"render_inputs_preview_gif",
         {"render-inputs", "@/w", "--flame", "@/flame_ok.safetensors", "--preview", "@/p.gif"},
         2,
         "unsupported extension"},
        {"render_inputs_missing_deca",
         {"render-inputs", "@/w", "--flame", "@/flame_ok.safetensors", "--deca", "@/nope.safetensors"},
         3,
         "nope.safetensors"},
        {"reconstruct_deca_without_weights",
         {"reconstruct", "@/w", "--flame", "@/flame_ok.safetensors", "--method", "deca"},
         3,
         "DECA"},
        {"control_export_mesh_ok",
         {"export-mesh", "@/rec.safetensors", "--flame", "@/flame_ok.safetensors", "--out", "@/meshes", "--frames",
          "0-1"},
         0,
         "",
         {"meshes", "meshes/000000.obj", "meshes/000001.obj"}},
        // --- corrupt images: ned's one line, never libpng's ---
        {"composite_truncated_face_png",
         {"composite", "@/in.mp4", "@/w", "@/o.mp4", "--faces", "@/faces_truncated"},
         2,
         "faces_truncated/000001.png: corrupt PNG"},
        {"composite_corrupt_face_png",
         {"composite", "@/in.mp4", "@/w", "@/o.mp4", "--faces", "@/faces_crc"},
         2,
         "faces_crc/000000.png: corrupt PNG"},
        {"composite_corrupt_mask_png",
         {"composite", "@/in.mp4", "@/w", "@/o.mp4", "--faces", "@/w/faces", "--masks", "@/masks_bad"},
         2,
         "masks_bad/000000.png: corrupt PNG"},
        // --- nothing left behind ---
        {"analyze_garbage_video_no_workdir", {"analyze", "@/garbage.mp4", "@/aw"}, 2, "garbage.mp4"},
        {"analyze_faceless_video_no_workdir", {"analyze", "@/in.mp4", "@/aw"}, 2, "no face found"},
        {"crop_faceless_video_no_outdir", {"crop", "@/in.mp4", "@/cw"}, 2, "no face found"},
        // --- usage errors: one line, no usage dump ---
        {"unknown_option", {"probe", "@/in.mp4", "--bogus"}, 2, "bogus"},
        {"missing_argument", {"composite", "@/in.mp4"}, 2, "required"},
        {"unknown_command", {"frobnicate"}, 2, ""},
        {"threads_not_a_number", {"--threads", "many", "probe", "@/in.mp4"}, 2, "--threads"},
        // --- controls: the fixture is sound, and absurd --threads is clamped, not obeyed ---
        {"control_composite_ok",
         {"composite", "@/in.mp4", "@/w", "@/ok.mp4", "--faces", "@/w/faces", "--preset", "ultrafast"},
         0,
         "",
         {"ok.mp4"}},
        {"threads_huge_is_clamped", {"--threads", "100000", "probe", "@/in.mp4"}, 0, "--threads 100000"},
    };
    return t;
}

class CliHostile : public ::testing::TestWithParam<Case> {};

TEST_P(CliHostile, ExitCodeOneLineNothingLeftInputsUntouched) {
    const Case& c = GetParam();
    const std::string F = Fixture::get().root();
    std::vector<std::string> args = {"-q"};
    for (std::string a : c.args) {
        if (!a.empty() && a[0] == '@') a = F + a.substr(1);
        args.push_back(a);
    }
    const auto before = snapshot(F);
    const auto r = run_ned(args);
    EXPECT_EQ(r.exit_code, c.code) << r.err;
    if (c.code != 0 || c.says[0]) {
        // a failure: one error line (after any warnings of the run); a success that must say something: one line
        EXPECT_EQ(count_lines(c.code != 0 ? without_warnings(r.err) : r.err), 1) << r.err;
    }
    if (c.code != 0) {
        EXPECT_EQ(without_warnings(r.err).rfind("ned: error: ", 0), 0u) << r.err;
        // A failing run abandons its video output without finishing it: no "no frames were written" noise.
        EXPECT_EQ(r.err.find("no frames were written"), std::string::npos) << r.err;
    }
    if (c.says[0]) {
        EXPECT_NE(r.err.find(c.says), std::string::npos) << "expected '" << c.says << "' in: " << r.err;
    }
    EXPECT_EQ(r.err.find("internal error"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("libpng"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("Run with --help"), std::string::npos) << r.err;
    auto after = snapshot(F);
    for (const auto& p : c.may_create) {
        EXPECT_TRUE(after.count(p)) << p << " was not created";
        after.erase(p);
    }
    for (auto it = c.may_create.rbegin(); it != c.may_create.rend(); ++it) fs::remove(F + "/" + *it);  // files first
    for (const auto& [path, bytes] : before) {
        auto it = after.find(path);
        if (it == after.end())
            ADD_FAILURE() << path << " was removed";
        else
            EXPECT_TRUE(it->second == bytes) << path << " was modified";
    }
    for (const auto& [path, bytes] : after)
        if (!before.count(path)) ADD_FAILURE() << path << " was left behind";
}

INSTANTIATE_TEST_SUITE_P(Table, CliHostile, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& i) { return std::string(i.param.name); });

// Starts the `ned` binary (`args`, output to /dev/null) with NED_FAULT_STALL=`stall` (NAME:SECONDS) in its
// environment: it stops that long at the fault point NAME (ned/core/fault.hpp, src/cli/environment.cpp), so a
// signal sent once the test saw it get under way always lands mid-run, however fast the machine.
pid_t spawn_stalled_ned(const std::vector<std::string>& args, const std::string& stall) {
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e)
        if (std::strncmp(*e, "NED_FAULT_STALL=", 16) != 0) env.emplace_back(*e);
    env.push_back("NED_FAULT_STALL=" + stall);
    std::vector<char*> argv, envp;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid == 0) {
        const int devnull = ::open("/dev/null", O_WRONLY);
        ::dup2(devnull, 1);
        ::dup2(devnull, 2);
        ::execve(args[0].c_str(), argv.data(), envp.data());
        ::_exit(127);
    }
    return pid;
}

// Waits up to `seconds` for `pid` to end (its status in `status`); false (and the process killed) if it did not.
bool wait_for_exit(pid_t pid, int& status, double seconds) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < deadline) {
        if (::waitpid(pid, &status, WNOHANG) == pid) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    return false;
}

// SIGINT / SIGTERM while a video is being written: exit 128 + signal, the temporary output removed. The run stalls
// for 600 s after its first frame is in the temporary video (fault point composite.frames_done), so the signal,
// sent once the temporary file exists, always arrives before the video is finished.
void interrupt_composite(int sig) {
    const std::string F = Fixture::get().root();
    ned::test::TempDir tmp;
    const std::string video = tmp / "v.mp4", work = tmp / "w";
    const int frames = 12;
    write_video(video, 320, 240, frames);
    fs::create_directories(work + "/faces");
    auto track = make_track(video, frames, 320, 240);
    ned::face::save_track(work + "/track.safetensors", track);
    for (int t = 0; t < frames; ++t)
        cv::imwrite(work + "/faces/" + ned::frame_name(t, ".png"),
                    cv::Mat(kCrop, kCrop, CV_8UC3, cv::Scalar(0, 128, 255)));
    const std::string out = tmp / "out.mp4";
    const pid_t pid = spawn_stalled_ned(
        {ned::test::ned_binary(), "-q", "--threads", "1", "composite", video, work, out}, "composite.frames_done:600");
    ASSERT_GT(pid, 0);
    auto temp_exists = [&] {
        for (const auto& e : fs::directory_iterator(tmp.path()))
            if (e.path().filename().string().find(".tmp-") != std::string::npos) return true;
        return false;
    };
    int status = 0;
    const auto t0 = std::chrono::steady_clock::now();
    while (!temp_exists() && ::waitpid(pid, &status, WNOHANG) == 0 &&
           std::chrono::steady_clock::now() - t0 < std::chrono::seconds(60))
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    const bool started = temp_exists();
    ::kill(pid, sig);
    ASSERT_TRUE(wait_for_exit(pid, status, 60)) << "ned did not end within 60 s of the signal";
    ASSERT_TRUE(started) << "the composite never created its temporary video (exit status " << status << ")";
    ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
    EXPECT_EQ(WEXITSTATUS(status), 128 + sig);
    EXPECT_FALSE(temp_exists());
    EXPECT_FALSE(fs::exists(out));
}

// $NED_MODELS is read by the binary (src/cli/environment.cpp; the library's default is ./models) and is the
// default of --models: a folder without the models is named in the exit-3 error.
TEST(CliHostileEnvironment, NedModelsIsTheDefaultModelsFolder) {
    const std::string F = Fixture::get().root();
    const std::string models = F + "/models_from_env";
    const auto r = ned::test::run_ned({"translate", F + "/in.mp4", F + "/o.mp4", "--emotion", "happy", "--renderer",
                                       F + "/renderer_stub.safetensors"},
                                      {{"NED_MODELS", models}});
    EXPECT_EQ(r.exit_code, 3) << r.err;
    EXPECT_NE(r.err.find(models + "/flame.safetensors"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(F + "/o.mp4"));
}

// `render` into a work folder on a read-only mount: exit 2 up front (docs/cli.md), not exit 1 after the first
// frame. Needs root and mount(2) (a read-only tmpfs); skipped elsewhere.
TEST(CliHostileReadOnly, RenderIntoAReadOnlyWorkFolderIsRefusedUpFront) {
    const std::string F = Fixture::get().root();
    ned::test::TempDir tmp;
    const std::string ro = tmp / "ro";
    fs::create_directories(ro);
    if (::geteuid() != 0 || ::mount("tmpfs", ro.c_str(), "tmpfs", 0, "size=4m") != 0)
        GTEST_SKIP() << "needs root and mount(2) for a read-only folder";
    fs::create_directories(ro + "/conditioning/nmfc");
    ned::face::save_track(ro + "/track.safetensors", make_track(F + "/in.mp4", kFrames));
    write_bytes(ro + "/conditioning/conditioning.json", "{\"format\": \"ned.conditioning\", \"frames\": [0]}");
    const bool remounted = ::mount("tmpfs", ro.c_str(), "tmpfs", MS_REMOUNT | MS_RDONLY, "size=4m") == 0;
    const auto r = remounted ? run_ned({"-q", "render", ro, "--renderer", F + "/renderer_stub.safetensors"})
                             : ned::test::RunResult{};
    ::umount2(ro.c_str(), MNT_DETACH);
    if (!remounted) GTEST_SKIP() << "could not remount the tmpfs read-only";
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_EQ(count_lines(without_warnings(r.err)), 1) << r.err;
    EXPECT_NE(r.err.find("is not writable"), std::string::npos) << r.err;
}

TEST(CliHostileSignals, SigintRemovesTheTemporaryVideo) { interrupt_composite(SIGINT); }
TEST(CliHostileSignals, SigtermRemovesTheTemporaryVideo) { interrupt_composite(SIGTERM); }

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// A full disk. Each command runs once normally (a control: exit 0, and it tells how much it writes), then again
// with too little room for its outputs: on a tmpfs mount sized to hold the inputs plus half the outputs (when
// running as root and mount(2) works), else under RLIMIT_FSIZE at half its largest output file, with SIGXFSZ
// ignored so that the write fails with EFBIG. Either way: exit 1, one line, nothing of the outputs left behind,
// every input byte-identical.
namespace {

struct RunOut {
    int code = -1;
    std::string err;
};

/// Run ned with `args`; when `fsize_limit` > 0, with RLIMIT_FSIZE at that many bytes and SIGXFSZ ignored.
RunOut run_limited(const std::vector<std::string>& args, rlim_t fsize_limit, const std::string& scratch) {
    const std::string bin = ned::test::ned_binary();
    const std::string err_path = scratch + "/.stderr";
    const pid_t pid = ::fork();
    if (pid == 0) {
        std::vector<char*> argv = {const_cast<char*>(bin.c_str())};
        for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        const int devnull = ::open("/dev/null", O_WRONLY),
                  errfd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        ::dup2(devnull, 1);
        ::dup2(errfd, 2);
        if (fsize_limit > 0) {
            ::signal(SIGXFSZ, SIG_IGN);  // ignored dispositions survive exec
            struct rlimit rl {
                fsize_limit, fsize_limit
            };
            ::setrlimit(RLIMIT_FSIZE, &rl);
        }
        ::execv(bin.c_str(), argv.data());
        ::_exit(127);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    RunOut r;
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.err = slurp(err_path);
    fs::remove(err_path);
    return r;
}

/// Bytes of every regular file under `root` in whole 4 KiB pages, as a tmpfs charges them.
uintmax_t pages_bytes(const std::string& root, uintmax_t* largest = nullptr) {
    uintmax_t total = 0;
    if (largest) *largest = 0;
    for (const auto& e : fs::recursive_directory_iterator(root)) {
        if (!e.is_regular_file()) continue;
        const uintmax_t n = e.file_size();
        total += (n + 4095) / 4096 * 4096;  // tmpfs charges whole pages (inodes and directory entries: nothing)
        if (largest && n > *largest) *largest = n;
    }
    return total;
}

struct DiskFullCase {
    const char* name;
    std::vector<std::string> args;  ///< "@" = the fixture folder, "%" = the output folder (on the small disk)
    std::vector<std::string> inputs_in_out = {};  ///< fixture files copied into the output folder first (work folders)
    bool needs_data = false;
};

std::ostream& operator<<(std::ostream& os, const DiskFullCase& c) { return os << c.name; }

class CliDiskFull : public ::testing::TestWithParam<DiskFullCase> {};

TEST_P(CliDiskFull, ExitOneOneLineNothingLeftInputsUntouched) {
    const DiskFullCase& c = GetParam();
    const std::string F = Fixture::get().root();
    std::string clip;
    if (c.needs_data) {
        clip = ned::test::data_path("video/styletalk__andrew_clip_1+wav.mp4");
        if (clip.empty() || !fs::exists(clip)) GTEST_SKIP() << "needs a clip with a face from ../shared/data (absent)";
    }
    auto expand = [&](const std::string& out) {
        std::vector<std::string> a = {"-q"};
        for (std::string s : c.args) {
            if (s == "CLIP")
                s = clip;
            else if (!s.empty() && s[0] == '@')
                s = F + s.substr(1);
            else if (!s.empty() && s[0] == '%')
                s = out + s.substr(1);
            a.push_back(s);
        }
        return a;
    };
    auto place_inputs = [&](const std::string& out) {
        for (const auto& rel : c.inputs_in_out) {
            fs::create_directories(fs::path(out + "/" + rel).parent_path());
            fs::copy_file(F + "/" + rel, out + "/" + rel);
        }
    };

    // Control: the command succeeds with room, and shows how much it writes.
    ned::test::TempDir control;
    place_inputs(control.path());
    const uintmax_t inputs = pages_bytes(control.path());
    const auto ok = run_limited(expand(control.path()), 0, control.path());
    ASSERT_EQ(ok.code, 0) << "control run failed: " << ok.err;
    uintmax_t largest = 0;
    const uintmax_t total = pages_bytes(control.path(), &largest);
    ASSERT_GT(total, inputs) << "the control run wrote nothing";

    ned::test::TempDir scratch;
    const std::string out = scratch / "disk";
    fs::create_directories(out);
    const auto fixture_before = snapshot(F);
    bool mounted = false;
    rlim_t limit = 0;
    if (::geteuid() == 0 && !std::getenv("NED_TEST_NO_MOUNT")) {  // NED_TEST_NO_MOUNT: try the RLIMIT path
        const uintmax_t size = inputs + (total - inputs) / 2;
        const std::string opts = "size=" + std::to_string(size / 1024) + "k,mode=0755";
        mounted = ::mount("tmpfs", out.c_str(), "tmpfs", 0, opts.c_str()) == 0;
    }
    if (!mounted) limit = static_cast<rlim_t>(std::max<uintmax_t>(largest / 2, 1));
    // RLIMIT_FSIZE also limits the captured stderr, and `largest` counts the inputs copied into the folder: the
    // synthetic FLAME's conditioning PNGs are all smaller than half the copied reconstruction, so no limit makes
    // render-inputs fail without also cutting its error message. Only a full tmpfs tests it.
    if (!mounted && std::string(c.name) == "render_inputs")
        GTEST_SKIP() << "render-inputs needs a tmpfs (root and mount(2)) for a disk-full run";
    place_inputs(out);
    const auto disk_before = snapshot(out);
    const auto r = run_limited(expand(out), limit, scratch.path());
    const auto disk_after = snapshot(out);
    if (mounted) ::umount2(out.c_str(), MNT_DETACH);

    SCOPED_TRACE(mounted ? "full tmpfs" : "RLIMIT_FSIZE " + std::to_string(limit));
    EXPECT_EQ(r.code, 1) << r.err;
    EXPECT_EQ(count_lines(without_warnings(r.err)), 1) << r.err;
    EXPECT_EQ(without_warnings(r.err).rfind("ned: error: ", 0), 0u) << r.err;
    EXPECT_EQ(r.err.find("libpng"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("internal error"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find(".tmp-"), std::string::npos) << "names a temporary file: " << r.err;
    EXPECT_TRUE(disk_after == disk_before)
        << "left behind or changed in the output folder: " << disk_after.size() - disk_before.size() << " more entries";
    for (const auto& [path, bytes] : disk_after)
        if (!disk_before.count(path)) ADD_FAILURE() << path << " was left behind";
    EXPECT_TRUE(snapshot(F) == fixture_before) << "an input in the fixture folder changed";
}

const std::vector<DiskFullCase>& disk_full_cases() {
    static const std::vector<DiskFullCase> t = {
        {"composite", {"composite", "@/in.mp4", "@/w", "%/o.mp4", "--faces", "@/w/faces", "--preset", "ultrafast"}},
        {"export_mesh", {"export-mesh", "@/rec.safetensors", "--flame", "@/flame_ok.safetensors", "--out", "%/meshes"}},
        {"render_inputs",
         {"render-inputs", "%/w", "--flame", "@/flame_ok.safetensors", "--save-images"},
         {"w/track.safetensors", "w/reconstruction.safetensors"}},
        {"train_manipulator",
         {"train-manipulator", "@/dataset_var", "--out", "%/tout", "--epochs", "1", "--decay-epochs", "0",
          "--iters-per-epoch", "1", "--batch-size", "2"}},
        {"crop", {"crop", "CLIP", "%/cw", "--save-images", "--max-frames", "12"}, {}, true},
        {"analyze", {"analyze", "CLIP", "%/aw", "--save-images", "--max-frames", "12"}, {}, true},
    };
    return t;
}

INSTANTIATE_TEST_SUITE_P(Commands, CliDiskFull, ::testing::ValuesIn(disk_full_cases()),
                         [](const ::testing::TestParamInfo<DiskFullCase>& i) { return std::string(i.param.name); });

// SIGTERM while render-inputs writes its conditioning images: exit 143, and conditioning/ (which this run
// created) is gone with every image written so far; the work folder is as before. The run stalls for 600 s after
// its first batch of 16 frames is on disk (fault point render_inputs.frames_done), so the signal, sent once 6
// images exist, always arrives before the manifest is written.
TEST(CliHostileSignals, SigtermRemovesPartialImageFolders) {
    const std::string F = Fixture::get().root();
    ned::test::TempDir tmp;
    const std::string work = tmp / "w";
    fs::create_directories(work);
    const int frames = 40;
    auto track = make_track(F + "/in.mp4", frames);
    track.crop_size = 256;
    ned::face::save_track(work + "/track.safetensors", track);
    ned::recon::save_reconstruction(work + "/reconstruction.safetensors", make_recon(F + "/in.mp4", frames));
    const auto before = snapshot(work);
    const pid_t pid = spawn_stalled_ned({ned::test::ned_binary(), "-q", "--threads", "1", "render-inputs", work,
                                         "--flame", F + "/flame_ok.safetensors", "--save-images"},
                                        "render_inputs.frames_done:600");
    ASSERT_GT(pid, 0);
    auto pngs = [&] {
        std::error_code ec;
        int n = 0;
        for (auto it = fs::recursive_directory_iterator(work, ec); it != fs::recursive_directory_iterator();
             it.increment(ec))
            n += it->path().extension() == ".png";
        return n;
    };
    int status = 0;
    const auto t0 = std::chrono::steady_clock::now();
    while (pngs() < 6 && ::waitpid(pid, &status, WNOHANG) == 0 &&
           std::chrono::steady_clock::now() - t0 < std::chrono::seconds(120))
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    const int seen = pngs();
    ::kill(pid, SIGTERM);
    ASSERT_TRUE(wait_for_exit(pid, status, 60)) << "ned did not end within 60 s of the signal";
    ASSERT_GE(seen, 6) << "render-inputs wrote no images (exit status " << status << ")";
    ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
    EXPECT_EQ(WEXITSTATUS(status), 128 + SIGTERM);
    EXPECT_TRUE(snapshot(work) == before) << "left behind: " << pngs() << " PNGs, conditioning/ "
                                          << (fs::exists(work + "/conditioning") ? "exists" : "gone");
}

}  // namespace
