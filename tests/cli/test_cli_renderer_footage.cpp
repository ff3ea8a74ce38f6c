// Learning on real footage: `ned analyze` a shared clip, draw conditioning images from the clip's own
// aligned landmarks (any conditioning that follows the face works for this test), train a small renderer for
// a few CPU minutes with `ned train-renderer`, and check that the held-out frames are reproduced clearly better
// than by the untrained network and by the mean training face (PSNR inside the mask).
// Minutes of CPU: built and registered only when CMake is configured with -DNED_LONG_TESTS=ON (docs/build.md).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "ned/core/fs_util.hpp"
#include "ned/face/eye_image.hpp"
#include "ned/face/face_track.hpp"
#include "ned/renderer/checkpoint.hpp"
#include "ned/renderer/render.hpp"
#include "support/test_support.hpp"

namespace fs = std::filesystem;
using ned::test::run_ned;
using namespace ned;

namespace {

const int S = std::getenv("NED_FOOTAGE_CROP") ? std::atoi(std::getenv("NED_FOOTAGE_CROP")) : 128;

/// Conditioning drawn from the aligned landmarks: "nmfc" = the face polygon coloured by position plus the
/// facial features as coloured lines, "shape" = grey feature lines, "eyes" = ned's eye image.
void draw_conditioning(const face::FaceFrame& f, cv::Mat& nmfc, cv::Mat& shape, cv::Mat& eyes) {
    std::vector<cv::Point> p;
    for (const auto& q : f.aligned_landmarks) p.emplace_back(cvRound(q.x), cvRound(q.y));
    nmfc = cv::Mat::zeros(S, S, CV_8UC3);
    shape = cv::Mat::zeros(S, S, CV_8UC3);
    std::vector<cv::Point> hull;
    cv::convexHull(p, hull);
    cv::Mat poly = cv::Mat::zeros(S, S, CV_8UC1);
    cv::fillConvexPoly(poly, hull, cv::Scalar(255));
    for (int y = 0; y < S; ++y)
        for (int x = 0; x < S; ++x)
            if (poly.at<uint8_t>(y, x)) nmfc.at<cv::Vec3b>(y, x) = cv::Vec3b(128, 2 * y, 2 * x);
    const std::vector<std::pair<int, int>> parts = {{17, 22}, {22, 27}, {27, 31}, {31, 36},
                                                    {36, 42}, {42, 48}, {48, 60}, {60, 68}};
    const cv::Scalar colours[] = {{255, 0, 0},   {255, 0, 0},   {0, 255, 0}, {0, 255, 0},
                                  {255, 255, 0}, {255, 255, 0}, {0, 0, 255}, {255, 0, 255}};
    for (size_t k = 0; k < parts.size(); ++k) {
        std::vector<cv::Point> seg(p.begin() + parts[k].first, p.begin() + parts[k].second);
        const bool closed = k >= 4;
        cv::polylines(nmfc, seg, closed, colours[k], 2);
        cv::polylines(shape, seg, closed, cv::Scalar(200, 200, 200), 1);
    }
    cv::polylines(shape, std::vector<cv::Point>(p.begin(), p.begin() + 17), false, cv::Scalar(120, 120, 120), 1);
    eyes = face::frame_eye_image(f, S, /*aligned=*/true);
}

double psnr_masked(const cv::Mat& a, const cv::Mat& b, const cv::Mat& mask) {
    double se = 0, n = 0;
    for (int y = 0; y < a.rows; ++y)
        for (int x = 0; x < a.cols; ++x)
            if (mask.at<uint8_t>(y, x))
                for (int c = 0; c < 3; ++c) {
                    const double d = double(a.at<cv::Vec3b>(y, x)[c]) - b.at<cv::Vec3b>(y, x)[c];
                    se += d * d;
                    ++n;
                }
    return 10 * std::log10(255.0 * 255.0 / std::max(1e-9, se / n));
}

}  // namespace

