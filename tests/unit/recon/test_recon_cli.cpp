// `ned reconstruct` / `ned export-mesh` end to end on a synthetic FLAME asset and a synthetic track.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "ned/core/fs_util.hpp"
#include "ned/face/face_track.hpp"
#include "ned/core/torch_util.hpp"
#include "ned/recon/deca.hpp"
#include "ned/recon/deca_image.hpp"
#include "ned/recon/flame.hpp"
#include "ned/recon/reconstruction.hpp"
#include "support/test_support.hpp"
#include "synthetic_flame.hpp"

using namespace ned;
using namespace ned::recon;
namespace fs = std::filesystem;

namespace {

// Writes WORKDIR/track.safetensors whose landmarks are a known FLAME face (T frames, frame 2 invalid).
void write_track(const std::string& workdir, const FlameModel& flame, int64_t T) {
    torch::manual_seed(3);
    auto w = (torch::arange(T, torch::kFloat32) / std::max<int64_t>(1, T - 1)).unsqueeze(1);
    auto shape = torch::randn({1, 100}) * 0.5;
    auto exp = torch::randn({1, 50}) * 0.4 * (1 - w) + torch::randn({1, 50}) * 0.4 * w;
    auto pose = (torch::rand({1, 6}) - 0.5) * 0.2 * (1 - w) + (torch::rand({1, 6}) - 0.5) * 0.2 * w;
    auto cam = torch::tensor({{8.0f, 0.0f, 0.003f}}).repeat({T, 1});
    auto out = flame.forward(shape.expand({T, -1}), exp, pose);
    auto px = ndc_to_pixels(image_coords(out.landmarks2d, cam), 224) + 16.0;
    face::FaceTrack track;
    track.source = "synthetic.mp4";
    track.width = track.height = 256;
    track.fps_num = 25;
    track.has_analysis = true;
    track.frames.resize(T);
    for (int64_t t = 0; t < T; ++t) {
        auto& f = track.frames[t];
        f.valid = f.detected = t != 2;
        f.box = cv::Vec4f(0, 0, 256, 256);
        for (int l = 0; l < 68; ++l) {
            f.landmarks[l] = cv::Point2f(px[t][l][0].item<float>(), px[t][l][1].item<float>());
            f.aligned_landmarks[l] = f.landmarks[l];
        }
    }
    face::save_track(workdir + "/track.safetensors", track);
}

struct Obj {
    std::vector<std::array<float, 3>> v;
    std::vector<std::array<long, 3>> f;
};
Obj parse_obj(const std::string& path) {
    Obj o;
    std::ifstream is(path);
    std::string line;
    while (std::getline(is, line)) {
        std::istringstream ls(line);
        std::string tag;
        ls >> tag;
        if (tag == "v") {
            std::array<float, 3> p{};
            ls >> p[0] >> p[1] >> p[2];
            EXPECT_FALSE(ls.fail()) << line;
            o.v.push_back(p);
        } else if (tag == "f") {
            std::array<long, 3> p{};
            ls >> p[0] >> p[1] >> p[2];
            EXPECT_FALSE(ls.fail()) << line;
            o.f.push_back(p);
        }
    }
    return o;
}

}  // namespace

