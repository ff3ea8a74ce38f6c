// DECA's NMFC and shape renderings (ned-reference §4.5, §5.1, §5.2) and the warps into crop / aligned space.
#include "ned/conditioning/deca_images.hpp"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "ned/core/error.hpp"

namespace ned::conditioning {
namespace {

// DECA's render_shape light directions, normalised.
struct LightDirs {
    float d[5][3];
    LightDirs() {
        const float raw[5][3] = {{-1, 1, 1}, {1, 1, 1}, {-1, -1, 1}, {1, -1, 1}, {0, 0, 1}};
        for (int l = 0; l < 5; ++l) {
            const float n = std::sqrt(raw[l][0] * raw[l][0] + raw[l][1] * raw[l][1] + raw[l][2] * raw[l][2]);
            for (int k = 0; k < 3; ++k) d[l][k] = raw[l][k] / n;
        }
    }
};
const LightDirs kLights;

// grid_sample(bilinear, zeros padding, align_corners=False) of a CV_32FC3 map at pixel coords (x, y).
inline void sample_bilinear_zero(const cv::Mat& map, float x, float y, float out[3]) {
    const int x0 = static_cast<int>(std::floor(x)), y0 = static_cast<int>(std::floor(y));
    const float fx = x - x0, fy = y - y0;
    out[0] = out[1] = out[2] = 0.f;
    const float w[4] = {(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy};
    const int xs[4] = {x0, x0 + 1, x0, x0 + 1}, ys[4] = {y0, y0, y0 + 1, y0 + 1};
    for (int k = 0; k < 4; ++k) {
        if (xs[k] < 0 || ys[k] < 0 || xs[k] >= map.cols || ys[k] >= map.rows) continue;
        const float* p = map.ptr<float>(ys[k]) + 3 * xs[k];
        out[0] += w[k] * p[0];
        out[1] += w[k] * p[1];
        out[2] += w[k] * p[2];
    }
}

cv::Mat check_uv_map(const cv::Mat& m, const char* what) {
    if (m.empty()) return m;
    if (m.rows != kUvSize || m.cols != kUvSize || m.channels() != 1)
        throw Error(cat("[render] ", what, " must be ", kUvSize, "x", kUvSize, " single-channel, got ", m.cols, "x",
                        m.rows, "x", m.channels()));
    cv::Mat f;
    m.convertTo(f, CV_32F);
    return f;
}

}  // namespace

void vertex_normals(const float* verts, int64_t num_verts, const int32_t* faces, int64_t num_faces, float* normals) {
    std::vector<double> acc(num_verts * 3, 0.0);
    for (int64_t f = 0; f < num_faces; ++f) {
        const int32_t i0 = faces[3 * f], i1 = faces[3 * f + 1], i2 = faces[3 * f + 2];
        const float* a = verts + 3 * i0;
        const float* b = verts + 3 * i1;
        const float* c = verts + 3 * i2;
        const double e1[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]};
        const double e2[3] = {c[0] - a[0], c[1] - a[1], c[2] - a[2]};
        const double n[3] = {e1[1] * e2[2] - e1[2] * e2[1], e1[2] * e2[0] - e1[0] * e2[2],
                             e1[0] * e2[1] - e1[1] * e2[0]};
        for (int32_t v : {i0, i1, i2})
            for (int k = 0; k < 3; ++k) acc[3 * v + k] += n[k];
    }
    for (int64_t v = 0; v < num_verts; ++v) {
        const double* a = &acc[3 * v];
        const double len = std::max(std::sqrt(a[0] * a[0] + a[1] * a[1] + a[2] * a[2]), 1e-6);
        for (int k = 0; k < 3; ++k) normals[3 * v + k] = static_cast<float>(a[k] / len);
    }
}

void dense_grid_normals(const float* grid, int width, int height, float* normals) {
    // The faces of generate_triangles(h, w, 2, 5) with corners [0,2,1]: for each quad p = y*w + x,
    // (p, p+w, p+1) and (p+1, p+w, p+w+1); the same sums as vertex_normals() over those faces, without the
    // index indirection.
    const int64_t n = static_cast<int64_t>(width) * height;
    std::vector<float> acc(n * 3, 0.f);
    auto add = [&](int64_t a, int64_t b, int64_t c) {
        const float* A = grid + 3 * a;
        const float* B = grid + 3 * b;
        const float* C = grid + 3 * c;
        const float e1[3] = {B[0] - A[0], B[1] - A[1], B[2] - A[2]};
        const float e2[3] = {C[0] - A[0], C[1] - A[1], C[2] - A[2]};
        const float nx = e1[1] * e2[2] - e1[2] * e2[1], ny = e1[2] * e2[0] - e1[0] * e2[2],
                    nz = e1[0] * e2[1] - e1[1] * e2[0];
        for (int64_t v : {a, b, c}) {
            acc[3 * v] += nx;
            acc[3 * v + 1] += ny;
            acc[3 * v + 2] += nz;
        }
    };
    for (int y = 5; y < height - 1 - 5; ++y)
        for (int x = 2; x < width - 1 - 2; ++x) {
            const int64_t p = static_cast<int64_t>(y) * width + x;
            add(p, p + width, p + 1);
            add(p + 1, p + width, p + width + 1);
        }
    for (int64_t v = 0; v < n; ++v) {
        const float* a = &acc[3 * v];
        const float len = std::max(std::sqrt(a[0] * a[0] + a[1] * a[1] + a[2] * a[2]), 1e-6f);
        for (int k = 0; k < 3; ++k) normals[3 * v + k] = a[k] / len;
    }
}

std::vector<float> nmfc_vertex_colors(const float* v_template, int64_t num_verts) {
    NED_CHECK(num_verts > 0, "nmfc_vertex_colors needs vertices");
    float lo[3], hi[3];
    for (int k = 0; k < 3; ++k) lo[k] = hi[k] = v_template[k];
    for (int64_t v = 0; v < num_verts; ++v)
        for (int k = 0; k < 3; ++k) {
            lo[k] = std::min(lo[k], v_template[3 * v + k]);
            hi[k] = std::max(hi[k], v_template[3 * v + k]);
        }
    std::vector<float> c(num_verts * 3);
    for (int64_t v = 0; v < num_verts; ++v)
        for (int k = 0; k < 3; ++k) {
            const float range = hi[k] - lo[k];
            c[3 * v + k] = range > 0 ? (v_template[3 * v + k] - lo[k]) / range : 0.f;
        }
    return c;
}

float deca_shading(float nx, float ny, float nz) {
    float sum = 0.f;
    for (const auto& l : kLights.d) sum += std::clamp(nx * l[0] + ny * l[1] + nz * l[2], 0.f, 1.f);
    return sum / 5.f * kShapeLightIntensity;
}

DecaImageRenderer::DecaImageRenderer(MeshTopology topology, const DecaImageOptions& options)
    : topo_(std::move(topology)), options_(options), rasterizer_(options.raster) {
    NED_CHECK(topo_.num_vertices > 0 && !topo_.faces.empty(), "mesh topology is empty");
    NED_CHECK(static_cast<int64_t>(topo_.nmfc_colors.size()) == topo_.num_vertices * 3,
              "nmfc_colors must hold 3 values per vertex, got ", topo_.nmfc_colors.size());
    for (int32_t i : topo_.faces)
        if (i < 0 || i >= topo_.num_vertices)
            throw Error(cat("[render] mesh face uses vertex ", i, ", expected 0..", topo_.num_vertices - 1));
    topo_.fixed_displacement = check_uv_map(topo_.fixed_displacement, "fixed displacement");
    topo_.uv_face_eye_mask = check_uv_map(topo_.uv_face_eye_mask, "UV face-eye mask");
    if (!topo_.has_uv()) return;
    NED_CHECK(topo_.uv_faces.size() == topo_.faces.size(), "uv_faces must have one entry per face corner (",
              topo_.faces.size(), "), got ", topo_.uv_faces.size());
    const int64_t nvt = static_cast<int64_t>(topo_.uv_coords.size() / 2);
    // world2uv: the UV layout as a mesh at positions (2u-1, 1-2v) (DECA's uvcoords with y flipped).
    std::vector<float> uv_pos(nvt * 3);
    for (int64_t t = 0; t < nvt; ++t) {
        uv_pos[3 * t] = 2.f * topo_.uv_coords[2 * t] - 1.f;
        uv_pos[3 * t + 1] = 1.f - 2.f * topo_.uv_coords[2 * t + 1];
        uv_pos[3 * t + 2] = 0.f;
    }
    rasterizer_.rasterize(uv_pos.data(), nvt, topo_.uv_faces.data(), topo_.num_faces(), kUvSize, kUvSize, uv_frags_);
}

cv::Mat DecaImageRenderer::detail_normal_map(const float* verts, const float* normals,
                                             const cv::Mat& uv_displacement) const {
    if (!topo_.has_uv()) throw Error("[render] detailed shape needs UV data (uv_coords/uv_faces) in the FLAME asset");
    cv::Mat disp = check_uv_map(uv_displacement, "UV displacement");
    const int n = kUvSize * kUvSize;
    std::vector<float> uv_v(n * 3), uv_n(n * 3);
    interpolate_vertex_attributes(uv_frags_, topo_.faces.data(), verts, 3, uv_v.data());
    interpolate_vertex_attributes(uv_frags_, topo_.faces.data(), normals, 3, uv_n.data());
    const float* mask = topo_.uv_face_eye_mask.empty() ? nullptr : topo_.uv_face_eye_mask.ptr<float>();
    const float* fixed = topo_.fixed_displacement.empty() ? nullptr : topo_.fixed_displacement.ptr<float>();
    const float* d = disp.ptr<float>();
    std::vector<float> dense(n * 3);
    for (int p = 0; p < n; ++p) {
        const float m = mask ? mask[p] : 1.f;
        const float off = d[p] * m + (fixed ? fixed[p] : 0.f);
        for (int k = 0; k < 3; ++k) dense[3 * p + k] = uv_v[3 * p + k] + off * uv_n[3 * p + k];
    }
    cv::Mat out(kUvSize, kUvSize, CV_32FC3);
    float* o = out.ptr<float>();
    dense_grid_normals(dense.data(), kUvSize, kUvSize, o);
    for (int p = 0; p < n; ++p) {
        const float m = mask ? mask[p] : 1.f;
        for (int k = 0; k < 3; ++k) o[3 * p + k] = o[3 * p + k] * m + uv_n[3 * p + k] * (1.f - m);
    }
    return out;
}

DecaImages DecaImageRenderer::render(const float* verts, const float cam[3], const cv::Mat& uv_displacement) const {
    const int64_t nv = topo_.num_vertices, nf = topo_.num_faces();
    const int S = options_.image_size;
    // DECA's trans_verts: s * (X + t), then y and z negated.
    std::vector<float> tv(nv * 3);
    for (int64_t v = 0; v < nv; ++v) {
        tv[3 * v] = cam[0] * (verts[3 * v] + cam[1]);
        tv[3 * v + 1] = -cam[0] * (verts[3 * v + 1] + cam[2]);
        tv[3 * v + 2] = -cam[0] * verts[3 * v + 2];
    }
    Fragments frags;
    rasterizer_.rasterize(tv.data(), nv, topo_.faces.data(), nf, S, S, frags);

    std::vector<float> wn(nv * 3), tn(nv * 3);
    vertex_normals(verts, nv, topo_.faces.data(), nf, wn.data());
    vertex_normals(tv.data(), nv, topo_.faces.data(), nf, tn.data());

    DecaImages out;
    out.detailed = !uv_displacement.empty();
    cv::Mat detail;
    if (out.detailed) detail = detail_normal_map(verts, wn.data(), uv_displacement);

    out.nmfc = cv::Mat::zeros(S, S, CV_32FC3);
    out.shape = cv::Mat::zeros(S, S, CV_32FC3);
    const int32_t* F = topo_.faces.data();
    const float* C = topo_.nmfc_colors.data();
    for (int y = 0; y < S; ++y) {
        float* nm = out.nmfc.ptr<float>(y);
        float* sh = out.shape.ptr<float>(y);
        for (int x = 0; x < S; ++x) {
            const int64_t p = static_cast<int64_t>(y) * S + x;
            const int32_t f = frags.face[p];
            if (f < 0) continue;
            const float* b = &frags.bary[3 * p];
            const int32_t i0 = F[3 * f], i1 = F[3 * f + 1], i2 = F[3 * f + 2];
            // pos_mask: interpolated transformed-normal z < 0.15 (faces turned away are dropped).
            const float tz = b[0] * tn[3 * i0 + 2] + b[1] * tn[3 * i1 + 2] + b[2] * tn[3 * i2 + 2];
            if (!(tz < 0.15f)) continue;
            float c[3];
            for (int k = 0; k < 3; ++k) c[k] = b[0] * C[3 * i0 + k] + b[1] * C[3 * i1 + k] + b[2] * C[3 * i2 + k];
            nm[3 * x] = c[2];  // BGR: B = z, G = y, R = x
            nm[3 * x + 1] = c[1];
            nm[3 * x + 2] = c[0];
            float n[3];
            if (out.detailed) {
                const int32_t* uf = &topo_.uv_faces[3 * f];
                const float* U = topo_.uv_coords.data();
                const float u = b[0] * U[2 * uf[0]] + b[1] * U[2 * uf[1]] + b[2] * U[2 * uf[2]];
                const float v = b[0] * U[2 * uf[0] + 1] + b[1] * U[2 * uf[1] + 1] + b[2] * U[2 * uf[2] + 1];
                // grid (2u-1, 1-2v), align_corners=False -> pixel (u*W - 0.5, (1-v)*H - 0.5).
                sample_bilinear_zero(detail, u * kUvSize - 0.5f, (1.f - v) * kUvSize - 0.5f, n);
            } else {
                for (int k = 0; k < 3; ++k)
                    n[k] = b[0] * wn[3 * i0 + k] + b[1] * wn[3 * i1 + k] + b[2] * wn[3 * i2 + k];
            }
            const float s = kShapeAlbedo * deca_shading(n[0], n[1], n[2]);
            sh[3 * x] = sh[3 * x + 1] = sh[3 * x + 2] = s;
        }
    }
    return out;
}

cv::Mat deca_to_crop(const cv::Mat& deca_image, const cv::Matx33f& tform, int crop_size) {
    NED_CHECK(deca_image.depth() == CV_32F && deca_image.channels() <= 4,
              "deca_to_crop expects a float image of 1-4 channels, got type ", deca_image.type());
    const int C = deca_image.channels();
    cv::Mat src = deca_image.isContinuous() ? deca_image : deca_image.clone();
    cv::Mat out(crop_size, crop_size, CV_8UC(C));
    const int W = src.cols, H = src.rows;
    const float* base = src.ptr<float>();
    const float zero[4] = {0, 0, 0, 0};
    auto at = [&](int r, int c) -> const float* {  // skimage mode='constant', cval=0
        return (r < 0 || c < 0 || r >= H || c >= W) ? zero : base + (static_cast<int64_t>(r) * W + c) * C;
    };
    for (int y = 0; y < crop_size; ++y) {
        uint8_t* o = out.ptr<uint8_t>(y);
        for (int x = 0; x < crop_size; ++x) {
            const double cx = tform(0, 0) * x + tform(0, 1) * y + tform(0, 2);
            const double cy = tform(1, 0) * x + tform(1, 1) * y + tform(1, 2);
            const int c0 = static_cast<int>(std::floor(cx)), r0 = static_cast<int>(std::floor(cy));
            const double dc = cx - c0, dr = cy - r0;
            const float *p00 = at(r0, c0), *p01 = at(r0, c0 + 1), *p10 = at(r0 + 1, c0), *p11 = at(r0 + 1, c0 + 1);
            for (int k = 0; k < C; ++k) {
                const double top = (1 - dc) * p00[k] + dc * p01[k];
                const double bot = (1 - dc) * p10[k] + dc * p11[k];
                const double v = std::clamp((1 - dr) * top + dr * bot, 0.0, 1.0);
                o[C * x + k] = static_cast<uint8_t>(std::lround(v * 255.0));
            }
        }
    }
    return out;
}

cv::Mat crop_to_aligned(const cv::Mat& crop_image, const cv::Matx23f& align, int size) {
    cv::Mat out;
    cv::warpAffine(crop_image, out, cv::Mat(align), cv::Size(size, size), cv::INTER_LANCZOS4, cv::BORDER_CONSTANT,
                   cv::Scalar::all(0));
    return out;
}

}  // namespace ned::conditioning
