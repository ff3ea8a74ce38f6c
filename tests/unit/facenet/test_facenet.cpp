// ned_facenet against face-api in TF.js on the synthetic image (no shared data needed; the models ship in
// models/open). Tolerances: see parity.hpp.
#include <gtest/gtest.h>

#include <cstdlib>

#include <opencv2/imgproc.hpp>

#include "ned/core/error.hpp"
#include "ned/facenet/facenet.hpp"
#include "ned/facenet/tfjs_weights.hpp"
#include "support/test_support.hpp"
#include "unit/facenet/parity.hpp"

using namespace ned::facenet;
using namespace ned::facenet::test;

namespace {
cv::Rect2f box_of(const nlohmann::json& j) {
    return cv::Rect2f(j[0].get<float>(), j[1].get<float>(), j[2].get<float>(), j[3].get<float>());
}
}  // namespace

TEST(Facenet, OpenModelsDirFindsTheShippedModels) {
    const auto d = open_models_dir();
    EXPECT_TRUE(std::filesystem::exists(d / "ssd_mobilenetv1_model-weights_manifest.json")) << d;
    set_open_models_dir("/nonexistent/ned-open");  // what main passes from $NED_OPEN_MODELS
    EXPECT_THROW(open_models_dir(), ned::ModelError);
    set_open_models_dir(d);
    EXPECT_EQ(open_models_dir(), d);
    set_open_models_dir({});
    EXPECT_EQ(open_models_dir(), d);
    EXPECT_THROW(FaceDetector("/nonexistent/ned-open"), ned::ModelError);
}

TEST(Facenet, ExpressionNamesInFaceApiOrder) {
    EXPECT_EQ(EmotionFer2013::names(),
              (std::vector<std::string>{"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"}));
    EXPECT_EQ(ExpressionNet::names(),
              (std::vector<std::string>{"neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised"}));
}

TEST(Facenet, SyntheticImageMatchesTfjs) {
    const auto ref = reference()["images"]["synthetic"];
    const cv::Mat img = synthetic_image();
    const cv::Rect2f box = box_of(ref["box"]);

    // Landmarks: net output o in [0, 1] of the 112 square, mapped by the crop side (128 px here).
    const auto lm = Landmarks68().predict(img, box);
    ASSERT_EQ(lm.size(), 68u);
    double lm_err = 0;
    for (int i = 0; i < 68; ++i) {
        lm_err = std::max(lm_err, std::abs(lm[i].x - ref["landmarks"][i][0].get<double>()));
        lm_err = std::max(lm_err, std::abs(lm[i].y - ref["landmarks"][i][1].get<double>()));
    }
    const double side = std::max(box.width, box.height);
    EXPECT_LE(lm_err, kFeatureRel * side) << "max landmark error (px)";

    const auto p = ExpressionNet().probabilities(img, box);
    ASSERT_EQ(p.size(), 7u);
    double p_err = 0, sum = 0;
    for (int i = 0; i < 7; ++i) {
        p_err = std::max(p_err, std::abs(p[i] - ref["expressions"][i].get<double>()));
        sum += p[i];
    }
    EXPECT_NEAR(sum, 1.0, 1e-5);
    EXPECT_LE(p_err, kFeatureRel) << "max probability error";

    const auto d = FaceDescriptor().describe(img, box);
    double d_err = 0;
    for (int i = 0; i < 128; ++i) d_err = std::max(d_err, std::abs(d[i] - ref["descriptor"][i].get<double>()));
    EXPECT_LE(d_err, kRecognitionRel) << "max descriptor error";
    std::printf("synthetic parity: landmarks %.3g px, probabilities %.3g, descriptor %.3g\n", lm_err, p_err, d_err);

    const auto fer = EmotionFer2013().probabilities(img, box);
    ASSERT_EQ(fer.size(), 7u);
    double fer_err = 0;
    for (int i = 0; i < 7; ++i) fer_err = std::max(fer_err, std::abs(fer[i] - ref["fer2013"][i].get<double>()));
    EXPECT_LE(fer_err, kFer2013Rel) << "max FER2013 probability error";
    std::printf("synthetic parity: FER2013 %.3g\n", fer_err);

    // The detectors find no face in it (as TF.js), the SSD even at a low threshold.
    EXPECT_EQ(FaceDetector().detect(img, ref["min_score"].get<float>()).size(), ref["detections"].size());
    EXPECT_EQ(BlazeFaceDetector().detect(img, 0.5f).size(), ref["blazeface"].size());
}

