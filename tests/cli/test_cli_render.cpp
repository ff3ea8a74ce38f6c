// `ned render` on a synthetic work folder with a small random renderer: outputs, -y, exit codes.
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>

#include <filesystem>

#include "ned/core/cpu_features.hpp"
#include "ned/core/fs_util.hpp"
#include "support/test_support.hpp"
#include "unit/renderer/synthetic_workdir.hpp"

namespace fs = std::filesystem;
using ned::test::run_ned;

TEST(CliRender, WritesAlignedAndCropFacesOfEveryConditionedFrame) {
    ned::test::TempDir dir;
    const std::string ckpt = ned::test::write_synthetic_workdir(dir.path(), 5, {0, 1, 3, 4});
    auto r = run_ned({"render", dir.path(), "--renderer", ckpt, "-q", "--threads", "1"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("4 frames in 2 segments"), std::string::npos) << r.out;
    for (int t : {0, 1, 3, 4})
        for (const char* d : {"faces", "faces_aligned"}) {
            const cv::Mat img =
                cv::imread(dir / (std::string(d) + "/" + ned::frame_name(t, ".png")), cv::IMREAD_UNCHANGED);
            ASSERT_FALSE(img.empty()) << d << " " << t;
            EXPECT_EQ(img.type(), CV_8UC3);
            EXPECT_EQ(img.cols, ned::test::kSynthCrop);
        }
    EXPECT_FALSE(fs::exists(dir / ("faces/" + ned::frame_name(2, ".png"))));

    r = run_ned({"render", dir.path(), "--renderer", ckpt, "-q"});
    EXPECT_EQ(r.exit_code, 2) << "outputs exist without -y";
    EXPECT_NE(r.err.find("-y"), std::string::npos) << r.err;
    EXPECT_EQ(ned::test::count_lines(r.err), 1) << r.err;
    r = run_ned({"render", dir.path(), "--renderer", ckpt, "-q", "-y", "--precision", "bf16"});
    EXPECT_EQ(r.exit_code, ned::cpu::native_bf16() ? 0 : 2) << r.err;
    // emulated bf16 (here: oneDNN capped below its bf16 instructions) is refused with one line
    r = run_ned({"render", dir.path(), "--renderer", ckpt, "-q", "-y", "--precision", "bf16"},
                {{"ONEDNN_MAX_CPU_ISA", "AVX2"}});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("no native bf16"), std::string::npos) << r.err;
    EXPECT_EQ(ned::test::count_lines(r.err), 1) << r.err;

    r = run_ned({"render", dir.path(), "--renderer", dir / "none.safetensors", "-y", "-q"});
    EXPECT_EQ(r.exit_code, 3) << r.err;
    EXPECT_NE(r.err.find("convert_ned_renderer.py"), std::string::npos) << r.err;
    r = run_ned({"render", dir.path(), "--renderer", ckpt, "--precision", "fp8"});
    EXPECT_EQ(r.exit_code, 2);
}
