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
/// (NED's init), with the image and mouth discriminators (ndf 4) when asked, recorded as trained at
/// `crop_size` (the synthetic work folder's 64 by default). Returns `path`.
inline std::string write_synthetic_renderer(const std::string& path, bool with_discriminators = false,
                                            int crop_size = 64) {
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
    renderer::save_renderer(path, g, d, dm, {{"crop_size", std::to_string(crop_size)}});
    return path;
}

}  // namespace ned::test