TEST(Facenet, ParityTestsSeeAChannelSwap) {
    // The same image with R and B swapped: the outputs move far beyond the tolerances, so the parity test
    // above would see an input-convention defect.
    const auto ref = reference()["images"]["synthetic"];
    cv::Mat img = synthetic_image(), swapped;
    cv::cvtColor(img, swapped, cv::COLOR_BGR2RGB);
    const auto d = FaceDescriptor().describe(swapped, box_of(ref["box"]));
    double d_err = 0;
    for (int i = 0; i < 128; ++i) d_err = std::max(d_err, std::abs(d[i] - ref["descriptor"][i].get<double>()));
    EXPECT_GT(d_err, 10 * kRecognitionRel);
}

TEST(Facenet, BadInputsAreInputErrors) {
    const Landmarks68 lm;
    const cv::Mat img = synthetic_image();
    EXPECT_THROW(lm.predict(cv::Mat(), {0, 0, 10, 10}), ned::InputError);
    EXPECT_THROW(lm.predict(img, {400, 300, 50, 50}), ned::InputError);  // outside the image
    EXPECT_NO_THROW(lm.predict(img, {-20, -10, 100, 80}));               // clipped at the borders
    EXPECT_THROW(lm.predict(img, {std::nanf(""), 0, 50, 50}), ned::InputError);
    EXPECT_THROW(EmotionFer2013().probabilities(img, {0, 0, 0, 0}), ned::InputError);
    EXPECT_THROW(FaceDetector().detect(cv::Mat(5, 5, CV_8UC1)), ned::InputError);
}

TEST(Facenet, FaceMeshTo68UsesThePublishedCorrespondence) {
    std::vector<cv::Point3f> mesh(468);
    for (int i = 0; i < 468; ++i) mesh[i] = cv::Point3f(float(i), float(2 * i), 0.f);
    const auto p = facemesh_to_68(mesh);
    ASSERT_EQ(p.size(), 68u);
    // single points: jaw start 127, chin 152, eye corners 33 / 263, mouth corners 61 / 291
    const std::pair<int, int> single[] = {{0, 127}, {8, 152}, {16, 356}, {36, 33}, {45, 263}, {48, 61}, {54, 291}};
    for (const auto& [i, m] : single) {
        EXPECT_FLOAT_EQ(p[i].x, float(m)) << i;
        EXPECT_FLOAT_EQ(p[i].y, float(2 * m)) << i;
    }
    // pairs are averaged: jaw 3 = (132 + 58) / 2, nose bridge 27 = (168 + 6) / 2
    EXPECT_FLOAT_EQ(p[3].x, 95.f);
    EXPECT_FLOAT_EQ(p[27].x, 87.f);
    EXPECT_FLOAT_EQ(p[27].y, 174.f);
    mesh.resize(478);  // with the iris points
    EXPECT_EQ(facemesh_to_68(mesh).size(), 68u);
    mesh.resize(68);
    EXPECT_THROW(facemesh_to_68(mesh), ned::InputError);
}

TEST(Facenet, FaceMeshCropFollowsTheImage) {
    // Shifting the image by whole pixels (black border) and the box with it shifts every mesh point by the same
    // amount: the crop and its inverse mapping are pure geometry (the resampled pixels are identical).
    const FaceMesh mesh;
    const cv::Mat img = synthetic_image();
    cv::Mat shifted(img.rows + 17, img.cols + 29, CV_8UC3, cv::Scalar::all(0));
    img.copyTo(shifted(cv::Rect(29, 17, img.cols, img.rows)));
    const cv::Rect2f box(img.cols * 0.3f, img.rows * 0.3f, img.cols * 0.3f, img.rows * 0.35f);
    for (int passes : {1, 2}) {
        const auto a = mesh.predict(img, box, passes);
        const auto b = mesh.predict(shifted, cv::Rect2f(box.x + 29, box.y + 17, box.width, box.height), passes);
        ASSERT_EQ(a.size(), 468u);
        ASSERT_EQ(b.size(), 468u);
        double err = 0;
        for (int i = 0; i < 468; ++i) err = std::max(err, double(cv::norm(cv::Point2f(b[i].x - 29 - a[i].x, b[i].y - 17 - a[i].y))));
        // the crop's first pass is identical pixel for pixel; later passes follow the mesh (float rounding)
        EXPECT_LT(err, 1e-2) << passes << " passes";
    }
    EXPECT_THROW(mesh.predict(cv::Mat(), box), ned::InputError);
    EXPECT_THROW(mesh.predict(img, box, 0), ned::InputError);
    EXPECT_THROW(mesh.predict(img, box, 2, std::nanf("")), ned::InputError);
    // a roll of 360 degrees turns the first crop onto itself (float rounding of the rotation only)
    const auto a = mesh.predict(img, box, 1), b = mesh.predict(img, box, 1, 360.f);
    double err = 0;
    for (int i = 0; i < 468; ++i) err = std::max(err, double(cv::norm(cv::Point2f(a[i].x - b[i].x, a[i].y - b[i].y))));
    EXPECT_LT(err, 0.05);
    EXPECT_THROW(mesh.predict(img, {-500, -500, 10, 10}), ned::InputError);
}

