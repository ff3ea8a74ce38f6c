#pragma once
// A small interpreter for TF.js graph models (tfjs-converter's model.json), enough for the plain conv nets of
// @vladmandic/human that ned ships (BlazeFace, FaceMesh, FER2013).
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace ned::facenet {

/// A TF.js graph model (model.json: GraphDef-like `modelTopology.node` list + weights), run by a small
/// interpreter in NCHW. Supported ops: Placeholder, Const, Identity, Conv2D, _FusedConv2D (BiasAdd, Relu,
/// Relu6, Prelu), DepthwiseConv2dNative, FusedDepthwiseConv2dNative, MaxPool, AvgPool (SAME/VALID), AddV2/Add,
/// Sub, Mul, RealDiv, Relu, Relu6, Prelu, Sigmoid, Pad/PadV2 (4-D), Reshape (in TF's NHWC memory order), Mean
/// (spatial), Softmax; others are a ModelError naming the op and node when run. 4-D results are returned NCHW.
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
