// DECA renderings on plain arrays: normals, NMFC colours, DECA's shading value, pos_mask, detail normals and
// the warps into crop and aligned space.
#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>

#include <cmath>

#include "ned/core/error.hpp"
#include "ned/conditioning/deca_images.hpp"

using namespace ned::conditioning;

namespace {

// A flat G x G grid in z = 0 spanning [-h, h]^2 in x and y (y up), faces counter-clockwise seen from +z;
// uv = ((x + h) / 2h, (y + h) / 2h).
MeshTopology grid_topology(int G, float h, std::vector<float>& verts, bool flip = false) {
    MeshTopology t;
    t.num_vertices = G * G;
    verts.resize(G * G * 3);
    for (int r = 0; r < G; ++r)
        for (int c = 0; c < G; ++c) {
            const int v = r * G + c;
            verts[3 * v] = -h + 2 * h * c / (G - 1);
            verts[3 * v + 1] = h - 2 * h * r / (G - 1);
            verts[3 * v + 2] = 0.f;
            t.uv_coords.push_back((verts[3 * v] + h) / (2 * h));
            t.uv_coords.push_back((verts[3 * v + 1] + h) / (2 * h));
        }
    for (int r = 0; r + 1 < G; ++r)
        for (int c = 0; c + 1 < G; ++c) {
            const int p = r * G + c;
            if (!flip)
                t.faces.insert(t.faces.end(), {p, p + G, p + 1, p + 1, p + G, p + G + 1});
            else
                t.faces.insert(t.faces.end(), {p, p + 1, p + G, p + 1, p + G + 1, p + G});
        }
    t.uv_faces = t.faces;
    // Anisotropic template so that the per-axis normalisation matters.
    std::vector<float> tmpl(verts);
    for (int v = 0; v < G * G; ++v) tmpl[3 * v] *= 3.f, tmpl[3 * v + 2] = 0.5f * v;
    t.nmfc_colors = nmfc_vertex_colors(tmpl.data(), G * G);
    return t;
}

const float kCam[3] = {8.f, 0.f, 0.f};  // s = 8: the grid of half-size 0.1 spans [-0.8, 0.8]

}  // namespace

TEST(DecaImages, FrontalShadeIsDecasValue) {
    // mean of clamp(n . l) over the 5 lights for n = +z: 4 / sqrt(3) + 1, over 5, times 1.7.
    const float expected = (4.f / std::sqrt(3.f) + 1.f) / 5.f * 1.7f;
    EXPECT_NEAR(deca_shading(0, 0, 1), expected, 1e-6);
    EXPECT_NEAR(kShapeAlbedo * deca_shading(0, 0, 1), 0.7943, 1e-3);
    // A normal away from every light is black; one along (1,1,1) gets only partial light from the others.
    EXPECT_EQ(deca_shading(0, 0, -1), 0.f);
    const float a = 1.f / std::sqrt(3.f);
    const float diag = (1.f + 1.f / 3.f + 1.f / 3.f + 0.f + a) / 5.f * 1.7f;  // dots: 1, 1/3, 1/3, -1/3->0, a
    EXPECT_NEAR(deca_shading(a, a, a), diag, 1e-5);
}

TEST(DecaImages, VertexNormalsOfPlaneAndOrientation) {
    std::vector<float> v;
    auto t = grid_topology(5, 0.1f, v);
    std::vector<float> n(v.size());
    vertex_normals(v.data(), t.num_vertices, t.faces.data(), t.num_faces(), n.data());
    for (int i = 0; i < t.num_vertices; ++i) {
        EXPECT_NEAR(n[3 * i], 0, 1e-6);
        EXPECT_NEAR(n[3 * i + 2], 1, 1e-6);
    }
    auto tf = grid_topology(5, 0.1f, v, /*flip=*/true);
    vertex_normals(v.data(), tf.num_vertices, tf.faces.data(), tf.num_faces(), n.data());
    EXPECT_NEAR(n[2], -1, 1e-6);
}

