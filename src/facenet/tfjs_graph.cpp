// A small interpreter for TF.js graph models (tfjs-converter's model.json), enough for plain conv nets such as
// oarriaga's FER2013 mini-Xception shipped by @vladmandic/human. TF works in NHWC; 4-D tensors are kept NCHW
// here, so channel-wise constants are broadcast as [1, C, 1, 1] and reduction axes are mapped.
#include <cmath>
#include <cstdint>
#include <fstream>
#include <functional>
#include <limits>
#include <unordered_map>

#include <nlohmann/json.hpp>

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
        if (pos == std::string::npos) break;  // '=' padding
        val = ((val << 6) | uint32_t(pos)) & 0xfffffu;  // at most 12 bits are pending
        bits += 6;
        if (bits >= 0) {
            out.push_back(char((val >> bits) & 0xff));
            bits -= 8;
        }
    }
    return out;
}

struct Node {
    std::string name, op;
    std::vector<std::string> inputs;
    nlohmann::json attr;
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

/// TF 'SAME' padding amounts (before, after) for one spatial dimension.
std::pair<int64_t, int64_t> same_pad(int64_t in, int64_t k, int64_t stride) {
    const int64_t out = (in + stride - 1) / stride;
    const int64_t total = std::max<int64_t>((out - 1) * stride + k - in, 0);
    return {total / 2, total - total / 2};
}

torch::Tensor pad_spatial(const torch::Tensor& x, int64_t kh, int64_t kw, int64_t sh, int64_t sw, double value) {
    const auto [t, b] = same_pad(x.size(2), kh, sh);
    const auto [l, r] = same_pad(x.size(3), kw, sw);
    if (t == 0 && b == 0 && l == 0 && r == 0) return x;
    return F::pad(x, F::PadFuncOptions({l, r, t, b}).value(value));
}

/// Broadcast a TF constant (NHWC semantics) against an NCHW 4-D tensor.
torch::Tensor to_nchw_operand(const torch::Tensor& c, const torch::Tensor& other) {
    // [C] or [1, 1, C] (per-channel) -> [1, C, 1, 1]
    if (other.dim() == 4 && c.dim() >= 1 && c.dim() <= 3 && c.numel() > 1 && c.numel() == c.size(-1))
        return c.reshape({1, -1, 1, 1});
    if (other.dim() == 4 && c.dim() == 4) return c.permute({0, 3, 1, 2});  // a 4-D constant is NHWC
    return c;
}

}  // namespace

struct TfjsGraph::Impl {
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
    static std::string base(const std::string& in) {  // "name:0" -> "name"; "^ctrl" inputs are skipped earlier
        const auto colon = in.rfind(':');
        return colon == std::string::npos ? in : in.substr(0, colon);
    }

