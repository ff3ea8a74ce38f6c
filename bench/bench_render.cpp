// Benchmark of the conditioning renderer without FLAME/DECA weights: a synthetic sphere-cap mesh of FLAME's
// size (73 x 69 grid = 5037 vertices, 9792 triangles, with UV data) rendered like one NED frame:
// NMFC + shape (coarse and detailed) at 224, both warped to the 256 crop and to aligned space, plus the
// eye image. Prints ms per frame for 1 thread, the rasterizer alone (1 and 2 threads) and the throughput
// with 2 frames in parallel. Usage: bench_render [ignored data dir]
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <thread>
#include <vector>

#include "ned/conditioning/conditioning.hpp"
#include "ned/conditioning/deca_images.hpp"
#include "ned/conditioning/rasterizer.hpp"

using namespace ned::conditioning;
using Clock = std::chrono::steady_clock;

namespace {

struct Sphere {
    MeshTopology topo;
    std::vector<float> verts;
};

Sphere make_sphere(int G = 73, int H = 69) {
    Sphere s;
    s.topo.num_vertices = G * H;
    for (int r = 0; r < H; ++r)
        for (int c = 0; c < G; ++c) {
            const float lat = -1.2f + 2.4f * r / (H - 1), lon = -1.3f + 2.6f * c / (G - 1);
            const float R = 0.1f;
            s.verts.insert(s.verts.end(),
                           {R * std::cos(lat) * std::sin(lon), -R * std::sin(lat), R * std::cos(lat) * std::cos(lon)});
            s.topo.uv_coords.insert(s.topo.uv_coords.end(), {float(c) / (G - 1), 1.f - float(r) / (H - 1)});
        }
    for (int r = 0; r + 1 < H; ++r)
        for (int c = 0; c + 1 < G; ++c) {
            const int p = r * G + c;
            s.topo.faces.insert(s.topo.faces.end(), {p, p + G, p + 1, p + 1, p + G, p + G + 1});
        }
    s.topo.uv_faces = s.topo.faces;
    s.topo.nmfc_colors = nmfc_vertex_colors(s.verts.data(), s.topo.num_vertices);
    s.topo.uv_face_eye_mask = cv::Mat::ones(256, 256, CV_32F);
    s.topo.fixed_displacement = cv::Mat::zeros(256, 256, CV_32F);
    return s;
}

template <typename Fn>
double best_ms(int reps, Fn fn) {
    double best = 1e30;
    for (int k = 0; k < reps; ++k) {
        const auto t0 = Clock::now();
        fn();
        best = std::min(best, std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    return best;
}

}  // namespace

int main() {
    const Sphere s = make_sphere();
    std::printf("mesh: %lld vertices, %lld triangles; DECA 224 -> crop 256 -> aligned 256\n",
                static_cast<long long>(s.topo.num_vertices), static_cast<long long>(s.topo.num_faces()));
    const float cam[3] = {8.f, 0.f, 0.f};
    const cv::Matx33f tform(0.85f, 0, 2, 0, 0.85f, 1, 0, 0, 1);
    const cv::Matx23f align(0.95f, -0.05f, 8, 0.05f, 0.95f, -4);
    cv::Mat disp(256, 256, CV_32F);
    cv::randu(disp, -0.002, 0.002);
    EyePoints eyes;
    for (int k = 0; k < 6; ++k) {
        eyes.left[k] = {90.f + 5 * k, 110.f + (k % 2 ? 5.f : -5.f)};
        eyes.right[k] = {150.f + 5 * k, 110.f + (k % 2 ? 5.f : -5.f)};
    }
    eyes.left_pupil = {100, 110};
    eyes.right_pupil = {160, 110};

    for (int threads : {1, 2}) {
        Rasterizer r(RasterizerOptions{RasterBackend::Cpu, threads});
        std::vector<float> tv(s.verts.size());
        for (size_t i = 0; i < tv.size(); i += 3)
            tv[i] = 8 * s.verts[i], tv[i + 1] = -8 * s.verts[i + 1], tv[i + 2] = -8 * s.verts[i + 2];
        Fragments fr;
        const double ms224 = best_ms(50, [&] {
            r.rasterize(tv.data(), s.topo.num_vertices, s.topo.faces.data(), s.topo.num_faces(), 224, 224, fr);
        });
        const double ms256 = best_ms(50, [&] {
            r.rasterize(tv.data(), s.topo.num_vertices, s.topo.faces.data(), s.topo.num_faces(), 256, 256, fr);
        });
        std::printf("rasterize only, %d thread(s): %.3f ms at 224^2, %.3f ms at 256^2 (%lld px covered)\n", threads,
                    ms224, ms256, static_cast<long long>(fr.num_covered()));
    }

    DecaImageOptions o1;
    o1.raster.threads = 1;
    const DecaImageRenderer renderer(s.topo, o1);
    auto frame = [&](bool detailed) {
        const DecaImages im = renderer.render(s.verts.data(), cam, detailed ? disp : cv::Mat());
        return conditioning_from_deca(im, tform, align, eyes, 256).nmfc.rows;
    };
    const double coarse = best_ms(20, [&] { frame(false); });
    const double detailed = best_ms(20, [&] { frame(true); });
    std::printf("one frame, 1 thread: NMFC + coarse shape + eyes (+ warps) %.2f ms; with detailed shape %.2f ms\n",
                coarse, detailed);
    const DecaImages im = renderer.render(s.verts.data(), cam, disp);
    cv::Mat packed;
    cv::merge(std::vector<cv::Mat>{im.nmfc, cv::Mat(224, 224, CV_32F, cv::Scalar(0.5))}, packed);
    std::printf(
        "  parts: render 224 coarse %.2f ms, detailed %.2f ms; deca_to_crop (4 ch) %.2f ms; crop_to_aligned "
        "(Lanczos4, 4 ch) %.2f ms; eye image %.3f ms\n",
        best_ms(20, [&] { renderer.render(s.verts.data(), cam); }),
        best_ms(20, [&] { renderer.render(s.verts.data(), cam, disp); }),
        best_ms(20, [&] { deca_to_crop(packed, tform, 256); }),
        best_ms(20, [&] { crop_to_aligned(deca_to_crop(packed, tform, 256), align, 256); }) -
            best_ms(20, [&] { deca_to_crop(packed, tform, 256); }),
        best_ms(20, [&] { ned::face::draw_eye_image(transform_eye_points(eyes, align), 256); }));

    // Accuracy of composing the two warps into one Lanczos4 warp (224 -> aligned with align * tform^-1),
    // against the faithful bilinear -> u8 -> Lanczos4 chain.
    {
        const cv::Mat two = crop_to_aligned(deca_to_crop(im.nmfc, tform, 256), align, 256);
        const cv::Matx33f A(align(0, 0), align(0, 1), align(0, 2), align(1, 0), align(1, 1), align(1, 2), 0, 0, 1);
        const cv::Matx33f C = A * tform.inv();
        cv::Mat f, one;
        cv::warpAffine(im.nmfc, f, cv::Mat(cv::Matx23f(C(0, 0), C(0, 1), C(0, 2), C(1, 0), C(1, 1), C(1, 2))),
                       cv::Size(256, 256), cv::INTER_LANCZOS4, cv::BORDER_CONSTANT, cv::Scalar::all(0));
        f.convertTo(one, CV_8UC3, 255.0);
        cv::Mat d;
        cv::absdiff(two, one, d);
        double mx;
        cv::minMaxLoc(d.reshape(1), nullptr, &mx);
        std::printf(
            "composed single Lanczos4 warp vs bilinear+Lanczos4 chain (NMFC): max |diff| %.0f, mean %.3f "
            "levels, %.2f%% of values differ by > 1\n",
            mx, cv::mean(d.reshape(1))[0], 100.0 * cv::countNonZero(d.reshape(1) > 1) / (256.0 * 256 * 3));
    }

    // Throughput: 2 worker threads, each rendering whole frames (as `ned render-inputs` does).
    for (bool det : {false, true}) {
        const int N = 40;
        const auto t0 = Clock::now();
        std::thread other([&] {
            for (int k = 0; k < N / 2; ++k) frame(det);
        });
        for (int k = 0; k < N / 2; ++k) frame(det);
        other.join();
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        std::printf("throughput, 2 frames in parallel (%s shape): %.2f ms per frame (%.0f frames/s)\n",
                    det ? "detailed" : "coarse", ms / N, 1000.0 * N / ms);
    }
    return 0;
}