TEST(DecaImages, NmfcColoursArePerAxisNormalised) {
    const float tmpl[12] = {-2, 0, 10, 4, 0.5f, 11, 1, 0.25f, 30, 0, 0.1f, 10};
    auto c = nmfc_vertex_colors(tmpl, 4);
    for (int k = 0; k < 3; ++k) {
        float lo = 1, hi = 0;
        for (int v = 0; v < 4; ++v) lo = std::min(lo, c[3 * v + k]), hi = std::max(hi, c[3 * v + k]);
        EXPECT_FLOAT_EQ(lo, 0.f);
        EXPECT_FLOAT_EQ(hi, 1.f);
    }
    EXPECT_NEAR(c[3 * 2], 0.5f, 1e-6);       // x = 1 in [-2, 4]
    EXPECT_NEAR(c[3 * 1 + 1], 1.f, 1e-6);    // y max
    EXPECT_NEAR(c[3 * 2 + 2], 1.f, 1e-6);    // z max
    EXPECT_NEAR(c[3 * 1 + 2], 0.05f, 1e-6);  // z = 11 in [10, 30]
}

TEST(DecaImages, NmfcImageInterpolatesTemplateColours) {
    std::vector<float> v;
    auto t = grid_topology(11, 0.1f, v);
    DecaImageRenderer r(t);
    const DecaImages im = r.render(v.data(), kCam);
    ASSERT_EQ(im.nmfc.size(), cv::Size(224, 224));
    double lo, hi;
    cv::minMaxLoc(im.nmfc.reshape(1), &lo, &hi);
    EXPECT_GE(lo, 0.0);
    EXPECT_LE(hi, 1.0 + 1e-6);
    // Background (outside [-0.8, 0.8]) is 0; the centre pixel column/row has x,y colour ~0.5.
    EXPECT_EQ(im.nmfc.at<cv::Vec3f>(3, 3), cv::Vec3f(0, 0, 0));
    // Pixel (i, j) sits at screen x = (2i+1)/224 - 1, y (down) likewise; the grid maps x in [-0.8, 0.8].
    const int i = 150, j = 60;
    const float sx = (2.f * i + 1) / 224 - 1, sy = (2.f * j + 1) / 224 - 1;
    const cv::Vec3f px = im.nmfc.at<cv::Vec3f>(j, i);  // BGR
    EXPECT_NEAR(px[2], (sx + 0.8f) / 1.6f, 1e-4);      // R = normalised x
    EXPECT_NEAR(px[1], (-sy + 0.8f) / 1.6f, 1e-4);     // G = normalised y (model y is up)
    EXPECT_GT(px[0], 0.f);                             // B = normalised z of the template
    EXPECT_FALSE(im.detailed);
}

TEST(DecaImages, FrontalPlaneShapeAndPosMask) {
    std::vector<float> v;
    auto t = grid_topology(11, 0.1f, v);
    DecaImageRenderer r(t);
    const DecaImages im = r.render(v.data(), kCam);
    const float expected = kShapeAlbedo * deca_shading(0, 0, 1);
    EXPECT_NEAR(im.shape.at<cv::Vec3f>(112, 112)[0], expected, 1e-5);
    EXPECT_NEAR(im.shape.at<cv::Vec3f>(40, 180)[1], expected, 1e-5);
    EXPECT_EQ(im.shape.at<cv::Vec3f>(2, 2)[0], 0.f);
    // The same plane facing away from the camera is removed by pos_mask (normal z < -0.15) in both images.
    auto tf = grid_topology(11, 0.1f, v, /*flip=*/true);
    DecaImageRenderer rf(tf);
    const DecaImages back = rf.render(v.data(), kCam);
    EXPECT_EQ(cv::countNonZero(back.shape.reshape(1)), 0);
    EXPECT_EQ(cv::countNonZero(back.nmfc.reshape(1)), 0);
}