    torch::Tensor eval(const std::string& name, const torch::Tensor& input,
                       std::unordered_map<std::string, torch::Tensor>& memo) const {
        if (auto it = memo.find(name); it != memo.end()) return it->second;
        const Node& n = node(name);
        auto in = [&](size_t i) {
            if (i >= n.inputs.size())
                throw ModelError(cat(source.string(), ": node '", n.name, "' (", n.op, ") lacks input ", i));
            return eval(base(n.inputs[i]), input, memo);
        };
        torch::Tensor out;
        const std::string& op = n.op;
        if (op == "Placeholder") {
            out = input;
        } else if (op == "Const") {
            out = weight(weights, n.name, -1, source);
        } else if (op == "Identity") {
            out = in(0);
        } else if (op == "Conv2D" || op == "_FusedConv2D" || op == "DepthwiseConv2dNative" ||
                   op == "FusedDepthwiseConv2dNative") {
            const bool depthwise = op.find("Depthwise") != std::string::npos;
            const torch::Tensor x = in(0);
            const std::string& fname = base(n.inputs.at(1));
            const torch::Tensor& w = depthwise ? dw_w.at(fname) : conv_w.at(fname);
            auto strides = attr_ints(n, "strides");
            if (strides.size() != 4) strides = {1, 1, 1, 1};
            for (auto d : attr_ints(n, "dilations"))
                if (d != 1) throw ModelError(cat(source.string(), ": node '", n.name, "': dilated convolution"));
            const std::string padding = attr_s(n, "padding", "VALID");
            if (padding != "SAME" && padding != "VALID")
                throw ModelError(cat(source.string(), ": node '", n.name, "': padding ", padding, " not supported"));
            const torch::Tensor xp = padding == "SAME" ? pad_spatial(x, w.size(2), w.size(3), strides[1], strides[2], 0) : x;
            out = F::conv2d(xp, w,
                            F::Conv2dFuncOptions().stride({strides[1], strides[2]}).groups(depthwise ? x.size(1) : 1));
            size_t arg = 2;
            for (const auto& f : attr_strs(n, "fused_ops")) {
                if (f == "BiasAdd") out = out + in(arg++).reshape({1, -1, 1, 1});
                else if (f == "Relu") out = torch::relu(out);
                else if (f == "Relu6") out = torch::clamp(out, 0, 6);
                else if (f == "Prelu") {
                    const torch::Tensor alpha = to_nchw_operand(in(arg++), out);
                    out = torch::where(out < 0, out * alpha, out);
                }
                else throw ModelError(cat(source.string(), ": node '", n.name, "': fused op ", f, " not supported"));
            }
        } else if (op == "MaxPool" || op == "AvgPool") {
            const torch::Tensor x = in(0);
            const auto k = attr_ints(n, "ksize"), s = attr_ints(n, "strides");
            const bool same = attr_s(n, "padding", "VALID") == "SAME";
            if (op == "MaxPool") {
                const torch::Tensor xp =
                    same ? pad_spatial(x, k[1], k[2], s[1], s[2], -std::numeric_limits<double>::infinity()) : x;
                out = F::max_pool2d(xp, F::MaxPool2dFuncOptions({k[1], k[2]}).stride({s[1], s[2]}));
            } else {  // TF's SAME average excludes the padding from the count
                const torch::Tensor xp = same ? pad_spatial(x, k[1], k[2], s[1], s[2], 0) : x;
                const torch::Tensor ones = same ? pad_spatial(torch::ones_like(x.narrow(1, 0, 1)), k[1], k[2], s[1], s[2], 0)
                                                : torch::ones_like(x.narrow(1, 0, 1));
                const auto o = F::AvgPool2dFuncOptions({k[1], k[2]}).stride({s[1], s[2]});
                out = F::avg_pool2d(xp, o) / F::avg_pool2d(ones, o);
            }
        } else if (op == "AddV2" || op == "Add" || op == "Sub" || op == "Mul" || op == "RealDiv") {
            torch::Tensor a = in(0), b = in(1);
            auto is_const = [&](size_t i) { return node(base(n.inputs[i])).op == "Const"; };
            if (is_const(0)) a = to_nchw_operand(a, b);  // constants carry TF's NHWC semantics
            if (is_const(1)) b = to_nchw_operand(b, a);
            out = op == "Sub" ? a - b : op == "Mul" ? a * b : op == "RealDiv" ? a / b : a + b;
        } else if (op == "Prelu") {  // tfjs: x < 0 ? alpha * x : x
            const torch::Tensor x = in(0);
            const torch::Tensor alpha = to_nchw_operand(in(1), x);
            out = torch::where(x < 0, x * alpha, x);
        } else if (op == "Pad" || op == "PadV2") {
            const torch::Tensor x = in(0);
            const torch::Tensor p = in(1).to(torch::kInt64).contiguous();
            const double value = op == "PadV2" ? in(2).item<double>() : 0.0;
            if (x.dim() != 4 || p.numel() != 8 || p[0][0].item<int64_t>() != 0 || p[0][1].item<int64_t>() != 0)
                throw ModelError(cat(source.string(), ": node '", n.name, "': only 4-D Pad without batch padding"));
            const int64_t* q = p.data_ptr<int64_t>();  // NHWC rows: [N], [H], [W], [C]
            out = F::pad(x, F::PadFuncOptions({q[4], q[5], q[2], q[3], q[6], q[7]}).value(value));
        } else if (op == "Reshape") {
            torch::Tensor x = in(0);
            if (x.dim() == 4) x = x.permute({0, 2, 3, 1});  // TF's memory order
            const torch::Tensor shape = in(1).to(torch::kInt64).contiguous();
            std::vector<int64_t> dims(shape.data_ptr<int64_t>(), shape.data_ptr<int64_t>() + shape.numel());
            out = x.reshape(dims);
            if (out.dim() == 4) out = out.permute({0, 3, 1, 2});
        } else if (op == "Relu") {
            out = torch::relu(in(0));
        } else if (op == "Relu6") {
            out = torch::clamp(in(0), 0, 6);
        } else if (op == "Sigmoid") {
            out = torch::sigmoid(in(0));
        } else if (op == "Softmax") {
            out = torch::softmax(in(0), -1);
        } else if (op == "Mean") {
            const torch::Tensor x = in(0);
            const torch::Tensor axes = in(1).to(torch::kInt64).flatten();
            std::vector<int64_t> dims;
            static const int64_t nhwc_to_nchw[4] = {0, 2, 3, 1};
            for (int64_t i = 0; i < axes.numel(); ++i) {
                int64_t a = axes[i].item<int64_t>();
                if (a < 0) a += x.dim();
                dims.push_back(x.dim() == 4 ? nhwc_to_nchw[a] : a);
            }
            const bool keep = n.attr.contains("keep_dims") && n.attr["keep_dims"].value("b", false);
            if (keep && x.dim() == 4)
                throw ModelError(cat(source.string(), ": node '", n.name, "': Mean with keep_dims on 4-D"));
            out = x.mean(dims, keep);
        } else {
            throw ModelError(cat(source.string(), ": node '", n.name, "': TF op '", op,
                                 "' is not supported by ned's TF.js graph interpreter"));
        }
        memo.emplace(name, out);
        return out;
    }
};

