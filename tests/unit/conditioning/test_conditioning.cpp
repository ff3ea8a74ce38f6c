// Eye points (NED's create_inputs.py rule) and whole conditioning frames on a synthetic FLAME asset.
#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>

#include <cmath>

#include "ned/core/error.hpp"
#include "ned/recon/deca.hpp"
#include "ned/recon/flame.hpp"
#include "ned/recon/reconstruction.hpp"
#include "ned/conditioning/conditioning.hpp"
#include "unit/conditioning/synthetic_flame.hpp"

using namespace ned::conditioning;

namespace {

EyePoints make_eyes(cv::Point2f left_c, cv::Point2f right_c, float w, float h) {
    // iBUG order: 0 outer corner, 1-2 upper lid, 3 inner corner, 4-5 lower lid.
    auto eye = [&](cv::Point2f c) {
        return std::array<cv::Point2f, 6>{c + cv::Point2f(-w, 0),     c + cv::Point2f(-w / 3, -h),
                                          c + cv::Point2f(w / 3, -h), c + cv::Point2f(w, 0),
                                          c + cv::Point2f(w / 3, h),  c + cv::Point2f(-w / 3, h)};
    };
    EyePoints e;
    e.left = eye(left_c);
    e.right = eye(right_c);
    e.left_pupil = left_c;
    e.right_pupil = right_c;
    return e;
}

// Centroid of the red (channel 2) pixels in the image half [x0, x1).
cv::Point2d red_centroid(const cv::Mat& bgr, int x0, int x1) {
    double sx = 0, sy = 0, n = 0;
    for (int y = 0; y < bgr.rows; ++y)
        for (int x = x0; x < x1; ++x)
            if (bgr.at<cv::Vec3b>(y, x)[2] == 255) sx += x, sy += y, n += 1;
    return n ? cv::Point2d(sx / n, sy / n) : cv::Point2d(-1, -1);
}

int count_red(const cv::Mat& bgr) {
    int n = 0;
    for (int y = 0; y < bgr.rows; ++y)
        for (int x = 0; x < bgr.cols; ++x) {
            const auto p = bgr.at<cv::Vec3b>(y, x);
            EXPECT_EQ(p[0], 0);
            EXPECT_EQ(p[1], 0);
            n += p[2] == 255;
        }
    return n;
}

}  // namespace

TEST(EyePoints, DiskRadiusAndPixelCount) {
    // NED pairs contour points 1-4 and 2-5 (the lid diagonals): |(10, 12)| twice -> r = int(31.24 / 4) = 7.
    const EyePoints e = make_eyes({80, 100}, {170, 100}, 15, 6);
    const int r = 7;
    const cv::Mat img = ned::face::draw_eye_image(e, 256);
    ASSERT_EQ(img.size(), cv::Size(256, 256));
    int per_disk = 0;  // NED's asymmetric range [-r, r)^2 with i^2 + j^2 < r^2
    for (int i = -r; i < r; ++i)
        for (int j = -r; j < r; ++j) per_disk += i * i + j * j < r * r;
    EXPECT_EQ(count_red(img), 2 * per_disk);
    const cv::Point2d c = red_centroid(img, 0, 128);
    EXPECT_NEAR(c.x, 79.5, 0.6);  // asymmetric range pulls the centroid by half a pixel
    EXPECT_NEAR(c.y, 99.5, 0.6);
}

TEST(EyePoints, PupilsMoveWithTheContourCentre) {
    const EyePoints src = make_eyes({80, 100}, {170, 100}, 15, 6);
    std::array<cv::Point2f, 12> tgt;
    for (int k = 0; k < 6; ++k) {
        tgt[k] = src.left[k] + cv::Point2f(5.f, -3.f);
        tgt[6 + k] = src.right[k] + cv::Point2f(-2.f, 7.f);
    }
    const EyePoints moved = move_pupils_with_contour(src, tgt);
    EXPECT_EQ(moved.left_pupil, cv::Point2f(85, 97));
    EXPECT_EQ(moved.right_pupil, cv::Point2f(168, 107));
    EXPECT_EQ(moved.left[0], tgt[0]);
}

TEST(EyePoints, MeshContourUsesDecaLandmarkPixelsAndInverseTform) {
    std::vector<float> lmk(68 * 2, 0.f);
    lmk[2 * 36] = 0.01f;
    lmk[2 * 36 + 1] = 0.02f;
    const float cam[3] = {5.f, 0.1f, -0.05f};
    const cv::Matx33f tform(0.5f, 0, 10, 0, 0.5f, 20, 0, 0, 1);
    const auto c = mesh_eye_contour(lmk.data(), cam, tform);
    // 224 px: 112 + 112 * 5 * (0.01 + 0.1) = 173.6; 112 + 112 * (-5) * (0.02 - 0.05) = 128.8
    EXPECT_NEAR(c[0].x, (173.6f - 10) / 0.5f, 1e-3);
    EXPECT_NEAR(c[0].y, (128.8f - 20) / 0.5f, 1e-3);
}

