// Per-call time of each open face model of ned::facenet on this CPU (the per-frame cost when run on every frame).
//   bench_facenet [IMAGE] [runs=10] [threads=0]
// IMAGE: a photo with one face (default: a synthetic 1280x720 image, face box fixed); the detector's first
// face is used for the per-face nets. Prints the median and min of `runs` timed calls after one warm-up call.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include "ned/facenet/facenet.hpp"

using namespace ned::facenet;

namespace {
void time_it(const char* what, int runs, const std::function<void()>& f) {
    f();  // warm-up
    std::vector<double> ms;
    for (int i = 0; i < runs; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        f();
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    std::printf("%-40s median %8.1f ms   min %8.1f ms   (%d runs)\n", what, ms[ms.size() / 2], ms.front(), runs);
}
}  // namespace

int main(int argc, char** argv) {
    const std::string image = argc > 1 ? argv[1] : "";
    const int runs = argc > 2 ? std::atoi(argv[2]) : 10;
    const int threads = argc > 3 ? std::atoi(argv[3]) : 0;
    if (threads > 0) torch::set_num_threads(threads);
    try {
        cv::Mat img;
        cv::Rect2f box(560, 240, 200, 240);
        if (!image.empty()) {
            img = cv::imread(image, cv::IMREAD_COLOR);
            if (img.empty()) {
                std::fprintf(stderr, "cannot read %s\n", image.c_str());
                return 2;
            }
        } else {
            img = cv::Mat(720, 1280, CV_8UC3);
            cv::randu(img, 0, 255);
            cv::GaussianBlur(img, img, cv::Size(0, 0), 3);
        }
        const SsdFaceDetector det;
        const BlazeFaceDetector blaze;
        const Landmarks68 lm;
        const FaceDescriptor desc;
        const ExpressionNet expr;
        const EmotionFer2013 fer;
        const auto faces = det.detect(img);
        if (!image.empty() && !faces.empty()) box = faces[0].box;
        std::printf("image %dx%d, face box %.0fx%.0f, torch threads %d\n", img.cols, img.rows, box.width, box.height,
                    torch::get_num_threads());
        time_it("SsdFaceDetector::detect (SSD 512x512)", runs, [&] { det.detect(img); });
        time_it("BlazeFaceDetector::detect (256x256)", runs, [&] { blaze.detect(img); });
        time_it("Landmarks68::predict (112x112)", runs, [&] { lm.predict(img, box); });
        time_it("FaceDescriptor::describe (150x150)", runs, [&] { desc.describe(img, box); });
        time_it("ExpressionNet::probabilities (112x112)", runs, [&] { expr.probabilities(img, box); });
        time_it("EmotionFer2013::probabilities (64x64)", runs, [&] { fer.probabilities(img, box); });
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    return 0;
}