TfjsGraph::TfjsGraph(const fs::path& model_json) : impl_(std::make_unique<Impl>()) {
    Impl& g = *impl_;
    g.source = model_json;
    std::ifstream in(model_json);
    if (!in) throw ModelError(cat(model_json.string(), ": cannot read the TF.js graph model"));
    nlohmann::json j;
    try {
        in >> j;
        if (j.value("format", "") != "graph-model")
            throw ModelError(cat(model_json.string(), ": format '", j.value("format", ""),
                                 "', expected a TF.js graph-model"));
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
            if (n.op == "Placeholder") {
                if (!g.placeholder.empty())
                    throw ModelError(cat(model_json.string(), ": more than one input (Placeholder)"));
                g.placeholder = n.name;
            }
            g.last = n.name;
            g.nodes.emplace(n.name, std::move(n));
        }
    } catch (const nlohmann::json::exception& e) {
        throw ModelError(cat(model_json.string(), ": malformed TF.js graph model: ", e.what()));
    }
    g.weights = load_tfjs_weights(model_json);
    for (const auto& [name, n] : g.nodes) {  // convert filters once
        if (n.inputs.size() < 2) continue;
        const std::string f = Impl::base(n.inputs[1]);
        if (n.op == "Conv2D" || n.op == "_FusedConv2D")
            g.conv_w[f] = weight(g.weights, f, 4, model_json).permute({3, 2, 0, 1}).contiguous();
        else if (n.op == "DepthwiseConv2dNative" || n.op == "FusedDepthwiseConv2dNative") {
            const torch::Tensor& w = weight(g.weights, f, 4, model_json);
            g.dw_w[f] = w.permute({2, 3, 0, 1}).reshape({w.size(2) * w.size(3), 1, w.size(0), w.size(1)}).contiguous();
        }
    }
}
TfjsGraph::~TfjsGraph() = default;
TfjsGraph::TfjsGraph(TfjsGraph&&) noexcept = default;
TfjsGraph& TfjsGraph::operator=(TfjsGraph&&) noexcept = default;

torch::Tensor TfjsGraph::run(const torch::Tensor& input, const std::string& output) const {
    torch::NoGradGuard no_grad;
    std::unordered_map<std::string, torch::Tensor> memo;
    return impl_->eval(output.empty() ? impl_->last : output, input, memo);
}

std::vector<torch::Tensor> TfjsGraph::run(const torch::Tensor& input, const std::vector<std::string>& outputs) const {
    torch::NoGradGuard no_grad;
    std::unordered_map<std::string, torch::Tensor> memo;
    std::vector<torch::Tensor> out;
    for (const auto& o : outputs) out.push_back(impl_->eval(o, input, memo));
    return out;
}

}  // namespace ned::facenet
