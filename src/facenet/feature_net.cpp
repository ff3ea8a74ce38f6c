#include "facenet/feature_net.hpp"

#include <string>

#include "facenet/face_input.hpp"

namespace ned::facenet {

namespace F = torch::nn::functional;

torch::Tensor FeatureNet::DenseBlock4::operator()(const torch::Tensor& x) const {
    const torch::Tensor out1 = torch::relu(first ? conv0_regular(x) : conv0(x));
    const torch::Tensor out2 = conv1(out1);
    const torch::Tensor in3 = torch::relu(out1 + out2);
    const torch::Tensor out3 = conv2(in3);
    const torch::Tensor in4 = torch::relu(out1 + (out2 + out3));
    const torch::Tensor out4 = conv3(in4);
    return torch::relu(out1 + (out2 + (out3 + out4)));
}

FeatureNet::FeatureNet(const std::filesystem::path& src) {
    const WeightMap m = load_tfjs_weights(src);
    auto sep = [&](const std::string& p, int64_t stride) {
        return SepConv{make_depthwise(weight(m, p + "/depthwise_filter", 4, src), stride),
                       make_conv(weight(m, p + "/pointwise_filter", 4, src), {}, 1),
                       chan(weight(m, p + "/bias", 1, src))};
    };
    for (int i = 0; i < 4; ++i) {
        const std::string p = "dense" + std::to_string(i);
        DenseBlock4& d = dense_[i];
        d.first = i == 0;
        if (d.first)
            d.conv0_regular =
                make_conv(weight(m, p + "/conv0/filters", 4, src), weight(m, p + "/conv0/bias", 1, src), 2);
        else
            d.conv0 = sep(p + "/conv0", 2);
        d.conv1 = sep(p + "/conv1", 1);
        d.conv2 = sep(p + "/conv2", 1);
        d.conv3 = sep(p + "/conv3", 1);
    }
    fc_w_ = weight(m, "fc/weights", 2, src).contiguous();
    fc_b_ = weight(m, "fc/bias", 1, src).contiguous();
}

torch::Tensor FeatureNet::operator()(const torch::Tensor& rgb) const {
    torch::Tensor x = normalize_face(rgb);
    for (const auto& d : dense_) x = d(x);
    x = F::avg_pool2d(x, F::AvgPool2dFuncOptions(7).stride(2));  // 'valid'
    x = x.permute({0, 2, 3, 1}).reshape({x.size(0), -1});        // NHWC flatten (1x1 here)
    return torch::matmul(x, fc_w_) + fc_b_;
}

torch::Tensor FeatureNet::on_face(const cv::Mat& bgr, const cv::Rect& r) const {
    return (*this)(centered_face_input(bgr, r, kFeatureNetInput));
}

}  // namespace ned::facenet