TEST(Facenet, DescriptorDistanceIsEuclidean) {
    std::array<float, 128> a{}, b{};
    a[0] = 3;
    b[1] = 4;
    EXPECT_FLOAT_EQ(FaceDescriptor::distance(a, b), 5.f);
    EXPECT_FLOAT_EQ(FaceDescriptor::distance(a, a), 0.f);
}

TEST(Facenet, DescriptorBoxFollowsFaceApiAlignment) {
    // Eyes centred at (40, 50) and (80, 50), mouth centred at (60, 90): eye-to-mouth distance sqrt(20^2 + 40^2).
    std::vector<cv::Point2f> lm(68, cv::Point2f(0, 0));
    for (int i = 36; i < 42; ++i) lm[i] = {40.f + (i % 2 ? 1.f : -1.f), 50.f};
    for (int i = 42; i < 48; ++i) lm[i] = {80.f + (i % 2 ? 1.f : -1.f), 50.f};
    for (int i = 48; i < 68; ++i) lm[i] = {60.f + (i % 2 ? 2.f : -2.f), 90.f};
    const cv::Rect2f b = descriptor_box(lm);
    const double size = std::floor(std::sqrt(20.0 * 20 + 40 * 40) / 0.45);  // 99
    EXPECT_EQ(b.width, size);
    EXPECT_EQ(b.height, size);
    const double cy = (50 + 50 + 90) / 3.0;
    EXPECT_EQ(b.x, std::floor(60 - 0.5 * size));
    EXPECT_EQ(b.y, std::floor(cy - 0.43 * size));
    EXPECT_THROW(descriptor_box({}), ned::InputError);
}

TEST(Facenet, GraphInterpreterMatchesTfjsOnBlazeFaceAndFaceMesh) {
    // @vladmandic/human's BlazeFace and FaceMesh graphs (Pad on channels, Reshape in NHWC order, Prelu, float16
    // weights) on the synthetic pattern of scripts/tfjs_reference.mjs; every stride-th output value is compared.
    // Tolerance as parity.hpp: ~40 layers with K <= 128 (1x1) or 25 (5x5 depthwise): sum K < 1e4, relative to the
    // output's largest magnitude (the outputs are pixel coordinates and logits, up to ~150).
    const double rel = kSigmas * std::sqrt(1e4) * kU;
    const auto graphs = reference()["graphs"];
    for (const char* name : {"blazeface", "facemesh"}) {
        const auto g = graphs[name];
        const int size = g["input_size"].get<int>();
        const float scale = g["scale"].get<float>(), offset = g["offset"].get<float>();
        const int stride = g["stride"].get<int>();
        torch::Tensor x = torch::empty({1, 3, size, size});
        auto a = x.accessor<float, 4>();
        for (int y = 0; y < size; ++y)
            for (int xx = 0; xx < size; ++xx)
                for (int c = 0; c < 3; ++c)
                    a[0][c][y][xx] = float((7 * xx + 13 * y + 50 * c + ((xx * y) % 31)) % 256) * scale + offset;
        const TfjsGraph graph(open_models_dir() / (std::string(name) + ".json"));
        for (const auto& [out_name, ref] : g["outputs"].items()) {
            torch::Tensor o = graph.run(x, out_name);
            if (o.dim() == 4) o = o.permute({0, 2, 3, 1});
            o = o.contiguous().flatten();
            std::vector<int64_t> shape = ref["shape"].get<std::vector<int64_t>>();
            int64_t n = 1;
            for (auto d : shape) n *= d;
            ASSERT_EQ(o.numel(), n) << name << " " << out_name;
            double err = 0, mag = 1;
            const auto& v = ref["values"];
            for (size_t i = 0; i < v.size(); ++i) mag = std::max(mag, std::abs(v[i].get<double>()));
            for (size_t i = 0; i < v.size(); ++i)
                err = std::max(err, std::abs(o[int64_t(i) * stride].item<double>() - v[i].get<double>()));
            EXPECT_LE(err, rel * mag) << name << " " << out_name;
            std::printf("%s %s: max error %.3g (magnitude %.3g)\n", name, out_name.c_str(), err, mag);
        }
    }
}
