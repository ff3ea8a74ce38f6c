// A small interpreter for TF.js graph models (tfjs-converter's model.json), enough for plain conv nets such as
// oarriaga's FER2013 mini-Xception shipped by @vladmandic/human. TF works in NHWC; 4-D tensors are kept NCHW
// here, so channel-wise constants are broadcast as [1, C, 1, 1] and reduction axes are mapped. Each TF op is one
// handler in a table (op_table); a node's handler is looked up once, when the graph is loaded.
#include "ned/facenet/tfjs_graph.hpp"

#include <cstdint>
#include <fstream>
#include <limits>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "facenet/tf_ops.hpp"
#include "ned/core/error.hpp"
#include "ned/facenet/tfjs_weights.hpp"

namespace ned::facenet {

namespace fs = std::filesystem;
namespace F = torch::nn::functional;

namespace {

std::string b64decode(const std::string& in) {
    static const std::string chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    // Unsigned and masked: only the low bits not yet output matter (a signed int shifted left over a long
    // input overflowed: UBSan, found by the sanitizer run of issue 10).
    uint32_t val = 0;
    int bits = -8;
    for (char c : in) {
        const auto pos = chars.find(c);
        if (pos == std::string::npos) break;            // '=' padding
        val = ((val << 6) | uint32_t(pos)) & 0xfffffu;  // at most 12 bits are pending
        bits += 6;
        if (bits >= 0) {
            out.push_back(char((val >> bits) & 0xff));
            bits -= 8;
        }
    }
    return out;
}

class Run;
struct Node;
/// One TF op: the node's value, its inputs read through the run.
using OpFn = torch::Tensor (*)(Run&, const Node&);

struct Node {
    std::string name, op;
    std::vector<std::string> inputs;
    nlohmann::json attr;
    OpFn fn = nullptr;  ///< op's handler; null: not supported (a ModelError when the node is evaluated)
};

std::string attr_s(const Node& n, const char* key, const std::string& def = "") {
    if (!n.attr.contains(key) || !n.attr[key].contains("s")) return def;
    return b64decode(n.attr[key]["s"].get<std::string>());
}
std::vector<int64_t> attr_ints(const Node& n, const char* key) {
    std::vector<int64_t> v;
    if (!n.attr.contains(key) || !n.attr[key].contains("list") || !n.attr[key]["list"].contains("i")) return v;
    for (const auto& x : n.attr[key]["list"]["i"]) v.push_back(std::stoll(x.get<std::string>()));
    return v;
}
std::vector<std::string> attr_strs(const Node& n, const char* key) {
    std::vector<std::string> v;
    if (!n.attr.contains(key) || !n.attr[key].contains("list") || !n.attr[key]["list"].contains("s")) return v;
    for (const auto& x : n.attr[key]["list"]["s"]) v.push_back(b64decode(x.get<std::string>()));
    return v;
}

/// "name:0" -> "name"; "^ctrl" inputs are skipped when the graph is read.
std::string base(const std::string& in) {
    const auto colon = in.rfind(':');
    return colon == std::string::npos ? in : in.substr(0, colon);
}

/// The loaded graph: nodes by name, weights, and the conv filters converted once to torch's layout.
struct Graph {
    fs::path source;
    std::unordered_map<std::string, Node> nodes;
    std::string last, placeholder;
    WeightMap weights;
    std::unordered_map<std::string, torch::Tensor> conv_w, dw_w;  // converted filters, by node name

    const Node& node(const std::string& name) const {
        auto it = nodes.find(name);
        if (it == nodes.end()) throw ModelError(cat(source.string(), ": graph has no node '", name, "'"));
        return it->second;
    }
    [[noreturn]] void fail(const Node& n, const std::string& what) const {
        throw ModelError(cat(source.string(), ": node '", n.name, "': ", what));
    }
};

/// One evaluation: the Placeholder's value and every node evaluated so far.
class Run {
public:
    Run(const Graph& graph, const torch::Tensor& input) : graph(graph), input(input) {}
    const Graph& graph;
    const torch::Tensor& input;

