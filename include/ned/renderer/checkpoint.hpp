#pragma once
// Renderer checkpoint: one safetensors file, __metadata__ format "ned.renderer", version "1".
// Tensors: "generator." / "discriminator." / "mouth_discriminator." + NED's state-dict names, e.g.
// generator.model_down_seg.1.weight [ngf,27,7,7], generator.model_down_seg.13.conv_block.1.weight,
// discriminator.scale1_layer0.0.weight [64,12,4,4]. Not stored: NED's duplicated
// `resnetblock_sequential.*` copies of `conv_block.*` and the InstanceNorm running statistics (unused:
// NED's renderer always normalises with per-instance statistics). Only `generator.*` is needed to render;
// the discriminators are optional (training and fine-tuning use them).
// Sizes (ngf, downsamplings, ResNet blocks; D's ndf, layers, scales) are read from the tensor shapes, so
// renderers smaller than NED's load too. Made by scripts/convert_ned_renderer.py or `ned train-renderer`.
// Metadata "crop_size": the face size (S of the SxS crops) the renderer was trained at, written by
// `ned train-renderer`; a file without it (NED's converted renderers, ned's before issue 24) is taken as 256.
#include <torch/torch.h>

#include <map>
#include <optional>
#include <string>

#include "ned/core/safetensors.hpp"
#include "ned/renderer/networks.hpp"

namespace ned::renderer {

constexpr const char* kCheckpointFormat = "ned.renderer";
constexpr int kCheckpointVersion = 1;
/// The crop size of a checkpoint without "crop_size" metadata: NED's renderers are trained on 256x256 faces.
constexpr int kDefaultTrainedCropSize = 256;

/// The crop size a renderer was trained at: metadata "crop_size", else kDefaultTrainedCropSize. A value that is
/// not a positive integer is a ModelError naming `path`.
int trained_crop_size(const std::map<std::string, std::string>& metadata, const std::string& path);

/// Refuses (ModelError, exit 3; one line) a renderer trained at `trained` x `trained` faces for a work folder at
/// `crop_size` unless `allow_mismatch` (NED's generator is fully convolutional and runs, but the quality of a
/// renderer on faces of another size is untested); with it, a warning.
void check_trained_crop_size(const std::string& path, int trained, int crop_size, bool allow_mismatch);

/// Generator sizes from the tensors under `prefix` (ModelError naming the file when they are inconsistent).
GeneratorConfig generator_config_from(const st::File& file, const std::string& prefix = "generator.");
/// Discriminator sizes from the tensors under `prefix`; std::nullopt when the file has none.
std::optional<DiscriminatorConfig> discriminator_config_from(const st::File& file, const std::string& prefix);

/// The networks of a renderer checkpoint (discriminators empty (nullptr) when absent or not requested).
struct RendererNets {
    Generator generator{nullptr};
    MultiscaleDiscriminator discriminator{nullptr};
    MultiscaleDiscriminator mouth_discriminator{nullptr};
    std::map<std::string, std::string> metadata;
};

/// Read a checkpoint: missing file, wrong format, newer version, missing or misshapen tensors -> ModelError
/// (exit code 3) with a hint naming the converter. Networks are moved to `device`; the generator stays in
/// float32 (cast it for bf16/fp16 inference).
RendererNets load_renderer(const std::string& path, const torch::Device& device = torch::kCPU,
                           bool with_discriminators = false);
/// The networks stored under generator. / discriminator. / mouth_discriminator. of an already read file
/// (any format; used for the trainer's state file).
RendererNets renderer_from_file(const st::File& file, const torch::Device& device = torch::kCPU,
                                bool with_discriminators = false);
/// Only the generator.
Generator load_generator(const std::string& path, const torch::Device& device = torch::kCPU);

/// Write a checkpoint atomically (float32 tensors on the CPU). `discriminator` / `mouth_discriminator` may be
/// nullptr holders. `metadata` adds keys (format and version are set here). Weights with a NaN or an infinity
/// are refused (ned::Error, require_finite) and nothing is written: a file under the final name is always usable.
void save_renderer(const std::string& path, const Generator& generator, const MultiscaleDiscriminator& discriminator,
                   const MultiscaleDiscriminator& mouth_discriminator,
                   const std::map<std::string, std::string>& metadata = {});

/// Throws ned::Error ("<path>: not written: tensor '<name>' holds a NaN or an infinity ...") unless every value
/// of `file` is finite (st::first_non_finite). Called before a checkpoint or training state is written.
void require_finite(const st::File& file, const std::string& path);

}  // namespace ned::renderer