namespace {

struct Scene {
    ned::recon::FlameModel flame;
    ned::face::FaceTrack track;
    ned::recon::Reconstruction rec;
};

Scene make_scene(int frames) {
    Scene s;
    s.flame = ned::recon::FlameModel::from_file(ned::test::synthetic_flame_file());
    s.track.crop_size = 256;
    s.track.has_analysis = true;
    s.track.frames.resize(frames);
    const EyePoints e = make_eyes({90, 110}, {160, 110}, 14, 5);
    for (auto& f : s.track.frames) {
        f.valid = f.detected = true;
        for (int k = 0; k < 6; ++k) {
            f.landmarks[36 + k] = e.left[k];
            f.landmarks[42 + k] = e.right[k];
        }
        f.pupils = {e.left_pupil, e.right_pupil};
        const float a = 0.95f, th = 0.1f;
        f.align = cv::Matx23f(a * std::cos(th), -a * std::sin(th), 12, a * std::sin(th), a * std::cos(th), -5);
    }
    s.rec.valid.assign(frames, 1);
    for (const char* n : {"shape", "exp", "pose", "cam", "tform"}) s.rec.ensure(n);
    for (int t = 0; t < frames; ++t) {
        float* cam = s.rec.at("cam").row(t);
        cam[0] = 7.f;
        float* tf = s.rec.at("tform").row(t);
        const float m[9] = {0.9f, 0, -5, 0, 0.9f, -3, 0, 0, 1};
        std::copy(m, m + 9, tf);
    }
    return s;
}

}  // namespace

TEST(Conditioning, FramesHaveCropSizeAndExpectedContent) {
    Scene s = make_scene(3);
    ConditioningOptions o;
    o.threads = 2;
    o.keep_crop_images = true;
    ConditioningRenderer r(s.flame, nullptr, o);
    EXPECT_FALSE(r.detailed_for(s.rec));
    const auto out = r.render(s.track, s.rec, {0, 2});
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[1].frame_index, 2);
    for (const auto& f : out) {
        for (const cv::Mat* m : {&f.nmfc, &f.shape, &f.eyes, &f.nmfc_crop, &f.shape_crop, &f.eyes_crop}) {
            EXPECT_EQ(m->size(), cv::Size(256, 256));
            EXPECT_EQ(m->type(), CV_8UC3);
        }
        EXPECT_FALSE(f.detailed);
        // The frontal synthetic plane: shape is DECA's frontal grey 0.794 -> 203 in the crop interior.
        const cv::Vec3b c = f.shape_crop.at<cv::Vec3b>(128, 128);
        EXPECT_NEAR(c[0], std::lround(255 * kShapeAlbedo * deca_shading(0, 0, 1)), 1);
        EXPECT_GT(cv::countNonZero(f.nmfc.reshape(1)), 1000);
        EXPECT_GT(count_red(f.eyes), 0);
    }
    // Invalid frame -> InputError naming it.
    s.rec.valid[1] = 0;
    EXPECT_THROW(r.render(s.track, s.rec, {1}), ned::InputError);
}

TEST(Conditioning, EditedExpressionMovesTheEyeDisksWithTheContour) {
    Scene s = make_scene(2);
    s.rec.at("exp").row(1)[0] = 1.f;  // expression 0 lifts the whole synthetic mesh by 0.01
    ConditioningOptions o;
    o.eyes = EyeSource::Mesh;
    ConditioningRenderer r(s.flame, nullptr, o);
    const auto out = r.render(s.track, s.rec, {0, 1});
    // Model +0.01 in y -> 224 px: -112 * 7 * 0.01 = -7.84 -> crop px / 0.9 -> aligned by `align`.
    const double dy_crop = -112.0 * 7 * 0.01 / 0.9;
    const auto& A = s.track.frames[0].align;
    const cv::Point2d expect(A(0, 1) * dy_crop, A(1, 1) * dy_crop);
    const cv::Point2d l0 = red_centroid(out[0].eyes, 0, 128), l1 = red_centroid(out[1].eyes, 0, 128);
    const cv::Point2d r0 = red_centroid(out[0].eyes, 128, 256), r1 = red_centroid(out[1].eyes, 128, 256);
    ASSERT_GE(l0.x, 0);
    ASSERT_GE(r0.x, 0);
    EXPECT_NEAR(l1.x - l0.x, expect.x, 1.5);
    EXPECT_NEAR(l1.y - l0.y, expect.y, 1.5);
    EXPECT_NEAR(r1.x - r0.x, expect.x, 1.5);
    EXPECT_NEAR(r1.y - r0.y, expect.y, 1.5);
    EXPECT_LT(l1.y - l0.y, -5.0);
    // With the track's eyes nothing moves.
    o.eyes = EyeSource::Track;
    ConditioningRenderer rt(s.flame, nullptr, o);
    const auto tr = rt.render(s.track, s.rec, {0, 1});
    EXPECT_EQ(cv::norm(tr[0].eyes, tr[1].eyes, cv::NORM_L1), 0.0);
}

