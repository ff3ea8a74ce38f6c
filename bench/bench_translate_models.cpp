// Stand-in models for scripts/bench_translate.sh (`ned translate` end to end): the tests' synthetic FLAME, a
// random manipulator, and a random renderer of NED's size (ngf 64, 9 ResNet blocks: 70,834,755 generator
// parameters) or of a given ngf. Real weights are not available here; speed does not depend on the values.
// Usage: bench_translate_models DIR [ngf=64]
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "ned/core/safetensors.hpp"
#include "ned/manip/networks.hpp"
#include "ned/renderer/checkpoint.hpp"
#include "unit/conditioning/synthetic_flame.hpp"

namespace fs = std::filesystem;

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s DIR [ngf=64]\n", argv[0]);
        return 2;
    }
    const std::string dir = argv[1];
    const int ngf = argc > 2 ? std::atoi(argv[2]) : 64;
    fs::create_directories(dir);
    ned::st::save(dir + "/flame.safetensors", ned::test::synthetic_flame_file(24, true));
    torch::manual_seed(0);
    ned::manip::Nets nets(ned::manip::NetConfig{});
    nets.he_init();
    ned::manip::save_checkpoint(dir + "/manipulator.safetensors", nets);
    ned::renderer::GeneratorConfig c;
    c.ngf = ngf;
    ned::renderer::Generator g(c);
    ned::renderer::init_weights(*g);
    int64_t n = 0;
    for (const auto& p : g->parameters()) n += p.numel();
    ned::renderer::MultiscaleDiscriminator d{nullptr}, dm{nullptr};
    ned::renderer::save_renderer(dir + "/renderer.safetensors", g, d, dm);
    std::printf("%s: flame, manipulator, renderer (ngf %d, %lld generator parameters)\n", dir.c_str(), ngf,
                static_cast<long long>(n));
    return 0;
}