TEST(DecaImages, DetailNormalsFollowTheDisplacement) {
    std::vector<float> v;
    auto t = grid_topology(11, 0.1f, v);
    DecaImageRenderer r(t);
    // Zero displacement on a plane: detail normals are +z and the shape equals the coarse one.
    const DecaImages flat = r.render(v.data(), kCam, cv::Mat::zeros(256, 256, CV_32F));
    EXPECT_TRUE(flat.detailed);
    const float expected = kShapeAlbedo * deca_shading(0, 0, 1);
    EXPECT_NEAR(flat.shape.at<cv::Vec3f>(112, 112)[0], expected, 1e-4);
    // A ramp along u (x): displacement d = k * column tilts the detail normal towards -x.
    cv::Mat ramp(256, 256, CV_32F);
    const float k = 0.2f / 256;  // model units per UV pixel (the plane is 0.2 wide over 256 px)
    for (int y = 0; y < 256; ++y)
        for (int x = 0; x < 256; ++x) ramp.at<float>(y, x) = k * x;
    std::vector<float> n(v.size());
    vertex_normals(v.data(), t.num_vertices, t.faces.data(), t.num_faces(), n.data());
    const cv::Mat dn = r.detail_normal_map(v.data(), n.data(), ramp);
    const cv::Vec3f c = dn.at<cv::Vec3f>(128, 128);
    EXPECT_NEAR(c[0], -1.f / std::sqrt(2.f), 0.02);  // slope 1: normal (-1, 0, 1)/sqrt 2
    EXPECT_NEAR(c[1], 0.f, 0.02);
    EXPECT_NEAR(c[2], 1.f / std::sqrt(2.f), 0.02);
    const DecaImages tilted = r.render(v.data(), kCam, ramp);
    EXPECT_NEAR(tilted.shape.at<cv::Vec3f>(112, 112)[0], kShapeAlbedo * deca_shading(c[0], c[1], c[2]), 0.01);
    EXPECT_LT(tilted.shape.at<cv::Vec3f>(112, 112)[0], expected - 0.05);
    // Outside the face-eye mask the coarse normals are kept.
    t.uv_face_eye_mask = cv::Mat::zeros(256, 256, CV_32F);
    DecaImageRenderer masked(t);
    EXPECT_NEAR(masked.render(v.data(), kCam, ramp).shape.at<cv::Vec3f>(112, 112)[0], expected, 1e-4);
}

TEST(DecaImages, DetailWithoutUvDataThrows) {
    std::vector<float> v;
    auto t = grid_topology(5, 0.1f, v);
    t.uv_faces.clear();
    t.uv_coords.clear();
    DecaImageRenderer r(t);
    EXPECT_THROW(r.render(v.data(), kCam, cv::Mat::zeros(256, 256, CV_32F)), ned::Error);
}

TEST(DecaImages, WarpToCropIsSkimageBilinearWithTform) {
    // A smooth image; the tform maps crop pixels to 224 pixels by scale + shift.
    cv::Mat img(224, 224, CV_32FC3);
    for (int y = 0; y < 224; ++y)
        for (int x = 0; x < 224; ++x) img.at<cv::Vec3f>(y, x) = cv::Vec3f(x / 224.f, y / 224.f, 0.5f);
    const float s = 0.7f, tx = 20.f, ty = -10.f;
    const cv::Matx33f tform(s, 0, tx, 0, s, ty, 0, 0, 1);
    const cv::Mat crop = deca_to_crop(img, tform, 256);
    ASSERT_EQ(crop.type(), CV_8UC3);
    // crop(100, 50): 224-space (0.7*100+20, 0.7*50-10) = (90, 25) -> (90/224, 25/224, 0.5) in BGR order.
    const cv::Vec3b p = crop.at<cv::Vec3b>(50, 100);
    EXPECT_NEAR(p[0], std::lround(90.f / 224 * 255), 1);
    EXPECT_NEAR(p[1], std::lround(25.f / 224 * 255), 1);
    EXPECT_EQ(p[2], 128);
    // Outside the 224 image: 0 (constant border); crop row 0 maps to y = -10.
    EXPECT_EQ(crop.at<cv::Vec3b>(0, 100), cv::Vec3b(0, 0, 0));
}

