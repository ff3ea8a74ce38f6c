#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>

#include <filesystem>
#include <random>

#include "ned/core/error.hpp"
#include "ned/face/crop.hpp"
#include "ned/track/face_detector.hpp"
#include "ned/track/landmarks.hpp"
#include "support/test_support.hpp"

using namespace ned::face;
using namespace ned::track;

namespace {
bool have_model() { return std::filesystem::exists(kDefaultLandmarkModel); }
#define NED_REQUIRE_LANDMARK_MODEL() \
    if (!have_model()) GTEST_SKIP() << "dlib landmark model not installed (apt-get install libdlib-data)"

const LandmarkDetector& detector() {
    static LandmarkDetector d;
    return d;
}

// A textured synthetic image: the predictor's output is a deterministic function of the pixels.
cv::Mat synthetic(unsigned seed) {
    cv::Mat img(256, 256, CV_8UC3);
    cv::RNG rng(seed);
    rng.fill(img, cv::RNG::UNIFORM, 0, 255);
    cv::GaussianBlur(img, img, {0, 0}, 4);
    cv::ellipse(img, {128, 130}, {70, 90}, 0, 0, 360, cv::Scalar(150, 170, 210), -1);
    cv::circle(img, {100, 110}, 8, cv::Scalar(30, 30, 30), -1);
    cv::circle(img, {156, 110}, 8, cv::Scalar(30, 30, 30), -1);
    cv::ellipse(img, {128, 180}, {25, 8}, 0, 0, 360, cv::Scalar(60, 60, 160), -1);
    return img;
}
}  // namespace

TEST(LandmarkDetector, MissingModelIsModelErrorWithInstallHint) {
    try {
        LandmarkDetector d("/nonexistent/shape_predictor.dat");
        FAIL() << "no exception";
    } catch (const ned::ModelError& e) {
        EXPECT_NE(std::string(e.what()).find("apt-get install libdlib-data"), std::string::npos);
        EXPECT_NE(std::string(e.what()).find("--landmark-model"), std::string::npos);
    }
    ned::test::TempDir tmp;
    {
        std::FILE* f = std::fopen((tmp / "junk.dat").c_str(), "wb");
        std::fputs("not a model", f);
        std::fclose(f);
    }
    EXPECT_THROW(LandmarkDetector(tmp / "junk.dat"), ned::ModelError);
}

TEST(LandmarkDetector, TranslationEquivariantForIntegerShifts) {
    NED_REQUIRE_LANDMARK_MODEL();
    const cv::Mat img = synthetic(7);
    const cv::Rect2f rect(60, 45, 136, 136);
    const Landmarks a = detector().landmark(img, rect);
    cv::Mat shifted;
    cv::warpAffine(img, shifted, cv::Mat(cv::Matx23f(1, 0, 6, 0, 1, -4)), img.size(), cv::INTER_LANCZOS4);
    const Landmarks b = detector().landmark(shifted, cv::Rect2f(66, 41, 136, 136));
    for (int i = 0; i < 68; ++i) EXPECT_LT(cv::norm(b[i] - (a[i] + cv::Point2f(6, -4))), 1e-3) << i;
}