TEST(Conditioning, TopologyFromFlameCarriesUvData) {
    const auto flame = ned::recon::FlameModel::from_file(ned::test::synthetic_flame_file(8, true));
    const MeshTopology t = topology_from_flame(flame);
    EXPECT_EQ(t.num_vertices, 64);
    EXPECT_EQ(t.num_faces(), 2 * 7 * 7);
    EXPECT_TRUE(t.has_uv());
    EXPECT_EQ(t.uv_face_eye_mask.size(), cv::Size(256, 256));
    const auto no_uv = ned::recon::FlameModel::from_file(ned::test::synthetic_flame_file(8, false));
    EXPECT_FALSE(topology_from_flame(no_uv).has_uv());
}

TEST(Conditioning, PackedWarpEqualsWarpingEachImage) {
    // conditioning_from_deca warps NMFC + shape as one 4-channel image; it must equal separate warps.
    DecaImages di;
    di.nmfc = cv::Mat(224, 224, CV_32FC3);
    cv::randu(di.nmfc, 0.f, 1.f);
    cv::Mat grey(224, 224, CV_32F);
    cv::randu(grey, 0.f, 1.f);
    cv::merge(std::vector<cv::Mat>{grey, grey, grey}, di.shape);
    const cv::Matx33f tform(0.8f, 0.05f, 3, -0.05f, 0.8f, 9, 0, 0, 1);
    const cv::Matx23f align(0.97f, -0.1f, 11, 0.1f, 0.97f, -6);
    const EyePoints eyes = make_eyes({90, 110}, {160, 110}, 14, 5);
    const ConditioningFrame cf = conditioning_from_deca(di, tform, align, eyes, 256, true);
    EXPECT_EQ(cv::norm(cf.nmfc, crop_to_aligned(deca_to_crop(di.nmfc, tform, 256), align, 256), cv::NORM_INF), 0.0);
    EXPECT_EQ(cv::norm(cf.shape, crop_to_aligned(deca_to_crop(di.shape, tform, 256), align, 256), cv::NORM_INF), 0.0);
    EXPECT_EQ(cv::norm(cf.nmfc_crop, deca_to_crop(di.nmfc, tform, 256), cv::NORM_INF), 0.0);
    EXPECT_EQ(cv::norm(cf.eyes, ned::face::draw_eye_image(transform_eye_points(eyes, align), 256), cv::NORM_INF), 0.0);
}

TEST(Conditioning, DetailCodesGiveTheDetailedShapeThroughDDetail) {
    // DECA with its initial (random) weights stands in for the gated checkpoint: D_detail must be run on
    // (jaw, exp, detail) and its displacement must change the shape image but not the NMFC.
    Scene s = make_scene(1);
    s.rec.ensure("detail");
    for (int k = 0; k < 128; ++k) s.rec.at("detail").row(0)[k] = 0.05f * ((k % 7) - 3);
    ned::recon::DecaModel deca;
    ConditioningOptions o;
    ConditioningRenderer coarse(s.flame, nullptr, o), detailed(s.flame, &deca, o);
    std::string why;
    EXPECT_FALSE(coarse.detailed_for(s.rec, &why));
    EXPECT_NE(why.find("DECA"), std::string::npos);
    ASSERT_TRUE(detailed.detailed_for(s.rec));
    const auto c = coarse.render(s.track, s.rec, {0});
    const auto d = detailed.render(s.track, s.rec, {0});
    EXPECT_TRUE(d[0].detailed);
    EXPECT_FALSE(c[0].detailed);
    EXPECT_EQ(cv::norm(c[0].nmfc, d[0].nmfc, cv::NORM_INF), 0.0);
    EXPECT_GT(cv::norm(c[0].shape, d[0].shape, cv::NORM_L1), 0.0);
    // Without detail codes the DECA-equipped renderer falls back to the coarse shape.
    s.rec.params.erase("detail");
    EXPECT_FALSE(detailed.detailed_for(s.rec, &why));
    EXPECT_NE(why.find("detail"), std::string::npos);
}
