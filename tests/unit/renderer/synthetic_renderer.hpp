#pragma once
// A small random renderer for the tests (torch-only: part of the NED_NETS_ONLY build); synthetic_workdir.hpp puts
// one into its work folder.
#include <string>

#include "ned/renderer/checkpoint.hpp"
#include "ned/renderer/networks.hpp"

namespace ned::test {

/// Small generator sizes for tests (ngf 4, 3 downsamplings, 3 ResNet blocks).
inline renderer::GeneratorConfig small_generator_config() {
    renderer::GeneratorConfig c;
    c.ngf = 4;
    c.n_blocks = 3;
    return c;
}

/// Writes a random renderer checkpoint (ned.renderer v1) of small_generator_config() to `path`, seeded with 7
/// (NED's init), with the image and mouth discriminators (ndf 4) when asked. Returns `path`.
inline std::string write_synthetic_renderer(const std::string& path, bool with_discriminators = false) {
    torch::manual_seed(7);
    renderer::Generator g(small_generator_config());
    renderer::init_weights(*g);
    renderer::MultiscaleDiscriminator d{nullptr}, dm{nullptr};
    if (with_discriminators) {
        renderer::DiscriminatorConfig dc;
        dc.ndf = 4;
        d = renderer::MultiscaleDiscriminator(dc);
        dm = renderer::MultiscaleDiscriminator(dc);
    }
    renderer::save_renderer(path, g, d, dm);
    return path;
}

}  // namespace ned::test
