// libFuzzer target: ned::decode_png (the PNG reader behind every face / mask / conditioning image) on arbitrary
// bytes, as colour and as gray. Only ned::InputError may come out, and libpng must print nothing (its handlers
// are ned's): scripts/fuzz.sh counts a "libpng" line in the fuzzer's log as a finding.
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "ned/core/error.hpp"
#include "ned/core/image_io.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    for (int flags : {cv::IMREAD_COLOR, cv::IMREAD_GRAYSCALE}) {
        try {
            const cv::Mat m = ned::decode_png(data, size, flags, "fuzz");
            if (m.empty() || m.type() != (flags == cv::IMREAD_COLOR ? CV_8UC3 : CV_8UC1)) __builtin_trap();
            volatile unsigned sum = 0;
            for (int y = 0; y < m.rows; ++y) sum += m.ptr<unsigned char>(y)[m.cols * m.channels() - 1];
        } catch (const ned::InputError&) {}
    }
    return 0;
}
