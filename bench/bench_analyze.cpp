// Benchmark of `ned analyze` (library side): track pass and analysis pass frames/s, plus the alignment
// jitter with and without NED's multisample averaging.
//   bench_analyze VIDEO [max_frames=0] [threads=0] [--jitter]
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "ned/face/alignment.hpp"
#include "ned/analysis/analyze.hpp"
#include "ned/core/log.hpp"

using namespace ned::face;
using namespace ned::track;
using namespace ned::analysis;

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s VIDEO [max_frames] [threads] [--jitter]\n", argv[0]);
        return 2;
    }
    ned::log::setup(-1);
    const std::string video = argv[1];
    const long max_frames = argc > 2 ? std::atol(argv[2]) : 0;
    const int threads = argc > 3 ? std::atoi(argv[3]) : 0;
    const bool jitter = argc > 4 && std::string(argv[4]) == "--jitter";
    using clock = std::chrono::steady_clock;
    try {
        TrackOptions to;
        to.max_frames = max_frames;
        to.threads = threads;
        const std::clock_t c0 = std::clock();
        const auto t0 = clock::now();
        const FaceTrack base = build_track(video, to);
        const auto t1 = clock::now();
        const std::clock_t c1 = std::clock();
        const LandmarkDetector det;
        const auto t2 = clock::now();
        const std::clock_t c2 = std::clock();
        AnalyzeOptions ao;
        ao.threads = threads;
        FaceTrack a = base;
        analyze_track(a, det, video, "/tmp", ao);
        const auto t3 = clock::now();
        const std::clock_t c3 = std::clock();
        auto cpu_ms = [&](std::clock_t a, std::clock_t b) {
            return 1000.0 * (b - a) / CLOCKS_PER_SEC / base.frames.size();
        };
        const double n = static_cast<double>(base.frames.size());
        const double st = std::chrono::duration<double>(t1 - t0).count();
        const double sl = std::chrono::duration<double>(t2 - t1).count();
        const double sa = std::chrono::duration<double>(t3 - t2).count();
        std::printf("%s: %.0f frames (%zu with a face), threads %d\n", video.c_str(), n, base.num_valid(), threads);
        std::printf("  track pass     %.2f s  %.1f frames/s  (%.1f CPU ms/frame)\n", st, n / st, cpu_ms(c0, c1));
        std::printf("  model load     %.2f s\n", sl);
        std::printf("  analysis pass  %.2f s  %.1f frames/s (multisample)  (%.1f CPU ms/frame)\n", sa, n / sa,
                    cpu_ms(c2, c3));
        std::printf("  total          %.2f s  %.1f frames/s\n", st + sl + sa, n / (st + sl + sa));
        if (jitter) {
            FaceTrack b = base;
            AnalyzeOptions single = ao;
            single.multisample = false;
            const auto t4 = clock::now();
            const std::clock_t c4 = std::clock();
            analyze_track(b, det, video, "/tmp", single);
            const double ss = std::chrono::duration<double>(clock::now() - t4).count();
            std::printf("  (single pass %.1f CPU ms/frame)\n", cpu_ms(c4, std::clock()));
            const AlignmentJitter ja = alignment_jitter(a), jb = alignment_jitter(b);
            std::printf("  analysis pass  %.2f s  %.1f frames/s (single)\n", ss, n / ss);
            std::printf(
                "  jitter (crop px): multisample motion %.3f second-diff %.3f | single motion %.3f "
                "second-diff %.3f | reduction %.1f%%\n",
                ja.motion, ja.jitter, jb.motion, jb.jitter, 100.0 * (1.0 - ja.jitter / jb.jitter));
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    return 0;
}