TEST(DecaImages, RenderThenWarpLandsWhereTformAndAlignSay) {
    // A small square of the plane rendered at 224, taken to the crop by tform^-1 and to aligned space by
    // `align`: its centroid must land at align(tform^-1(centroid in 224)).
    std::vector<float> v;
    auto t = grid_topology(3, 0.01f, v);
    DecaImageRenderer r(t);
    const float cam[3] = {8.f, 0.03f, -0.02f};  // centre at screen (0.24, 0.16) -> 224 px (138.4, 129.4)
    const DecaImages im = r.render(v.data(), cam);
    const cv::Matx33f tform(0.8f, 0, 10, 0, 0.8f, 5, 0, 0, 1);
    const cv::Mat crop = deca_to_crop(im.shape, tform, 256);
    const float a = 0.9f, th = 0.2f;
    const cv::Matx23f align(a * std::cos(th), -a * std::sin(th), 30, a * std::sin(th), a * std::cos(th), -12);
    const cv::Mat aligned = crop_to_aligned(crop, align, 256);
    cv::Mat grey;
    cv::extractChannel(aligned, grey, 0);
    const cv::Moments m = cv::moments(grey);
    ASSERT_GT(m.m00, 0);
    // Rasterizer convention: screen 0.24 -> pixel (0.24 + 1) * 112 - 0.5.
    const cv::Vec3f c224((0.24f + 1) * 112 - 0.5f, (0.16f + 1) * 112 - 0.5f, 1.f);
    const cv::Vec3f cc = tform.inv() * c224;
    const cv::Vec2f expect = align * cc;
    EXPECT_NEAR(m.m10 / m.m00, expect[0], 0.3);
    EXPECT_NEAR(m.m01 / m.m00, expect[1], 0.3);
}

TEST(DecaImages, DenseGridNormalsEqualVertexNormalsOfGenerateTriangles) {
    const int W = 40, H = 30;
    std::vector<float> g(W * H * 3);
    cv::RNG rng(5);
    for (int y = 0; y < H; ++y)
        for (int x = 0; x < W; ++x) {
            float* p = &g[3 * (y * W + x)];
            p[0] = x * 0.1f, p[1] = -y * 0.1f, p[2] = static_cast<float>(rng.uniform(-0.05, 0.05));
        }
    // DECA's generate_triangles(H, W, margin_x=2, margin_y=5), then [:, [0, 2, 1]].
    std::vector<int32_t> faces;
    for (int x = 2; x < W - 1 - 2; ++x)
        for (int y = 5; y < H - 1 - 5; ++y) {
            const int p = y * W + x;
            const int t0[3] = {p, p + 1, p + W}, t1[3] = {p + 1, p + W + 1, p + W};
            faces.insert(faces.end(), {t0[0], t0[2], t0[1], t1[0], t1[2], t1[1]});
        }
    std::vector<float> a(g.size()), b(g.size());
    vertex_normals(g.data(), W * H, faces.data(), static_cast<int64_t>(faces.size() / 3), a.data());
    dense_grid_normals(g.data(), W, H, b.data());
    for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], 1e-5) << i;
    EXPECT_EQ(b[0], 0.f);                       // corner vertex (margin) has no face
    EXPECT_GT(b[3 * (10 * W + 10) + 2], 0.9f);  // interior, +z for this winding
}

TEST(DecaImages, SurfaceNearerTheViewerWins) {
    // Two overlapping planes in model space: z = 0 and z = +0.05 (towards the viewer, +z). After DECA's z
    // negation the nearer plane has the smaller depth and must be the one visible, in either face order.
    for (int order = 0; order < 2; ++order) {
        std::vector<float> v1, v2;
        MeshTopology a = grid_topology(3, 0.1f, v1), b = grid_topology(3, 0.05f, v2);
        for (size_t i = 2; i < v2.size(); i += 3) v2[i] = 0.05f;
        MeshTopology t;
        std::vector<float> verts = order == 0 ? v1 : v2;
        const auto& second = order == 0 ? v2 : v1;
        verts.insert(verts.end(), second.begin(), second.end());
        t.num_vertices = 18;
        t.faces = a.faces;
        for (int32_t f : b.faces) t.faces.push_back(f + 9);
        // Colours: first plane's vertices 0, second plane's 1 (via a template whose z tells them apart).
        std::vector<float> tmpl(verts);
        for (int k = 0; k < 18; ++k) tmpl[3 * k + 2] = k < 9 ? 0.f : 1.f;
        t.nmfc_colors = nmfc_vertex_colors(tmpl.data(), 18);
        DecaImageRenderer r(t);
        const DecaImages im = r.render(verts.data(), kCam);
        const float near_colour = order == 0 ? 1.f : 0.f;  // z channel (B) of the z = 0.05 plane
        EXPECT_NEAR(im.nmfc.at<cv::Vec3f>(112, 112)[0], near_colour, 1e-5) << order;
        EXPECT_NEAR(im.nmfc.at<cv::Vec3f>(30, 30)[0], 1.f - near_colour, 1e-5) << order;  // only the big plane
    }
}
