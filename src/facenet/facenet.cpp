#include "ned/facenet/facenet.hpp"

#include <cstdlib>

#include "ned/core/error.hpp"

namespace ned::facenet {

namespace fs = std::filesystem;

fs::path open_models_dir() {
    std::vector<fs::path> tried;
    if (const char* env = std::getenv("NED_OPEN_MODELS"); env && *env) {
        fs::path p(env);
        if (fs::is_directory(p)) return p;
        throw ModelError(cat("NED_OPEN_MODELS=", p.string(), " is not a folder (expected the open face models, ",
                             "share/ned/open of an installed ned)"));
    }
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        const fs::path p = exe.parent_path().parent_path() / "share" / "ned" / "open";
        if (fs::is_directory(p)) return p;
        tried.push_back(p);
    }
    const fs::path src(NED_SOURCE_OPEN_MODELS);
    if (fs::is_directory(src)) return src;
    tried.push_back(src);
    std::string list;
    for (const auto& t : tried) list += (list.empty() ? "" : ", ") + t.string();
    throw ModelError(cat("open face models not found (tried ", list,
                         "); set NED_OPEN_MODELS to the folder holding face-api's *-weights_manifest.json files"));
}

#define NED_FACENET_PIMPL(Class)                                                 \
    struct Class::Impl {};                                                       \
    Class::~Class() = default;                                                   \
    Class::Class(Class&&) noexcept = default;                                    \
    Class& Class::operator=(Class&&) noexcept = default;                         \
    Class::Class(const fs::path&) { throw ModelError(#Class ": not implemented yet"); }

NED_FACENET_PIMPL(FaceDetector)
NED_FACENET_PIMPL(Landmarks68)
NED_FACENET_PIMPL(FaceDescriptor)
NED_FACENET_PIMPL(ExpressionNet)

std::vector<Detection> FaceDetector::detect(const cv::Mat&, float) const { throw ModelError("not implemented yet"); }
std::vector<cv::Point2f> Landmarks68::predict(const cv::Mat&, const cv::Rect2f&) const {
    throw ModelError("not implemented yet");
}
std::array<float, 128> FaceDescriptor::describe(const cv::Mat&, const cv::Rect2f&) const {
    throw ModelError("not implemented yet");
}
float FaceDescriptor::distance(const std::array<float, 128>& a, const std::array<float, 128>& b) {
    double s = 0;
    for (size_t i = 0; i < a.size(); ++i) s += double(a[i] - b[i]) * double(a[i] - b[i]);
    return float(std::sqrt(s));
}
const std::vector<std::string>& ExpressionNet::names() {
    static const std::vector<std::string> n{"neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised"};
    return n;
}
std::vector<float> ExpressionNet::probabilities(const cv::Mat&, const cv::Rect2f&) const {
    throw ModelError("not implemented yet");
}

}  // namespace ned::facenet
