#include "ned/core/image_io.hpp"

#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <opencv2/imgcodecs.hpp>
#include <vector>

#include "ned/core/error.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace fs = std::filesystem;

namespace ned {

namespace {

constexpr png_uint_32 kMaxSide = 8192;  // face/mask/conditioning crops are far smaller

// State shared with libpng's callbacks. Plain data only: the decoder longjmps over decode_rows().
struct PngState {
    const unsigned char* data;
    size_t size;
    size_t pos;
    char message[256];
};

extern "C" void ned_png_error(png_structp png, png_const_charp msg) {
    auto* s = static_cast<PngState*>(png_get_error_ptr(png));
    std::snprintf(s->message, sizeof s->message, "%s", msg ? msg : "unknown libpng error");
    png_longjmp(png, 1);
}

// Warnings (bad CRC in an ancillary chunk, unknown iCCP profile, ...) do not stop the decoding; OpenCV would
// print them as "libpng warning: ..." -- ned stays quiet.
extern "C" void ned_png_warning(png_structp, png_const_charp) {}

extern "C" void ned_png_read(png_structp png, png_bytep out, png_size_t n) {
    auto* s = static_cast<PngState*>(png_get_io_ptr(png));
    if (n > s->size - s->pos) png_error(png, "file is truncated");
    std::memcpy(out, s->data + s->pos, n);
    s->pos += n;
}

// Decode into `out` (allocated here); false with st.message set on any libpng error. Only trivially
// destructible locals live between setjmp and a possible longjmp (cv::Mat is owned by the caller).
bool decode_rows(PngState& st, bool gray, cv::Mat& out) {
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &st, ned_png_error, ned_png_warning);
    if (!png) {
        std::snprintf(st.message, sizeof st.message, "out of memory");
        return false;
    }
    png_infop info = png_create_info_struct(png);
    png_bytep* volatile rows = nullptr;
    if (!info || setjmp(png_jmpbuf(png))) {
        std::free(rows);
        png_destroy_read_struct(&png, info ? &info : nullptr, nullptr);
        if (!st.message[0]) std::snprintf(st.message, sizeof st.message, "out of memory");
        return false;
    }
    png_set_user_limits(png, kMaxSide, kMaxSide);
    png_set_read_fn(png, &st, ned_png_read);
    png_read_info(png, info);
    const png_byte color = png_get_color_type(png, info);
    const int depth = png_get_bit_depth(png, info);
    // The same transformations as OpenCV's PNG decoder: 8 bits, no alpha, BGR order or gray.
    if (depth == 16) png_set_strip_16(png);
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if ((color & PNG_COLOR_MASK_COLOR) == 0 && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (color & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(png);
    if (color == PNG_COLOR_TYPE_PALETTE && png_get_valid(png, info, PNG_INFO_tRNS)) png_set_strip_alpha(png);
    const bool src_color = (color & PNG_COLOR_MASK_COLOR) || color == PNG_COLOR_TYPE_PALETTE;
    if (gray && src_color) png_set_rgb_to_gray(png, 1, 0.299, 0.587);  // R, G weights as OpenCV passes them
    if (!gray && !src_color) png_set_gray_to_rgb(png);
    if (!gray) png_set_bgr(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    const png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    const int channels = png_get_channels(png, info);
    const size_t rowbytes = png_get_rowbytes(png, info);
    if (channels != (gray ? 1 : 3) || rowbytes != size_t(w) * channels) png_error(png, "unsupported pixel layout");
    out.create(static_cast<int>(h), static_cast<int>(w), gray ? CV_8UC1 : CV_8UC3);
    rows = static_cast<png_bytep*>(std::malloc(sizeof(png_bytep) * h));
    if (!rows) png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < h; ++y) rows[y] = out.ptr<png_byte>(static_cast<int>(y));
    png_read_image(png, rows);
    png_read_end(png, nullptr);
    std::free(rows);
    png_destroy_read_struct(&png, &info, nullptr);
    return true;
}

bool is_png(const unsigned char* data, size_t size) { return size >= 8 && png_sig_cmp(data, 0, 8) == 0; }

void check_flags(int flags) {
    if (flags != cv::IMREAD_COLOR && flags != cv::IMREAD_GRAYSCALE)
        throw Error(cat("read_image: unsupported flags ", flags, " (IMREAD_COLOR or IMREAD_GRAYSCALE)"));
}

}  // namespace

cv::Mat decode_png(const unsigned char* data, size_t size, int flags, const std::string& what) {
    check_flags(flags);
    if (!is_png(data, size)) throw InputError(cat(what, ": not a PNG file"));
    PngState st{data, size, 0, {0}};
    cv::Mat out;
    if (!decode_rows(st, flags == cv::IMREAD_GRAYSCALE, out))
        throw InputError(cat(what, ": corrupt PNG (", st.message, ")"));
    return out;
}

cv::Mat read_image(const std::string& path, int flags, const std::string& what) {
    check_flags(flags);
    std::error_code ec;
    if (!fs::exists(path, ec)) throw InputError(cat(what, " ", path, ": no such file"));
    if (!fs::is_regular_file(path, ec)) throw InputError(cat(what, " ", path, ": not a regular file"));
    std::ifstream is(path, std::ios::binary);
    if (!is) throw InputError(cat(what, " ", path, ": cannot open"));
    std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(is)), std::istreambuf_iterator<char>());
    if (is.bad()) throw InputError(cat(what, " ", path, ": read error"));
    if (is_png(bytes.data(), bytes.size())) return decode_png(bytes.data(), bytes.size(), flags, cat(what, " ", path));
    if (fs::path(path).extension() == ".png" || fs::path(path).extension() == ".PNG")
        throw InputError(cat(what, " ", path, ": not a PNG file (", bytes.size(), " bytes, no PNG signature)"));
    cv::Mat m = cv::imdecode(bytes, flags);
    if (m.empty()) throw InputError(cat(what, " ", path, ": not a readable image"));
    return m;
}

void write_image(const std::string& path, const cv::Mat& img, const std::string& what, const std::string& shown) {
    const std::string name = shown.empty() ? path : shown;
    std::string ext = fs::path(path).extension().string();
    for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (ext != ".png" && ext != ".jpg" && ext != ".jpeg")
        throw InputError(cat(what, " ", name, ": unsupported extension '", ext, "' (expected .png, .jpg, .jpeg)"));
    if (img.empty()) throw Error(cat(what, " ", name, ": empty image"));
    std::vector<unsigned char> bytes;
    bool ok = false;
    try {
        ok = cv::imencode(ext, img, bytes);
    } catch (const cv::Exception& e) {
        throw Error(cat(what, " ", name, ": cannot encode ", img.cols, "x", img.rows, " image: ", e.what()));
    }
    if (!ok) throw Error(cat(what, " ", name, ": cannot encode ", img.cols, "x", img.rows, " image"));
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) throw IoError(cat("cannot write ", what, " ", name, ": ", std::strerror(errno)));
    size_t done = 0;
    int err = 0;
    while (done < bytes.size()) {
        const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            err = n < 0 ? errno : ENOSPC;
            break;
        }
        done += static_cast<size_t>(n);
    }
    if (::close(fd) != 0 && !err) err = errno;
    if (err) {
        ::unlink(path.c_str());
        throw IoError(cat("cannot write ", what, " ", name, ": ", std::strerror(err)));
    }
}

}  // namespace ned