TEST(LandmarkDetector, MultisampleIsTheMeanOfFiveShiftedRunsWithoutUndoingShifts) {
    NED_REQUIRE_LANDMARK_MODEL();
    const cv::Mat img = synthetic(11);
    const cv::Rect2f rect(60, 45, 136, 136);
    Landmarks single;
    const Landmarks avg = detector().landmark_multisample(img, rect, 5, &single);
    const Landmarks plain = detector().landmark(img, rect);
    std::array<cv::Point2d, 68> sum;
    for (int i = 0; i < 68; ++i) sum[i] = cv::Point2d(plain[i].x, plain[i].y);
    for (int sx : {-5, 5})
        for (int sy : {-5, 5}) {
            cv::Mat s;
            cv::warpAffine(img, s, cv::Mat(cv::Matx23f(1, 0, sx, 0, 1, sy)), img.size(), cv::INTER_LANCZOS4);
            const Landmarks l = detector().landmark(s, rect);
            for (int i = 0; i < 68; ++i) sum[i] += cv::Point2d(l[i].x, l[i].y);
        }
    double diff_single = 0;
    for (int i = 0; i < 68; ++i) {
        EXPECT_EQ(single[i], plain[i]);
        EXPECT_LT(cv::norm(cv::Point2d(avg[i].x, avg[i].y) - sum[i] / 5.0), 1e-3) << i;
        diff_single += cv::norm(avg[i] - single[i]);
    }
    EXPECT_GT(diff_single, 0.0);  // the shifted runs contribute (the rectangle stays put)
    // A synthetic shift of the whole input moves the average by the same amount (shifts cancel in the mean).
    cv::Mat moved;
    cv::warpAffine(img, moved, cv::Mat(cv::Matx23f(1, 0, -3, 0, 1, 2)), img.size(), cv::INTER_LANCZOS4);
    const Landmarks avg2 = detector().landmark_multisample(moved, cv::Rect2f(57, 47, 136, 136), 5);
    double err = 0;
    for (int i = 0; i < 68; ++i) err += cv::norm(avg2[i] - (avg[i] + cv::Point2f(-3, 2))) / 68;
    EXPECT_LT(err, 0.05);
}

TEST(TranslateImage, IdenticalToWarpAffineLanczos4ForIntegerShifts) {
    cv::Mat img(64, 80, CV_8UC3);
    cv::randu(img, 0, 256);
    for (auto [dx, dy] : {std::pair{5, 5}, {-5, 5}, {5, -5}, {-5, -5}, {0, 3}, {-79, 0}, {100, 0}}) {
        cv::Mat ref;
        cv::warpAffine(img, ref, cv::Mat(cv::Matx23f(1, 0, float(dx), 0, 1, float(dy))), img.size(), cv::INTER_LANCZOS4,
                       cv::BORDER_CONSTANT, cv::Scalar::all(0));
        EXPECT_EQ(cv::norm(translate_image(img, dx, dy), ref, cv::NORM_INF), 0.0) << dx << "," << dy;
    }
}

TEST(LandmarkBoxes, NedBoxToHogInvertsHogToNedBox) {
    const cv::Vec4f hog(100, 80, 180, 160);
    const cv::Vec4f back = ned_box_to_hog(hog_to_ned_box(hog));
    for (int k = 0; k < 4; ++k) EXPECT_NEAR(back[k], hog[k], 1e-3);
}

TEST(LandmarkBoxes, BoxInCropInvertsCropToFrame) {
    const cv::Vec4f box(300, 200, 500, 400);
    const cv::Matx23f c2f = crop_transform(box, 256, 70);
    const cv::Rect2f r = box_in_crop(box, c2f);
    // The box (before the margin) spans (256 - 70) crop pixels, centred in the crop.
    EXPECT_NEAR(r.width, 186, 0.5);
    EXPECT_NEAR(r.height, 186, 0.5);
    EXPECT_NEAR(r.x + r.width / 2, 127.5, 0.5);
    EXPECT_NEAR(r.y + r.height / 2, 127.5, 0.5);
}

TEST(LandmarkError, NormalisedByOuterEyeCorners) {
    Landmarks t{}, p{};
    for (int i = 0; i < 68; ++i) t[i] = p[i] = cv::Point2f(float(i), float(2 * i));
    t[36] = {0, 0};
    t[45] = {100, 0};
    p = t;
    EXPECT_NEAR(normalized_mean_error(p, t), 0.0, 1e-12);
    for (auto& q : p) q += cv::Point2f(3, 4);  // 5 px everywhere
    EXPECT_NEAR(normalized_mean_error(p, t), 0.05, 1e-6);
}
