// libFuzzer target for the model assets and the renderer's manifest: one binary (LibTorch makes every
// translation unit slow to compile), the reader chosen by the environment variable NED_FUZZ_KIND:
//   flame        recon::FlameModel::load (format, tensor shapes, index ranges, kinematic tree), then one
//                forward pass of what it accepted: an accepted file must be usable
//   deca         recon::DecaModel::from_file's checks: every parameter of E_flame / E_detail / D_detail by
//                name, shape, dtype and finiteness, loaded into networks built once (DECA's ResNet-50 encoders
//                would dominate each execution)
//   unet         analysis::FaceSegmenter's loader (format "ned.fsgan_unet", strict load_module), into a U-Net
//                built once
//   manipulator  manip::load_checkpoint, which builds the networks the file describes (widths bounded and
//                checked against the first layers before anything is built), then, for a file it accepted,
//                manip::load_checkpoint_into (width check, G / E / M / D tensors) on 2-wide networks built once
//   renderer     renderer::load_renderer with the discriminators: sizes read from tensor names and shapes
//                (bounded before anything is built), networks built, every tensor loaded strictly
//   conditioning renderer::detail::conditioning_frames on WORK/conditioning/conditioning.json
// Only ned::Error may leave a reader; anything else (a LibTorch error, a crash, a sanitizer report) is a finding.
// NED_FUZZ_WRITE_SEEDS=DIR instead writes the seed corpora DIR/<kind>/ with ned's own writers and exits.
#include <torch/torch.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "fuzz_file_common.hpp"
#include "ned/core/error.hpp"
#include "ned/core/safetensors.hpp"
#include "ned/core/torch_util.hpp"
#include "ned/analysis/segmentation.hpp"
#include "ned/manip/networks.hpp"
#include "ned/recon/deca.hpp"
#include "ned/recon/flame.hpp"
#include "ned/renderer/checkpoint.hpp"
#include "renderer/internal.hpp"
#include "unit/conditioning/synthetic_flame.hpp"

namespace fs = std::filesystem;
using namespace ned;

