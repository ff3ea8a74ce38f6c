// Renderer checkpoint (format ned.renderer v1): see include/ned/renderer/checkpoint.hpp.
#include "ned/renderer/checkpoint.hpp"

#include <algorithm>
#include <cctype>

#include "ned/core/error.hpp"
#include "ned/core/log.hpp"
#include "ned/core/torch_util.hpp"

namespace ned::renderer {
namespace {

const char* const kHint =
    "convert NED's renderer with scripts/convert_ned_renderer.py or train one with `ned train-renderer` "
    "(docs/models.md)";

const st::Tensor& need(const st::File& f, const std::string& name, size_t dims) {
    if (!f.has(name)) throw ModelError(cat(f.path, ": missing tensor '", name, "' (", kHint, ")"));
    const st::Tensor& t = f.tensors.at(name);
    if (t.shape.size() != dims)
        throw ModelError(
            cat(f.path, ": tensor '", name, "' has shape ", t.shape_str(), ", expected ", dims, " dimensions"));
    return t;
}

}  // namespace

int trained_crop_size(const std::map<std::string, std::string>& metadata, const std::string& path) {
    const auto it = metadata.find("crop_size");
    if (it == metadata.end()) return kDefaultTrainedCropSize;
    const std::string& v = it->second;
    const bool digits = !v.empty() && v.size() <= 5 &&
                        std::all_of(v.begin(), v.end(), [](unsigned char c) { return std::isdigit(c) != 0; });
    const int s = digits ? std::stoi(v) : 0;
    if (s < 1) throw ModelError(cat(path, ": metadata crop_size '", v, "' is not a positive integer"));
    return s;
}

void check_trained_crop_size(const std::string& path, int trained, int crop_size, bool allow_mismatch) {
    if (trained == crop_size) return;
    const std::string what = cat(path, " was trained at ", trained, "x", trained, " faces; the track's crops are ",
                                 crop_size, "x", crop_size);
    if (!allow_mismatch)
        throw ModelError(cat(what, " (track with --crop-size ", trained,
                             " (crop, analyze, translate, style), or train a ", crop_size,
                             " renderer; --allow-crop-size-mismatch renders anyway, quality untested)"));
    NED_LOG_WARN("[renderer] {} (--allow-crop-size-mismatch: rendering anyway; the quality is untested)", what);
}

GeneratorConfig generator_config_from(const st::File& f, const std::string& p) {
    GeneratorConfig c;
    const st::Tensor& first = need(f, p + "model_down_seg.1.weight", 4);
    c.ngf = static_cast<int>(first.shape[0]);
    c.cond_nc = static_cast<int>(first.shape[1]);
    c.prev_nc = static_cast<int>(need(f, p + "model_down_img.1.weight", 4).shape[1]);
    c.output_nc = static_cast<int>(need(f, p + "model_final_img.1.weight", 4).shape[0]);
    c.n_downsample = 0;
    while (f.has(cat(p, "model_down_seg.", 4 + 3 * c.n_downsample, ".weight"))) ++c.n_downsample;
    int down = 0, res = 0;
    while (f.has(cat(p, "model_down_seg.", 4 + 3 * c.n_downsample + down, ".conv_block.1.weight"))) ++down;
    while (f.has(cat(p, "model_res_img.", res, ".conv_block.1.weight"))) ++res;
    c.n_blocks = down + res;
    if (c.blocks_down() != down || c.blocks_res() != res)
        throw ModelError(cat(f.path, ": ", down, " ResNet blocks per encoder and ", res,
                             " after the sum is not NED's split (n_blocks - n_blocks/2, n_blocks/2)"));
    // The layer counts come from tensor names, not sizes: bound them before networks of that size are built
    // (NED: ngf 64, 3 downsamplings, 9 blocks).
    if (c.ngf < 1 || c.n_downsample > 8 || (static_cast<int64_t>(c.ngf) << c.n_downsample) > 8192 || c.n_blocks > 64 ||
        c.cond_nc < 1 || c.prev_nc < 1 || c.output_nc < 1 || c.cond_nc > 1024 || c.prev_nc > 1024 || c.output_nc > 1024)
        throw ModelError(cat(f.path, ": generator of ngf ", c.ngf, ", ", c.n_downsample, " downsamplings, ", c.n_blocks,
                             " blocks, ", c.cond_nc, "+", c.prev_nc, " -> ", c.output_nc,
                             " channels is outside what ned builds (ngf * 2^downsamplings <= 8192, <= 8 "
                             "downsamplings, <= 64 blocks)"));
    return c;
}

std::optional<DiscriminatorConfig> discriminator_config_from(const st::File& f, const std::string& p) {
    if (!f.has(p + "scale0_layer0.0.weight")) return std::nullopt;
    DiscriminatorConfig c;
    c.num_D = 0;
    while (f.has(cat(p, "scale", c.num_D, "_layer0.0.weight"))) ++c.num_D;
    int layers = 0;
    while (f.has(cat(p, "scale0_layer", layers, ".0.weight"))) ++layers;
    if (layers < 3) throw ModelError(cat(f.path, ": discriminator '", p, "' has only ", layers, " layers"));
    c.n_layers = layers - 2;
    c.input_nc = static_cast<int>(need(f, p + "scale0_layer0.0.weight", 4).shape[1]);
    c.ndf = static_cast<int>(need(f, cat(p, "scale", c.num_D - 1, "_layer0.0.weight"), 4).shape[0]);
    if (c.num_D > 8 || c.n_layers > 8 || c.ndf < 1 || c.ndf > 4096 || c.input_nc < 1 || c.input_nc > 1024)
        throw ModelError(cat(f.path, ": discriminator '", p, "' with ", c.num_D, " scales of ", c.n_layers,
                             " layers, ndf ", c.ndf, ", ", c.input_nc, " input channels is outside what ned builds"));
    return c;
}

RendererNets load_renderer(const std::string& path, const torch::Device& device, bool with_discriminators) {
    return renderer_from_file(st::load_model(path, kCheckpointFormat, kCheckpointVersion, kHint), device,
                              with_discriminators);
}

RendererNets renderer_from_file(const st::File& f, const torch::Device& device, bool with_discriminators) {
    RendererNets nets;
    nets.metadata = f.metadata;
    nets.generator = Generator(generator_config_from(f));
    load_module(*nets.generator, f, "generator.", /*strict=*/true);
    nets.generator->to(device);
    if (with_discriminators) {
        if (auto dc = discriminator_config_from(f, "discriminator.")) {
            nets.discriminator = MultiscaleDiscriminator(*dc);
            load_module(*nets.discriminator, f, "discriminator.", true);
            nets.discriminator->to(device);
        }
        if (auto dc = discriminator_config_from(f, "mouth_discriminator.")) {
            nets.mouth_discriminator = MultiscaleDiscriminator(*dc);
            load_module(*nets.mouth_discriminator, f, "mouth_discriminator.", true);
            nets.mouth_discriminator->to(device);
        }
    }
    return nets;
}

Generator load_generator(const std::string& path, const torch::Device& device) {
    return load_renderer(path, device, false).generator;
}

void save_renderer(const std::string& path, const Generator& g, const MultiscaleDiscriminator& d,
                   const MultiscaleDiscriminator& dm, const std::map<std::string, std::string>& metadata) {
    NED_CHECK(!g.is_empty(), "save_renderer needs a generator");
    st::File f;
    f.metadata = metadata;
    f.metadata["format"] = kCheckpointFormat;
    f.metadata["version"] = std::to_string(kCheckpointVersion);
    f.metadata["ngf"] = std::to_string(g->cfg.ngf);
    f.metadata["n_blocks"] = std::to_string(g->cfg.n_blocks);
    f.metadata["n_downsample"] = std::to_string(g->cfg.n_downsample);
    auto add = [&](const torch::nn::Module& m, const std::string& prefix) {
        for (const auto& p : m.named_parameters(true))
            f.tensors[prefix + p.key()] = from_torch(p.value().detach().to(torch::kCPU, torch::kFloat));
    };
    add(*g, "generator.");
    if (!d.is_empty()) add(*d, "discriminator.");
    if (!dm.is_empty()) add(*dm, "mouth_discriminator.");
    require_finite(f, path);
    st::save(path, f);
}

void require_finite(const st::File& file, const std::string& path) {
    int64_t at = 0;
    const std::string bad = st::first_non_finite(file, &at);
    if (!bad.empty())
        throw Error(cat(path, ": not written: tensor '", bad, "' holds a NaN or an infinity (element ", at,
                        "; the training diverged: try a lower --lr)"));
}

}  // namespace ned::renderer