TEST(ReconstructCli, MissingFlameFileExits3) {
    test::TempDir tmp;
    auto r = test::run_ned({"reconstruct", tmp.path(), "--flame", tmp / "no_flame.safetensors", "--method", "fit"});
    EXPECT_EQ(r.exit_code, 3) << r.err;
    EXPECT_NE(r.err.find("no_flame.safetensors"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("docs/models.md"), std::string::npos) << r.err;
}

TEST(ReconstructCli, DecaMethodWithoutDecaExits3) {
    test::TempDir tmp;
    st::save(tmp / "flame.safetensors", test::make_synthetic_flame().file);
    auto r = test::run_ned({"reconstruct", tmp.path(), "--flame", tmp / "flame.safetensors", "--method", "deca"});
    EXPECT_EQ(r.exit_code, 3) << r.err;
    auto r2 = test::run_ned(
        {"reconstruct", tmp.path(), "--flame", tmp / "flame.safetensors", "--deca", tmp / "missing_deca.safetensors"});
    EXPECT_EQ(r2.exit_code, 3) << r2.err;
    EXPECT_NE(r2.err.find("missing_deca.safetensors"), std::string::npos) << r2.err;
}

TEST(ReconstructCli, FitThenExportMesh) {
    test::TempDir tmp;
    auto syn = test::make_synthetic_flame(60, 90, 21, false, /*smooth_contour=*/true);
    st::save(tmp / "flame.safetensors", syn.file);
    auto flame = FlameModel::from_file(syn.file);
    const int64_t T = 5;
    // no track yet -> exit 2
    auto r0 = test::run_ned({"reconstruct", tmp.path(), "--flame", tmp / "flame.safetensors", "--method", "fit"});
    EXPECT_EQ(r0.exit_code, 2) << r0.err;
    write_track(tmp.path(), flame, T);
    auto r = test::run_ned({"reconstruct", tmp.path(), "--flame", tmp / "flame.safetensors", "--method", "fit"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto rec = load_reconstruction(tmp / "reconstruction.safetensors");
    EXPECT_EQ(rec.method, "fit");
    EXPECT_EQ(rec.fps, "25/1");
    ASSERT_EQ(rec.num_frames(), T);
    EXPECT_EQ(rec.valid, (std::vector<uint8_t>{1, 1, 0, 1, 1}));
    for (const char* n : {"shape", "exp", "pose", "cam", "tform"}) EXPECT_TRUE(rec.has(n)) << n;
    ASSERT_TRUE(rec.extra_metadata.count("fit_error_px"));
    EXPECT_LT(std::stod(rec.extra_metadata["fit_error_px"]), 1.0);
    EXPECT_NE(r.err.find("reprojection error"), std::string::npos) << r.err;
    // existing output without -y -> 2
    auto again = test::run_ned({"reconstruct", tmp.path(), "--flame", tmp / "flame.safetensors"});
    EXPECT_EQ(again.exit_code, 2) << again.err;

    // export-mesh
    auto e = test::run_ned({"export-mesh", tmp / "reconstruction.safetensors", "--flame", tmp / "flame.safetensors",
                            "--out", tmp / "meshes", "--frames", "0-2,4"});
    ASSERT_EQ(e.exit_code, 0) << e.err;
    EXPECT_TRUE(fs::exists(tmp / ("meshes/" + frame_name(0, ".obj"))));
    EXPECT_TRUE(fs::exists(tmp / ("meshes/" + frame_name(1, ".obj"))));
    EXPECT_FALSE(fs::exists(tmp / ("meshes/" + frame_name(2, ".obj"))));  // invalid frame
    EXPECT_FALSE(fs::exists(tmp / ("meshes/" + frame_name(3, ".obj"))));  // not listed
    auto obj = parse_obj(tmp / ("meshes/" + frame_name(4, ".obj")));
    ASSERT_EQ(obj.v.size(), 60u);
    ASSERT_EQ(obj.f.size(), 90u);
    auto faces = flame.faces();
    for (size_t i = 0; i < obj.f.size(); ++i)
        for (int k = 0; k < 3; ++k) EXPECT_EQ(obj.f[i][k], faces[i][k].item<int64_t>() + 1);
    auto row = [&](const char* n) {
        const auto& b = rec.at(n);
        return torch::from_blob(const_cast<float*>(b.row(4)), {1, b.row_size()}).clone();
    };
    auto verts = flame.forward(row("shape"), row("exp"), row("pose")).vertices[0];
    for (size_t i = 0; i < obj.v.size(); ++i)
        for (int k = 0; k < 3; ++k) EXPECT_NEAR(obj.v[i][k], verts[i][k].item<float>(), 2e-6);
    // bad frame list and out-of-range frames -> 2; existing files without -y -> 2
    EXPECT_EQ(test::run_ned({"export-mesh", tmp / "reconstruction.safetensors", "--flame", tmp / "flame.safetensors",
                             "--out", tmp / "m2", "--frames", "0-x"})
                  .exit_code,
              2);
    EXPECT_EQ(test::run_ned({"export-mesh", tmp / "reconstruction.safetensors", "--flame", tmp / "flame.safetensors",
                             "--out", tmp / "m2", "--frames", "7"})
                  .exit_code,
              2);
    EXPECT_EQ(test::run_ned({"export-mesh", tmp / "reconstruction.safetensors", "--flame", tmp / "flame.safetensors",
                             "--out", tmp / "meshes", "--frames", "0"})
                  .exit_code,
              2);
    EXPECT_EQ(test::run_ned({"-y", "export-mesh", tmp / "reconstruction.safetensors", "--flame",
                             tmp / "flame.safetensors", "--out", tmp / "meshes", "--frames", "0"})
                  .exit_code,
              0);
}

// The DECA path end to end on a real clip (decode, crop, DECA crop, batched encoders) with random DECA
// weights: the parameters are meaningless, the plumbing and the file contents are what is checked.
TEST(ReconstructCliData, DecaOnSharedClipWithRandomWeights) {
    NED_REQUIRE_DATA();
    const auto clip = test::data_path("video/eamm__surprised.mp4");
    if (!fs::exists(clip)) GTEST_SKIP() << clip << " missing";
    test::TempDir tmp;
    auto a = test::run_ned({"analyze", clip, tmp.path(), "--max-frames", "3", "--no-multisample", "-q"});
    ASSERT_EQ(a.exit_code, 0) << a.err;
    st::save(tmp / "flame.safetensors", test::make_synthetic_flame().file);
    {
        torch::manual_seed(2);
        DecaModel deca;
        st::File f;
        f.metadata = {{"format", "ned.deca"}, {"version", "1"}};
        save_module(*deca.E_flame, f, "E_flame.");
        save_module(*deca.E_detail, f, "E_detail.");
        save_module(*deca.D_detail, f, "D_detail.");
        st::save(tmp / "deca.safetensors", f);
    }
    auto r = test::run_ned({"reconstruct", tmp.path(), "--flame", tmp / "flame.safetensors", "--deca",
                            tmp / "deca.safetensors", "--batch", "2"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto rec = load_reconstruction(tmp / "reconstruction.safetensors");
    auto track = face::load_track(tmp / "track.safetensors");
    EXPECT_EQ(rec.method, "deca");
    ASSERT_EQ(rec.num_frames(), static_cast<int64_t>(track.frames.size()));
    for (const char* n : {"shape", "tex", "exp", "pose", "cam", "light", "detail", "tform"})
        EXPECT_TRUE(rec.has(n)) << n;
    int valid = 0;
    for (int64_t t = 0; t < rec.num_frames(); ++t) {
        EXPECT_EQ(rec.valid[t] != 0, track.frames[t].valid) << t;
        if (!rec.valid[t]) continue;
        ++valid;
        auto tf = deca_crop_tform(track.frames[t].landmarks);
        EXPECT_NEAR(rec.at("tform").row(t)[0], tf(0, 0), 1e-6);
        EXPECT_NEAR(rec.at("tform").row(t)[5], tf(1, 2), 1e-3);
        float s = 0;
        for (int i = 0; i < 128; ++i) s += std::abs(rec.at("detail").row(t)[i]);
        EXPECT_GT(s, 0.f);  // the encoder ran on this frame
    }
    EXPECT_GT(valid, 0);
}