namespace {

enum class Kind { Flame, Deca, Unet, Manipulator, Renderer, Conditioning };
Kind g_kind = Kind::Flame;

// The first parameters of `m` (in order) while the file stays under `budget` bytes, with format metadata.
void save_prefix(const torch::nn::Module& m, const std::string& prefix, const std::string& format, size_t budget,
                 const std::string& path) {
    st::File f;
    f.metadata = {{"format", format}, {"version", "1"}};
    size_t bytes = 0;
    for (const auto& p : m.named_parameters(true)) {
        const size_t n = static_cast<size_t>(p.value().numel()) * 4;
        if (bytes + n > budget) break;
        f.tensors[prefix + p.key()] = from_torch(p.value().detach().to(torch::kFloat));
        bytes += n;
    }
    st::save(path, f);
}

// Small valid files (and, for the fixed-size DECA and U-Net, files holding only their first parameters:
// a complete one is tens of megabytes).
void write_seeds(const fs::path& out) {
    for (const char* k : {"flame", "deca", "unet", "manipulator", "renderer"}) fs::create_directories(out / k);
    torch::manual_seed(1);
    st::save((out / "flame" / "grid2.safetensors").string(), test::synthetic_flame_file(2, false));
    recon::DecaModel deca;
    save_prefix(*deca.E_flame, "E_flame.", "ned.deca", 60000, (out / "deca" / "prefix.safetensors").string());
    save_prefix(*deca.D_detail, "D_detail.", "ned.deca", 60000, (out / "deca" / "detail_prefix.safetensors").string());
    analysis::UNet unet(3);
    save_prefix(*unet, "", "ned.fsgan_unet", 60000, (out / "unet" / "prefix.safetensors").string());
    // The smallest widths the loader accepts (2): the file is mostly its header.
    manip::NetConfig mc;
    mc.g_hidden = mc.e_hidden = mc.m_hidden = 2;
    manip::save_checkpoint((out / "manipulator" / "tiny.safetensors").string(), manip::Nets(mc));
    renderer::GeneratorConfig gc;
    gc.ngf = 1;
    gc.n_downsample = 1;
    gc.n_blocks = 2;
    renderer::Generator g(gc);
    renderer::DiscriminatorConfig dc;
    dc.ndf = 1;
    dc.n_layers = 1;
    dc.num_D = 1;
    renderer::MultiscaleDiscriminator d(dc), dm(dc);
    renderer::save_renderer((out / "renderer" / "tiny.safetensors").string(), g, d, dm);
    renderer::save_renderer((out / "renderer" / "generator_only.safetensors").string(), g,
                            renderer::MultiscaleDiscriminator(nullptr), renderer::MultiscaleDiscriminator(nullptr));
    for (const auto& e : fs::recursive_directory_iterator(out))
        if (e.is_regular_file()) std::cout << e.path().string() << " " << e.file_size() << " bytes\n";
}

void fuzz_flame(const std::string& path) {
    auto m = recon::FlameModel::load(path);
    torch::NoGradGuard ng;
    const auto out = m.forward(torch::zeros({1, 100}), torch::zeros({1, 50}), torch::zeros({1, 6}));
    (void)out;
}

void fuzz_deca(const std::string& path) {
    static recon::DecaModel model;
    const st::File f = st::load_model(path, "ned.deca", 1);
    load_module(*model.E_flame, f, "E_flame.");
    load_module(*model.E_detail, f, "E_detail.");
    load_module(*model.D_detail, f, "D_detail.");
}

void fuzz_unet(const std::string& path) {
    static analysis::UNet net(3);
    const st::File f = st::load_model(path, "ned.fsgan_unet", 1);
    load_module(*net, f, "", true);
}

void fuzz_manipulator(const std::string& path) {
    static manip::Nets nets = [] {
        manip::NetConfig c;
        c.g_hidden = c.e_hidden = c.m_hidden = 2;
        return manip::Nets(c);
    }();
    bool has_d = false;
    const auto full = manip::load_checkpoint(path, &has_d);
    (void)full;
    // Only after load_checkpoint accepted the file: a refused file would stop load_checkpoint_into in the same
    // shared code (load_file, config_of, load_module), and parsing the JSON header twice halves the rate. An
    // accepted file of other widths takes its "widths differ" path, a 2-wide one its load into built networks.
    manip::load_checkpoint_into(path, nets, &has_d);
}

void fuzz_renderer(const std::string& path) {
    const auto nets = renderer::load_renderer(path, torch::kCPU, true);
    (void)nets;
}

void fuzz_conditioning(const uint8_t* data, size_t size) {
    static const fs::path dir = [] {
        const fs::path d = "/dev/shm/ned-fuzz-cond-" + std::to_string(::getpid());
        fs::create_directories(d);
        return d;
    }();
    if (std::FILE* f = std::fopen((dir / "conditioning.json").c_str(), "wb")) {
        if (size) std::fwrite(data, 1, size, f);
        std::fclose(f);
    }
    const auto frames = renderer::detail::conditioning_frames(dir);
    (void)frames;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    torch::set_num_threads(1);
    if (const char* seeds = std::getenv("NED_FUZZ_WRITE_SEEDS")) {
        write_seeds(seeds);
        std::exit(0);
    }
    const char* k = std::getenv("NED_FUZZ_KIND");
    const std::string kind = k ? k : "";
    if (kind == "flame")
        g_kind = Kind::Flame;
    else if (kind == "deca")
        g_kind = Kind::Deca;
    else if (kind == "unet")
        g_kind = Kind::Unet;
    else if (kind == "manipulator")
        g_kind = Kind::Manipulator;
    else if (kind == "renderer")
        g_kind = Kind::Renderer;
    else if (kind == "conditioning")
        g_kind = Kind::Conditioning;
    else {
        std::fprintf(stderr, "set NED_FUZZ_KIND to flame, deca, unet, manipulator, renderer or conditioning\n");
        std::exit(2);
    }
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        if (g_kind == Kind::Conditioning) {
            fuzz_conditioning(data, size);
            return 0;
        }
        const std::string path = fuzz_write_file(data, size, ".safetensors");
        switch (g_kind) {
            case Kind::Flame: fuzz_flame(path); break;
            case Kind::Deca: fuzz_deca(path); break;
            case Kind::Unet: fuzz_unet(path); break;
            case Kind::Manipulator: fuzz_manipulator(path); break;
            case Kind::Renderer: fuzz_renderer(path); break;
            case Kind::Conditioning: break;
        }
    } catch (const ned::Error&) {}
    return 0;
}
