// ned::read_image / decode_png / write_image (issue 10): the same pixels as OpenCV's decoder for the PNGs ned
// writes and reads, one InputError naming the file for a broken one, and nothing printed by libpng.
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "ned/core/error.hpp"
#include "ned/core/image_io.hpp"
#include "support/test_support.hpp"

namespace fs = std::filesystem;
using namespace ned;

namespace {

cv::Mat random_image(int rows, int cols, int type, uint64_t seed) {
    cv::Mat m(rows, cols, type);
    cv::RNG rng(seed);
    rng.fill(m, cv::RNG::UNIFORM, 0, CV_MAT_DEPTH(type) == CV_16U ? 65536 : 256);
    return m;
}

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

double max_abs_diff(const cv::Mat& a, const cv::Mat& b) {
    EXPECT_EQ(a.size(), b.size());
    EXPECT_EQ(a.type(), b.type());
    if (a.size() != b.size() || a.type() != b.type()) return 1e9;
    return cv::norm(a, b, cv::NORM_INF);
}

}  // namespace

TEST(ImageIo, EightBitPngsDecodeExactlyAsOpenCv) {
    test::TempDir dir;
    const cv::Mat bgr = random_image(37, 53, CV_8UC3, 1), gray = random_image(29, 31, CV_8UC1, 2);
    cv::imwrite(dir / "bgr.png", bgr);
    cv::imwrite(dir / "gray.png", gray);
    // 8-bit BGR and gray round trips are lossless: exact equality, with ned's decoder and with OpenCV's.
    EXPECT_EQ(max_abs_diff(read_image(dir / "bgr.png", cv::IMREAD_COLOR), bgr), 0);
    EXPECT_EQ(max_abs_diff(read_image(dir / "gray.png", cv::IMREAD_GRAYSCALE), gray), 0);
    // Gray read as colour: the three channels are the gray value (libpng and OpenCV both replicate it).
    EXPECT_EQ(
        max_abs_diff(read_image(dir / "gray.png", cv::IMREAD_COLOR), cv::imread(dir / "gray.png", cv::IMREAD_COLOR)),
        0);
}

TEST(ImageIo, ConversionsMatchOpenCvWithinOneLevel) {
    test::TempDir dir;
    const cv::Mat bgr = random_image(21, 17, CV_8UC3, 3), bgra = random_image(21, 17, CV_8UC4, 4),
                  deep = random_image(19, 23, CV_16UC3, 5);
    cv::imwrite(dir / "bgr.png", bgr);
    cv::imwrite(dir / "bgra.png", bgra);
    cv::imwrite(dir / "deep.png", deep);
    // Alpha is dropped, 16 bits are cut to 8: exact. Colour to gray uses the 0.299/0.587/0.114 weights in
    // libpng's 15-bit fixed point, so a result may differ from OpenCV's by one rounding step (1 level).
    EXPECT_EQ(
        max_abs_diff(read_image(dir / "bgra.png", cv::IMREAD_COLOR), cv::imread(dir / "bgra.png", cv::IMREAD_COLOR)),
        0);
    EXPECT_LE(
        max_abs_diff(read_image(dir / "deep.png", cv::IMREAD_COLOR), cv::imread(dir / "deep.png", cv::IMREAD_COLOR)),
        1);
    EXPECT_LE(max_abs_diff(read_image(dir / "bgr.png", cv::IMREAD_GRAYSCALE),
                           cv::imread(dir / "bgr.png", cv::IMREAD_GRAYSCALE)),
              1);
}

TEST(ImageIo, BrokenFilesThrowOneInputErrorAndLibpngStaysQuiet) {
    test::TempDir dir;
    cv::imwrite(dir / "ok.png", random_image(64, 64, CV_8UC3, 6));
    const std::string png = slurp(dir / "ok.png");
    write_bytes(dir / "truncated.png", png.substr(0, png.size() / 2));
    std::string bad_crc = png;
    bad_crc[png.find("IDAT") + 10] ^= 0x55;  // corrupt the compressed data: CRC error in a critical chunk
    write_bytes(dir / "bad_crc.png", bad_crc);
    write_bytes(dir / "text.png", "this is not an image\n");
    write_bytes(dir / "empty.png", "");
    std::string huge = png;  // IHDR width 100000 (big-endian at byte 16)
    huge[16] = 0, huge[17] = 0x01, huge[18] = static_cast<char>(0x86), huge[19] = static_cast<char>(0xA0);
    write_bytes(dir / "huge.png", huge);
    fs::create_directories(dir / "folder.png");
    for (const char* name :
         {"truncated.png", "bad_crc.png", "text.png", "empty.png", "huge.png", "folder.png", "missing.png"}) {
        for (int flags : {cv::IMREAD_COLOR, cv::IMREAD_GRAYSCALE}) {
            testing::internal::CaptureStderr();
            std::string msg;
            try {
                read_image(dir / name, flags, "face image");
                ADD_FAILURE() << name << " was accepted";
            } catch (const InputError& e) {
                msg = e.what();
            }
            const std::string err = testing::internal::GetCapturedStderr();
            EXPECT_EQ(err, "") << name;  // no "libpng error: ..." / "libpng warning: ..."
            EXPECT_NE(msg.find("face image " + (dir / name)), std::string::npos) << msg;
        }
    }
}

TEST(ImageIo, DecodePngFromMemoryRejectsEveryPrefix) {
    // Every strict prefix of a valid PNG is an error (never a crash, never a partial image).
    cv::Mat img = random_image(8, 8, CV_8UC3, 7);
    std::vector<unsigned char> bytes;
    ASSERT_TRUE(cv::imencode(".png", img, bytes));
    EXPECT_EQ(max_abs_diff(decode_png(bytes.data(), bytes.size(), cv::IMREAD_COLOR, "mem"), img), 0);
    for (size_t n = 0; n < bytes.size(); ++n)
        EXPECT_THROW(decode_png(bytes.data(), n, cv::IMREAD_COLOR, "mem"), InputError) << n;
}

TEST(ImageIo, WriteImageRoundTripAndFailure) {
    test::TempDir dir;
    const cv::Mat img = random_image(16, 16, CV_8UC3, 8);
    write_image(dir / "a.png", img, "crop image");
    EXPECT_EQ(max_abs_diff(read_image(dir / "a.png", cv::IMREAD_COLOR), img), 0);
    EXPECT_THROW(write_image(dir / "a.gif", img, "crop image"), InputError);
    EXPECT_THROW(write_image(dir / "nope/a.png", img, "crop image"), IoError);
    // A write beyond RLIMIT_FSIZE (SIGXFSZ ignored: EFBIG), in a child so the limit does not leak: one IoError
    // naming the final path, the partial file removed.
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl {
            100, 100
        };
        ::setrlimit(RLIMIT_FSIZE, &rl);
        int code = 1;
        try {
            write_image(dir / ".tmp.png", random_image(64, 64, CV_8UC3, 9), "crop image", dir / "final.png");
        } catch (const IoError& e) {
            const std::string m = e.what();
            code = (m.find("final.png") != std::string::npos && m.find("File too large") != std::string::npos &&
                    !fs::exists(dir / ".tmp.png"))
                       ? 0
                       : 2;
        } catch (...) {
            code = 3;
        }
        ::_exit(code);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
}