    torch::Tensor value(const std::string& name) {
        if (auto it = memo_.find(name); it != memo_.end()) return it->second;
        const Node& n = graph.node(name);
        if (!n.fn) graph.fail(n, cat("TF op '", n.op, "' is not supported by ned's TF.js graph interpreter"));
        torch::Tensor out = n.fn(*this, n);
        memo_.emplace(name, out);
        return out;
    }
    /// Input i of `n`, evaluated.
    torch::Tensor in(const Node& n, size_t i) {
        if (i >= n.inputs.size())
            throw ModelError(cat(graph.source.string(), ": node '", n.name, "' (", n.op, ") lacks input ", i));
        return value(base(n.inputs[i]));
    }
    bool is_const(const Node& n, size_t i) const { return graph.node(base(n.inputs[i])).op == "Const"; }

private:
    std::unordered_map<std::string, torch::Tensor> memo_;
};

/// Broadcast a TF constant (NHWC semantics) against an NCHW 4-D tensor.
torch::Tensor to_nchw_operand(const torch::Tensor& c, const torch::Tensor& other) {
    // [C] or [1, 1, C] (per-channel) -> [1, C, 1, 1]
    if (other.dim() == 4 && c.dim() >= 1 && c.dim() <= 3 && c.numel() > 1 && c.numel() == c.size(-1))
        return c.reshape({1, -1, 1, 1});
    if (other.dim() == 4 && c.dim() == 4) return c.permute({0, 3, 1, 2});  // a 4-D constant is NHWC
    return c;
}

torch::Tensor tf_prelu(const torch::Tensor& x, const torch::Tensor& alpha) {  // tfjs: x < 0 ? alpha * x : x
    return torch::where(x < 0, x * to_nchw_operand(alpha, x), x);
}

// ---- op handlers ------------------------------------------------------------------------------------------------

torch::Tensor op_placeholder(Run& r, const Node&) { return r.input; }
torch::Tensor op_const(Run& r, const Node& n) { return weight(r.graph.weights, n.name, -1, r.graph.source); }
torch::Tensor op_identity(Run& r, const Node& n) { return r.in(n, 0); }
torch::Tensor op_relu(Run& r, const Node& n) { return torch::relu(r.in(n, 0)); }
torch::Tensor op_relu6(Run& r, const Node& n) { return torch::clamp(r.in(n, 0), 0, 6); }
torch::Tensor op_sigmoid(Run& r, const Node& n) { return torch::sigmoid(r.in(n, 0)); }
torch::Tensor op_softmax(Run& r, const Node& n) { return torch::softmax(r.in(n, 0), -1); }
torch::Tensor op_prelu(Run& r, const Node& n) {
    const torch::Tensor x = r.in(n, 0);
    return tf_prelu(x, r.in(n, 1));
}

/// Conv2D, _FusedConv2D and their depthwise forms; the fused ops (BiasAdd, Relu, Relu6, Prelu) in their order.
torch::Tensor op_conv(Run& r, const Node& n) {
    const bool depthwise = n.op.find("Depthwise") != std::string::npos;
    const torch::Tensor x = r.in(n, 0);
    const std::string& fname = base(n.inputs.at(1));
    const torch::Tensor& w = depthwise ? r.graph.dw_w.at(fname) : r.graph.conv_w.at(fname);
    auto strides = attr_ints(n, "strides");
    if (strides.size() != 4) strides = {1, 1, 1, 1};
    for (auto d : attr_ints(n, "dilations"))
        if (d != 1) r.graph.fail(n, "dilated convolution");
    const std::string padding = attr_s(n, "padding", "VALID");
    if (padding != "SAME" && padding != "VALID") r.graph.fail(n, cat("padding ", padding, " not supported"));
    const torch::Tensor xp = padding == "SAME" ? pad_same(x, w.size(2), w.size(3), strides[1], strides[2]) : x;
    torch::Tensor out =
        F::conv2d(xp, w, F::Conv2dFuncOptions().stride({strides[1], strides[2]}).groups(depthwise ? x.size(1) : 1));
    size_t arg = 2;
    for (const auto& f : attr_strs(n, "fused_ops")) {
        if (f == "BiasAdd")
            out = out + r.in(n, arg++).reshape({1, -1, 1, 1});
        else if (f == "Relu")
            out = torch::relu(out);
        else if (f == "Relu6")
            out = torch::clamp(out, 0, 6);
        else if (f == "Prelu")
            out = tf_prelu(out, r.in(n, arg++));
        else
            r.graph.fail(n, cat("fused op ", f, " not supported"));
    }
    return out;
}

torch::Tensor op_max_pool(Run& r, const Node& n) {
    const torch::Tensor x = r.in(n, 0);
    const auto k = attr_ints(n, "ksize"), s = attr_ints(n, "strides");
    const bool same = attr_s(n, "padding", "VALID") == "SAME";
    const torch::Tensor xp = same ? pad_same(x, k[1], k[2], s[1], s[2], -std::numeric_limits<double>::infinity()) : x;
    return F::max_pool2d(xp, F::MaxPool2dFuncOptions({k[1], k[2]}).stride({s[1], s[2]}));
}

/// TF's SAME average excludes the padding from the count.
torch::Tensor op_avg_pool(Run& r, const Node& n) {
    const torch::Tensor x = r.in(n, 0);
    const auto k = attr_ints(n, "ksize"), s = attr_ints(n, "strides");
    const bool same = attr_s(n, "padding", "VALID") == "SAME";
    const torch::Tensor xp = same ? pad_same(x, k[1], k[2], s[1], s[2]) : x;
    const torch::Tensor ones = same ? pad_same(torch::ones_like(x.narrow(1, 0, 1)), k[1], k[2], s[1], s[2])
                                    : torch::ones_like(x.narrow(1, 0, 1));
    const auto o = F::AvgPool2dFuncOptions({k[1], k[2]}).stride({s[1], s[2]});
    return F::avg_pool2d(xp, o) / F::avg_pool2d(ones, o);
}

/// AddV2, Add, Sub, Mul, RealDiv; constants carry TF's NHWC semantics.
torch::Tensor op_binary(Run& r, const Node& n) {
    torch::Tensor a = r.in(n, 0), b = r.in(n, 1);
    if (r.is_const(n, 0)) a = to_nchw_operand(a, b);
    if (r.is_const(n, 1)) b = to_nchw_operand(b, a);
    const std::string& op = n.op;
    return op == "Sub" ? a - b : op == "Mul" ? a * b : op == "RealDiv" ? a / b : a + b;
}

/// Pad, PadV2: 4-D, no padding of the batch.
torch::Tensor op_pad(Run& r, const Node& n) {
    const torch::Tensor x = r.in(n, 0);
    const torch::Tensor p = r.in(n, 1).to(torch::kInt64).contiguous();
    const double value = n.op == "PadV2" ? r.in(n, 2).item<double>() : 0.0;
    if (x.dim() != 4 || p.numel() != 8 || p[0][0].item<int64_t>() != 0 || p[0][1].item<int64_t>() != 0)
        r.graph.fail(n, "only 4-D Pad without batch padding");
    const int64_t* q = p.data_ptr<int64_t>();  // NHWC rows: [N], [H], [W], [C]
    return F::pad(x, F::PadFuncOptions({q[4], q[5], q[2], q[3], q[6], q[7]}).value(value));
}

/// Reshape in TF's NHWC memory order.
torch::Tensor op_reshape(Run& r, const Node& n) {
    torch::Tensor x = r.in(n, 0);
    if (x.dim() == 4) x = x.permute({0, 2, 3, 1});
    const torch::Tensor shape = r.in(n, 1).to(torch::kInt64).contiguous();
    std::vector<int64_t> dims(shape.data_ptr<int64_t>(), shape.data_ptr<int64_t>() + shape.numel());
    torch::Tensor out = x.reshape(dims);
    if (out.dim() == 4) out = out.permute({0, 3, 1, 2});
    return out;
}

/// Mean over TF axes (mapped to NCHW for 4-D inputs).
torch::Tensor op_mean(Run& r, const Node& n) {
    const torch::Tensor x = r.in(n, 0);
    const torch::Tensor axes = r.in(n, 1).to(torch::kInt64).flatten();
    std::vector<int64_t> dims;
    static const int64_t nhwc_to_nchw[4] = {0, 2, 3, 1};
    for (int64_t i = 0; i < axes.numel(); ++i) {
        int64_t a = axes[i].item<int64_t>();
        if (a < 0) a += x.dim();
        dims.push_back(x.dim() == 4 ? nhwc_to_nchw[a] : a);
    }
    const bool keep = n.attr.contains("keep_dims") && n.attr["keep_dims"].value("b", false);
    if (keep && x.dim() == 4) r.graph.fail(n, "Mean with keep_dims on 4-D");
    return x.mean(dims, keep);
}

/// The supported ops (tfjs_graph.hpp lists them).
OpFn op_handler(const std::string& op) {
    static const std::unordered_map<std::string, OpFn> table = {
        {"Placeholder", op_placeholder},
        {"Const", op_const},
        {"Identity", op_identity},
        {"Conv2D", op_conv},
        {"_FusedConv2D", op_conv},
        {"DepthwiseConv2dNative", op_conv},
        {"FusedDepthwiseConv2dNative", op_conv},
        {"MaxPool", op_max_pool},
        {"AvgPool", op_avg_pool},
        {"AddV2", op_binary},
        {"Add", op_binary},
        {"Sub", op_binary},
        {"Mul", op_binary},
        {"RealDiv", op_binary},
        {"Prelu", op_prelu},
        {"Pad", op_pad},
        {"PadV2", op_pad},
        {"Reshape", op_reshape},
        {"Relu", op_relu},
        {"Relu6", op_relu6},
        {"Sigmoid", op_sigmoid},
        {"Softmax", op_softmax},
        {"Mean", op_mean},
    };
    const auto it = table.find(op);
    return it == table.end() ? nullptr : it->second;
}

/// The nodes of model.json's modelTopology, with their handlers.
void read_nodes(const nlohmann::json& j, Graph& g) {
    for (const auto& jn : j.at("modelTopology").at("node")) {
        Node n;
        n.name = jn.at("name").get<std::string>();
        n.op = jn.at("op").get<std::string>();
        if (jn.contains("input"))
            for (const auto& i : jn["input"]) {
                const auto s = i.get<std::string>();
                if (!s.empty() && s[0] != '^') n.inputs.push_back(s);
            }
        if (jn.contains("attr")) n.attr = jn["attr"];
        n.fn = op_handler(n.op);
        if (n.op == "Placeholder") {
            if (!g.placeholder.empty()) throw ModelError(cat(g.source.string(), ": more than one input (Placeholder)"));
            g.placeholder = n.name;
        }
        g.last = n.name;
        g.nodes.emplace(n.name, std::move(n));
    }
}

}  // namespace

struct TfjsGraph::Impl : Graph {};

TfjsGraph::TfjsGraph(const fs::path& model_json) : impl_(std::make_unique<Impl>()) {
    Graph& g = *impl_;
    g.source = model_json;
    std::ifstream in(model_json);
    if (!in) throw ModelError(cat(model_json.string(), ": cannot read the TF.js graph model"));
    try {
        nlohmann::json j;
        in >> j;
        if (j.value("format", "") != "graph-model")
            throw ModelError(
                cat(model_json.string(), ": format '", j.value("format", ""), "', expected a TF.js graph-model"));
        read_nodes(j, g);
    } catch (const nlohmann::json::exception& e) {
        throw ModelError(cat(model_json.string(), ": malformed TF.js graph model: ", e.what()));
    }
    g.weights = load_tfjs_weights(model_json);
    for (const auto& [name, n] : g.nodes) {  // convert filters once
        if (n.inputs.size() < 2) continue;
        const std::string f = base(n.inputs[1]);
        if (n.op == "Conv2D" || n.op == "_FusedConv2D")
            g.conv_w[f] = conv_filter(weight(g.weights, f, 4, model_json));
        else if (n.op == "DepthwiseConv2dNative" || n.op == "FusedDepthwiseConv2dNative")
            g.dw_w[f] = depthwise_filter(weight(g.weights, f, 4, model_json));
    }
}
TfjsGraph::~TfjsGraph() = default;
TfjsGraph::TfjsGraph(TfjsGraph&&) noexcept = default;
TfjsGraph& TfjsGraph::operator=(TfjsGraph&&) noexcept = default;

torch::Tensor TfjsGraph::run(const torch::Tensor& input, const std::string& output) const {
    torch::NoGradGuard no_grad;
    Run r(*impl_, input);
    return r.value(output.empty() ? impl_->last : output);
}

std::vector<torch::Tensor> TfjsGraph::run(const torch::Tensor& input, const std::vector<std::string>& outputs) const {
    torch::NoGradGuard no_grad;
    Run r(*impl_, input);
    std::vector<torch::Tensor> out;
    for (const auto& o : outputs) out.push_back(r.value(o));
    return out;
}

}  // namespace ned::facenet
