// Synthetic inputs for scripts/bench_dist.sh (time per training iteration with 1 and 2 processes):
//   DIR/renderer_work: an analysed work folder with conditioning (crop 64, FRAMES frames) for `ned train-renderer`;
//   DIR/manip_data:    reconstructions of two emotions (6 files x 120 frames) for `ned train-manipulator`.
// The same generators as the tests (tests/unit/renderer/synthetic_workdir.hpp, tests/unit/manip/synth.hpp).
// Usage: bench_dist_data DIR [frames=96]
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "ned/recon/reconstruction.hpp"
#include "unit/manip/synth.hpp"
#include "unit/renderer/synthetic_workdir.hpp"

namespace fs = std::filesystem;

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s DIR [frames=96]\n", argv[0]);
        return 2;
    }
    const std::string dir = argv[1];
    const int frames = argc > 2 ? std::atoi(argv[2]) : 96;
    const std::string work = dir + "/renderer_work";
    fs::create_directories(work);
    std::vector<int64_t> f;
    for (int t = 0; t < frames; ++t) f.push_back(t);
    ned::test::write_synthetic_workdir(work, frames, f, false, {}, /*with_video=*/true);
    for (const char* e : {"neutral", "happy"}) fs::create_directories(dir + "/manip_data/" + e);
    for (int i = 0; i < 6; ++i) {
        ned::recon::save_reconstruction(dir + "/manip_data/neutral/n" + std::to_string(i) + ".safetensors",
                                        ned::test::synth_recon(120, {}, 10 + i));
        ned::recon::save_reconstruction(dir + "/manip_data/happy/h" + std::to_string(i) + ".safetensors",
                                        ned::test::synth_recon(120, {1.2f, 1.2f, 1.2f, 1.2f, -0.8f}, 20 + i));
    }
    std::printf("%s/renderer_work (%d frames), %s/manip_data (12 files)\n", dir.c_str(), frames, dir.c_str());
    return 0;
}
