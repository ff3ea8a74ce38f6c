// The matte and the face layer of a composite: see ned/blend/layers.hpp.
#include "ned/blend/layers.hpp"

#include <opencv2/imgproc.hpp>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>

#include "ned/core/error.hpp"
#include "ned/core/fs_util.hpp"
#include "ned/core/image_io.hpp"
#include "ned/core/output_dir.hpp"

namespace fs = std::filesystem;

namespace ned::blend {

namespace {
const char* layer_ext(LayerFormat f) { return f == LayerFormat::Exr ? ".exr" : ".png"; }

std::string lower_extension(const std::string& path) {
    std::string ext = fs::path(path).extension().string();
    for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return ext;
}

/// A folder output that exists: refused when it is a file, or holds frame images `ext` without overwrite.
void check_frame_folder(const std::string& path, const std::string& ext, bool overwrite, const std::string& what) {
    std::error_code ec;
    if (!fs::exists(path, ec)) return;
    if (!fs::is_directory(path, ec)) throw InputError(cat(what, " ", path, ": exists and is not a folder"));
    if (overwrite) return;
    for (const auto& e : fs::directory_iterator(path, ec))
        if (is_frame_file_name(e.path().filename().c_str(), ext.c_str()))
            throw InputError(cat(what, " ", path, " already holds frame images (use -y to overwrite)"));
}

void write_bytes_atomic(const std::string& path, const std::vector<unsigned char>& bytes, const std::string& what) {
    AtomicFile f(path, /*overwrite=*/true);
    {
        std::ofstream os(f.temp_path(), std::ios::binary | std::ios::trunc);
        os.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
        os.close();
        if (!os) throw IoError(cat("cannot write ", what, " ", path, ": ", std::strerror(errno)));
    }
    f.commit();
}

void write_png_atomic(const std::string& path, const cv::Mat& img, const std::string& what) {
    AtomicFile f(path, /*overwrite=*/true);
    write_image(f.temp_path(), img, what, path);
    f.commit();
}
}  // namespace

bool LayerOptions::matte_is_folder() const {
    if (matte.empty()) return false;
    if (matte.back() == '/') return true;
    std::error_code ec;
    return fs::is_directory(matte, ec);
}

void LayerOptions::validate() const {
    if (start_number < 0 || start_number > 1000000000L)
        throw OptionError("LayerOptions::start_number", cat(" must be in [0, 1000000000] (got ", start_number, ")"));
    if (!matte.empty() && !matte_is_folder() && lower_extension(matte) != ".mkv")
        throw OptionError("LayerOptions::matte", cat(" '", matte,
                                                     "': a matte video is FFV1 in .mkv; give a .mkv file, or a "
                                                     "folder (ending in '/') for 16-bit PNGs"));
}

void check_layer_outputs(const LayerOptions& o, bool overwrite) {
    o.validate();
    if (!o.matte.empty()) {
        if (o.matte_is_folder())
            check_frame_folder(o.matte, ".png", overwrite, "--matte folder");
        else
            check_output_path(o.matte, overwrite, "--matte video");
    }
    if (!o.face_layer.empty()) check_frame_folder(o.face_layer, layer_ext(o.layer_format), overwrite, "--face-layer");
}

cv::Mat matte_image(cv::Size size, const PastedRegion& r) {
    cv::Mat m = cv::Mat::zeros(size, CV_16UC1);
    if (r.roi.empty()) return m;
    cv::Mat dst = m(r.roi);
    for (int y = 0; y < r.roi.height; ++y) {
        const float* a = r.alpha.ptr<float>(y);
        uint16_t* d = dst.ptr<uint16_t>(y);
        for (int x = 0; x < r.roi.width; ++x) d[x] = cv::saturate_cast<uint16_t>(blend_alpha(a[x]) * 65535.f);
    }
    return m;
}

namespace {
/// One pixel of the layer: colour c (the frame's scale `scale` = 255 or 65535) with alpha al.
void layer_pixel(const float* c, float al, float scale, LayerFormat f, uint16_t* png, float* exr) {
    if (f == LayerFormat::Png16) {
        for (int k = 0; k < 3; ++k) png[k] = cv::saturate_cast<uint16_t>(c[k] * (65535.f / scale));
        png[3] = cv::saturate_cast<uint16_t>(al * 65535.f);
    } else {
        for (int k = 0; k < 3; ++k) exr[k] = c[k] / scale * al;
        exr[3] = al;
    }
}
}  // namespace

cv::Mat layer_image(cv::Size size, const PastedRegion& r, LayerFormat f) {
    cv::Mat out = cv::Mat::zeros(size, f == LayerFormat::Png16 ? CV_16UC4 : CV_32FC4);
    if (r.roi.empty()) return out;
    cv::Mat colour;
    r.colour.convertTo(colour, CV_32F);
    const float scale = r.colour.depth() == CV_16U ? 65535.f : 255.f;
    cv::Mat dst = out(r.roi);
    for (int y = 0; y < r.roi.height; ++y) {
        const float* a = r.alpha.ptr<float>(y);
        const float* c = colour.ptr<float>(y);
        for (int x = 0; x < r.roi.width; ++x) {
            const float al = blend_alpha(a[x]);
            if (!(al > 0.f)) continue;  // fully transparent: colour 0 too
            uint16_t* png = f == LayerFormat::Png16 ? dst.ptr<uint16_t>(y) + 4 * x : nullptr;
            float* exr = f == LayerFormat::Exr ? dst.ptr<float>(y) + 4 * x : nullptr;
            layer_pixel(c + 3 * x, al, scale, f, png, exr);
        }
    }
    return out;
}

struct LayerWriter::Impl {
    LayerOptions o;
    std::optional<OutputDir> matte_dir, layer_dir;
    std::optional<AtomicFile> matte_file;
    std::unique_ptr<io::VideoWriter> matte_video;
};

LayerWriter::LayerWriter(const LayerOptions& o, const io::VideoInfo& source, bool overwrite, int threads)
    : impl_(std::make_unique<Impl>()) {
    check_layer_outputs(o, overwrite);
    impl_->o = o;
    if (!o.matte.empty() && o.matte_is_folder()) impl_->matte_dir.emplace(o.matte, overwrite, ".png", "--matte folder");
    if (!o.face_layer.empty())
        impl_->layer_dir.emplace(o.face_layer, overwrite, layer_ext(o.layer_format), "--face-layer");
    if (!o.matte.empty() && !o.matte_is_folder()) {
        impl_->matte_file.emplace(o.matte, overwrite);
        io::VideoWriterOptions w;
        w.copy_audio = false;
        w.threads = threads;
        w.name = o.matte;
        w.codec = io::Codec::Ffv1;
        w.pix_fmt = "gray16le";
        w.keep_color = false;
        impl_->matte_video = std::make_unique<io::VideoWriter>(impl_->matte_file->temp_path(), source, w);
    }
}

LayerWriter::~LayerWriter() = default;

cv::Mat LayerWriter::write_frame(long index, cv::Size size, const PastedRegion& region) const {
    const LayerOptions& o = impl_->o;
    cv::Mat matte;
    if (!o.matte.empty()) matte = matte_image(size, region);
    if (impl_->matte_dir)
        write_png_atomic((fs::path(impl_->matte_dir->path()) / frame_name(index + o.start_number, ".png")).string(),
                         matte, "matte image");
    if (impl_->layer_dir) {
        const std::string path =
            (fs::path(impl_->layer_dir->path()) / frame_name(index + o.start_number, layer_ext(o.layer_format)))
                .string();
        const cv::Mat layer = layer_image(size, region, o.layer_format);
        if (o.layer_format == LayerFormat::Png16)
            write_png_atomic(path, layer, "face layer image");
        else
            write_bytes_atomic(path, encode_exr_half(layer), "face layer image");
    }
    return impl_->matte_video ? matte : cv::Mat();
}

void LayerWriter::write_matte_video(const io::Frame& source, const cv::Mat& matte) {
    if (!impl_->matte_video) return;
    io::Frame f;
    f.bgr = matte;
    f.index = source.index;
    f.pts = source.pts;
    f.time_s = source.time_s;
    impl_->matte_video->write(f);
}

void LayerWriter::commit() {
    if (impl_->matte_video) {
        impl_->matte_video->finish();
        impl_->matte_video.reset();
        impl_->matte_file->commit();
    }
    if (impl_->matte_dir) impl_->matte_dir->commit();
    if (impl_->layer_dir) impl_->layer_dir->commit();
}

}  // namespace ned::blend