TEST(CliRendererFootage, SmallRendererLearnsTheActorsHeldOutFrames) {
    NED_REQUIRE_DATA();
    const std::string clip = test::data_path("video/wav2lip-gfpgan__kim_7s_raw.mp4");
    ASSERT_TRUE(fs::exists(clip));
    test::TempDir dir;
    const std::string work = dir / "work";
    auto r = run_ned(
        {"analyze", clip, work, "--crop-size", std::to_string(S), "--margin", std::to_string(70 * S / 256), "-q"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const face::FaceTrack track = face::load_track(work + "/track.safetensors");
    std::vector<int64_t> frames;
    for (const char* k : {"nmfc", "shape", "eyes"}) fs::create_directories(work + "/conditioning/" + k);
    for (size_t t = 0; t < track.frames.size(); ++t) {
        if (!track.frames[t].valid) continue;
        cv::Mat nmfc, shape, eyes;
        draw_conditioning(track.frames[t], nmfc, shape, eyes);
        const std::string name = frame_name(static_cast<long>(t), ".png");
        cv::imwrite(work + "/conditioning/nmfc/" + name, nmfc);
        cv::imwrite(work + "/conditioning/shape/" + name, shape);
        cv::imwrite(work + "/conditioning/eyes/" + name, eyes);
        frames.push_back(static_cast<int64_t>(t));
    }
    ASSERT_GT(frames.size(), 100u);
    {
        nlohmann::json j;
        j["format"] = "ned.conditioning";
        j["version"] = 1;
        j["crop_size"] = S;
        j["frames"] = frames;
        std::ofstream(work + "/conditioning/conditioning.json") << j.dump();
    }
    const int epochs = std::getenv("NED_FOOTAGE_EPOCHS") ? std::atoi(std::getenv("NED_FOOTAGE_EPOCHS")) : 6;
    const std::string run = dir / "run";
    r = run_ned({"train-renderer",
                 work,
                 "--out",
                 run,
                 "--ngf",
                 "16",
                 "--ndf",
                 "16",
                 "--no-vgg",
                 "--epochs",
                 std::to_string(epochs),
                 "--clip-frames",
                 "4",
                 "--batch-size",
                 "1",
                 "--subsequence",
                 "12",
                 "--val-frames",
                 "12",
                 "--seed",
                 "1",
                 "-q"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::ifstream is(run + "/losses.jsonl");
    std::string line, last;
    while (std::getline(is, line)) {
        last = line;
        std::printf("%s\n", line.c_str());
    }
    const double trained = nlohmann::json::parse(last).at("val_psnr").get<double>();

    // Baselines on the same held-out frames (the last 12 of the longest run of frames = the clip's end):
    // the untrained network (same seed, same size) and the mean of the training faces.
    const std::vector<int64_t> val(frames.end() - 12, frames.end());
    const std::string cache = run + "/cache/00";
    cv::Mat sum = cv::Mat::zeros(S, S, CV_64FC3);
    for (auto it = frames.begin(); it != frames.end() - 12; ++it) {
        cv::Mat f;
        cv::imread(cache + "/faces/" + frame_name(*it, ".png")).convertTo(f, CV_64FC3);
        sum += f;
    }
    cv::Mat mean_face;
    sum.convertTo(mean_face, CV_8UC3, 1.0 / double(frames.size() - 12));
    torch::manual_seed(1);
    renderer::GeneratorConfig gc;
    gc.ngf = 16;
    renderer::Generator g0(gc);
    renderer::init_weights(*g0);
    renderer::FaceRenderer untrained(g0, torch::kCPU);
    double psnr_mean = 0, psnr_untrained = 0;
    std::vector<torch::Tensor> conds;
    for (size_t i = 0; i < val.size(); ++i) {
        const std::string name = frame_name(val[i], ".png");
        const cv::Mat real = cv::imread(cache + "/faces/" + name);
        const cv::Mat mask = cv::imread(cache + "/masks/" + name, cv::IMREAD_GRAYSCALE);
        conds.push_back(renderer::conditioning_tensor(cv::imread(work + "/conditioning/nmfc/" + name),
                                                      cv::imread(work + "/conditioning/eyes/" + name),
                                                      cv::imread(work + "/conditioning/shape/" + name)));
        const auto c = torch::cat({conds[std::max<int>(0, int(i) - 2)], conds[std::max<int>(0, int(i) - 1)], conds[i]})
                           .unsqueeze(0);
        const cv::Mat out = renderer::output_to_image(untrained.step(c, renderer::mask_tensor(mask)));
        psnr_mean += psnr_masked(mean_face, real, mask) / double(val.size());
        psnr_untrained += psnr_masked(out, real, mask) / double(val.size());
    }
    std::printf("held-out PSNR in the mask: trained %.2f dB, mean training face %.2f dB, untrained %.2f dB\n", trained,
                psnr_mean, psnr_untrained);
    EXPECT_GT(trained, psnr_untrained + 3.0);
    EXPECT_GT(trained, psnr_mean + 1.0);
}
