// Benchmark of src/io: decode fps (VideoReader, BGR frames) and encode fps (VideoWriter, libx264) on one
// clip. Not a test.
//   bench_io [VIDEO] [--preset P] [--crf N] [--threads N] [--frames N] [--out PATH] [-v]
// Default VIDEO: ../shared/data/video/wav2lip-gfpgan__kim_7s_raw.mp4 (1920x1080, 223 frames).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "ned/core/log.hpp"
#include "ned/io/video.hpp"

namespace {
double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
}  // namespace

int main(int argc, char** argv) {
    std::string path = std::string(NED_SOURCE_DIR_BENCH) + "/../shared/data/video/wav2lip-gfpgan__kim_7s_raw.mp4";
    std::string preset = "veryfast", out;
    int crf = 18, threads = 0, verbosity = -1;
    long max_frames = -1;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
        if (a == "--preset")
            preset = next();
        else if (a == "--crf")
            crf = std::atoi(next().c_str());
        else if (a == "--threads")
            threads = std::atoi(next().c_str());
        else if (a == "--frames")
            max_frames = std::atol(next().c_str());
        else if (a == "--out")
            out = next();
        else if (a == "-v")
            verbosity = 1;
        else
            path = a;
    }
    ned::log::setup(verbosity);
    try {
        const ned::io::VideoInfo info = ned::io::probe(path, true);
        std::printf("clip: %s\n  %s %dx%d (display %dx%d), %lld frames, %.3f fps, %zu audio stream(s)\n", path.c_str(),
                    info.codec.c_str(), info.width, info.height, info.display_width, info.display_height,
                    static_cast<long long>(info.frame_count), info.frame_rate.value(), info.audio.size());

        // 1) decode only (frames kept for the encode pass when they fit in ~3 GB, else re-decoded)
        std::vector<ned::io::Frame> frames;
        const size_t frame_bytes = static_cast<size_t>(info.display_width) * info.display_height * 3;
        const bool keep = frame_bytes * static_cast<size_t>(info.frame_count) < (3ull << 30);
        double t0 = now_s();
        long n = 0;
        {
            ned::io::VideoReader reader(path, threads);
            ned::io::Frame f;
            while ((max_frames < 0 || n < max_frames) && reader.read(f)) {
                if (keep) frames.push_back(f);
                ++n;
            }
        }
        const double dec_s = now_s() - t0;
        std::printf("decode (threads=%d): %ld frames in %.2f s = %.1f fps\n", threads, n, dec_s, n / dec_s);

        // 2) encode only (from memory), with audio copy
        const std::string out_path =
            out.empty() ? (std::filesystem::temp_directory_path() / "ned_bench_io.mp4").string() : out;
        ned::io::VideoWriterOptions o;
        o.preset = preset;
        o.crf = crf;
        o.threads = threads;
        t0 = now_s();
        {
            ned::io::VideoWriter writer(out_path, info, o);
            if (keep) {
                for (const auto& f : frames) writer.write(f);
            } else {
                ned::io::VideoReader reader(path, threads);
                ned::io::Frame f;
                long k = 0;
                while ((max_frames < 0 || k++ < max_frames) && reader.read(f)) writer.write(f);
            }
            writer.finish();
        }
        const double enc_s = now_s() - t0;
        std::printf("encode (libx264 preset=%s crf=%d threads=%d%s): %ld frames in %.2f s = %.1f fps -> %s (%.1f MB)\n",
                    preset.c_str(), crf, threads, keep ? "" : ", includes decoding", n, enc_s, n / enc_s,
                    out_path.c_str(), std::filesystem::file_size(out_path) / 1e6);
        if (out.empty()) std::filesystem::remove(out_path);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_io: %s\n", e.what());
        return 1;
    }
    return 0;
}
