// Benchmark of src/io: decode fps (VideoReader, BGR frames) and encode fps (VideoWriter: libx264, libx265,
// ProRes, FFV1) on one clip. Not a test.
//   bench_io [VIDEO] [--preset P] [--crf N] [--threads N] [--frames N] [--out PATH]
//            [--codec h264|h265|prores|ffv1|all] [--pix-fmt NAME] [--deep] [-v]
// --deep decodes at the source's depth (BGR48 for a deep source); --codec all encodes with each codec in turn.
// Default VIDEO: ../shared/data/video/wav2lip-gfpgan__kim_7s_raw.mp4 (1920x1080, 223 frames).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "ned/core/log.hpp"
#include "ned/io/video.hpp"

namespace {
double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

/// What every encode pass shares.
struct EncodeSettings {
    std::string preset, out, pix_fmt;
    int crf = 18, threads = 0;
    long max_frames = -1;
    ned::io::FrameDepth depth = ned::io::FrameDepth::Eight;
};

/// Encodes `frames` (or, when they were not kept, the clip decoded again) with `codec`; prints the speed.
void encode(const ned::io::VideoInfo& info, const std::string& path, const std::vector<ned::io::Frame>& frames,
            bool keep, long n, ned::io::Codec codec, const EncodeSettings& s) {
    using ned::io::Codec;
    const std::string& out = s.out;
    const std::string& preset = s.preset;
    const int crf = s.crf, threads = s.threads;
    const long max_frames = s.max_frames;
    const auto depth = s.depth;
    const std::string& pix_fmt = s.pix_fmt;
    const char* ext = codec == Codec::ProRes ? ".mov" : codec == Codec::Ffv1 ? ".mkv" : ".mp4";
    const std::string out_path =
        out.empty() ? (std::filesystem::temp_directory_path() / (std::string("ned_bench_io") + ext)).string() : out;
    ned::io::VideoWriterOptions o;
    o.codec = codec;
    o.pix_fmt = pix_fmt;
    o.preset = preset;
    o.crf = crf;
    o.threads = threads;
    ned::io::check_writer_options(out_path, info, o);
    const double t0 = now_s();
    {
        ned::io::VideoWriter writer(out_path, info, o);
        if (keep) {
            for (const auto& f : frames) writer.write(f);
        } else {
            ned::io::VideoReader reader(path, threads, depth);
            ned::io::Frame f;
            long k = 0;
            while ((max_frames < 0 || k++ < max_frames) && reader.read(f)) writer.write(f);
        }
        writer.finish();
    }
    const double enc_s = now_s() - t0;
    std::printf(
        "encode (%s %s preset=%s crf=%d threads=%d%s): %ld frames in %.2f s = %.1f fps, %.1f ms/frame -> %s "
        "(%.1f MB)\n",
        ned::io::codec_name(codec), ned::io::output_pix_fmt(info, o).c_str(), preset.c_str(), crf, threads,
        keep ? "" : ", includes decoding", n, enc_s, n / enc_s, 1000.0 * enc_s / n, out_path.c_str(),
        std::filesystem::file_size(out_path) / 1e6);
    if (out.empty()) std::filesystem::remove(out_path);
}

}  // namespace

int main(int argc, char** argv) {
    std::string path = std::string(NED_SOURCE_DIR_BENCH) + "/../shared/data/video/wav2lip-gfpgan__kim_7s_raw.mp4";
    std::string preset = "veryfast", out, codec_arg = "h264", pix_fmt;
    bool deep = false;
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
        else if (a == "--codec")
            codec_arg = next();
        else if (a == "--pix-fmt")
            pix_fmt = next();
        else if (a == "--deep")
            deep = true;
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
        const size_t frame_bytes =
            static_cast<size_t>(info.display_width) * info.display_height * 3 * (deep && info.bit_depth > 8 ? 2 : 1);
        const auto depth = deep ? ned::io::FrameDepth::Source : ned::io::FrameDepth::Eight;
        const bool keep = frame_bytes * static_cast<size_t>(info.frame_count) < (3ull << 30);
        double t0 = now_s();
        long n = 0;
        {
            ned::io::VideoReader reader(path, threads, depth);
            ned::io::Frame f;
            while ((max_frames < 0 || n < max_frames) && reader.read(f)) {
                if (keep) frames.push_back(f);
                ++n;
            }
        }
        const double dec_s = now_s() - t0;
        std::printf("decode (threads=%d): %ld frames in %.2f s = %.1f fps\n", threads, n, dec_s, n / dec_s);

        // 2) encode only (from memory), with audio copy, per codec
        using ned::io::Codec;
        std::vector<Codec> codecs;
        for (Codec c : {Codec::H264, Codec::H265, Codec::ProRes, Codec::Ffv1})
            if (codec_arg == "all" || codec_arg == ned::io::codec_name(c)) codecs.push_back(c);
        if (codecs.empty()) throw std::runtime_error("--codec: expected h264, h265, prores, ffv1 or all");
        const EncodeSettings settings{preset, out, pix_fmt, crf, threads, max_frames, depth};
        for (Codec codec : codecs) encode(info, path, frames, keep, n, codec, settings);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_io: %s\n", e.what());
        return 1;
    }
    return 0;
}
