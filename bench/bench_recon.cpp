// Benchmark of the recon stage (not a test): FLAME forward, DECA encode (random weights: the shapes are what
// matter) and FLAME landmark fitting, per frame, on `--threads` torch threads (default 2).
//   bench_recon [threads]
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "ned/core/safetensors.hpp"
#include "ned/core/torch_util.hpp"
#include "ned/recon/deca.hpp"
#include "ned/recon/fit.hpp"
#include "ned/recon/flame.hpp"

using namespace ned;
using namespace ned::recon;
using Clock = std::chrono::steady_clock;

// A FLAME-sized synthetic asset (5023 vertices, 9976 faces) with smooth dynamic contour entries.
static st::File flame_sized_asset() {
    const int64_t V = 5023, F = 9976;
    torch::manual_seed(0);
    auto f32 = torch::kFloat32;
    st::File f;
    f.metadata = {{"format", "ned.flame"}, {"version", "1"}};
    f.tensors["v_template"] = from_torch((torch::rand({V, 3}, f32) - 0.5) * 0.2);
    f.tensors["faces"] = from_torch(torch::randint(0, V, {F, 3}).to(torch::kLong));
    f.tensors["shapedirs"] = from_torch(torch::randn({V, 3, 300}, f32) * 0.001);
    f.tensors["exprdirs"] = from_torch(torch::randn({V, 3, 100}, f32) * 0.001);
    f.tensors["posedirs"] = from_torch(torch::randn({V, 3, 36}, f32) * 0.001);
    f.tensors["J_regressor"] = from_torch(torch::softmax(torch::randn({5, V}, f32), 1));
    f.tensors["lbs_weights"] = from_torch(torch::softmax(torch::randn({V, 5}, f32) * 3, 1));
    f.tensors["parents"] = st::Tensor::i64({5}, {-1, 0, 1, 1, 1});
    auto bary = [&](std::vector<int64_t> s) {
        s.push_back(3);
        auto b = torch::rand(s, f32) + 0.05;
        return b / b.sum(-1, true);
    };
    f.tensors["static_lmk_faces_idx"] = from_torch(torch::randint(0, F, {51}).to(torch::kLong));
    f.tensors["static_lmk_bary_coords"] = from_torch(bary({51}));
    f.tensors["dynamic_lmk_faces_idx"] =
        from_torch(torch::randint(0, F, {1, 17}).to(torch::kLong).expand({79, 17}).contiguous());
    f.tensors["dynamic_lmk_bary_coords"] = from_torch(bary({1, 17}).expand({79, 17, 3}).contiguous());
    f.tensors["full_lmk_faces_idx"] = from_torch(torch::randint(0, F, {68}).to(torch::kLong));
    f.tensors["full_lmk_bary_coords"] = from_torch(bary({68}));
    return f;
}

template <typename Fn>
static double time_ms(int reps, Fn fn) {
    fn();  // warm-up
    auto t0 = Clock::now();
    for (int i = 0; i < reps; ++i) fn();
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count() / reps;
}

int main(int argc, char** argv) {
    const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
    set_torch_threads(threads);
    std::printf("bench_recon: torch threads %d\n", threads);
    torch::NoGradGuard ng;
    auto flame = FlameModel::from_file(flame_sized_asset());
    for (int64_t B : {1, 8, 32}) {
        auto shape = torch::randn({B, 100}), exp = torch::randn({B, 50}), pose = torch::randn({B, 6}) * 0.2;
        double ms = time_ms(B == 1 ? 50 : 10, [&] { flame.forward(shape, exp, pose); });
        std::printf("FLAME forward  batch %2ld: %8.2f ms/batch  %7.2f ms/frame\n", long(B), ms, ms / B);
    }
    DecaModel deca;
    for (int64_t B : {1, 2, 4, 8}) {
        auto img = torch::rand({B, 3, 224, 224});
        double ms = time_ms(2, [&] { deca.encode(img, true); });
        std::printf("DECA encode (E_flame+E_detail) batch %ld: %8.1f ms/batch  %7.1f ms/frame\n", long(B), ms, ms / B);
        double ms2 = time_ms(2, [&] { deca.encode(img, false); });
        std::printf("DECA encode (E_flame only)     batch %ld: %8.1f ms/batch  %7.1f ms/frame\n", long(B), ms2,
                    ms2 / B);
    }
    {
        auto d = torch::randn({8, 128}), e = torch::randn({8, 50}), j = torch::randn({8, 3});
        double ms = time_ms(3, [&] { deca.decode_detail(d, e, j); });
        std::printf("D_detail batch 8: %8.1f ms/batch  %7.1f ms/frame\n", ms, ms / 8);
    }
    {
        torch::GradMode::set_enabled(true);
        const int64_t T = 64;
        auto w = (torch::arange(T, torch::kFloat32) / (T - 1)).unsqueeze(1);
        auto shape = torch::randn({1, 100}) * 0.5;
        auto exp = torch::randn({1, 50}) * 0.5 * (1 - w) + torch::randn({1, 50}) * 0.5 * w;
        auto pose = (torch::rand({1, 6}) - 0.5) * 0.2 * (1 - w) + (torch::rand({1, 6}) - 0.5) * 0.2 * w;
        auto cam = torch::tensor({{8.0f, 0.0f, 0.0f}}).repeat({T, 1});
        torch::Tensor px;
        {
            torch::NoGradGuard g;
            auto out = flame.forward(shape.expand({T, -1}), exp, pose);
            px = ndc_to_pixels(image_coords(out.landmarks2d, cam), 224) + 16.0;
        }
        std::vector<face::Landmarks> lmk(T);
        for (int64_t t = 0; t < T; ++t)
            for (int l = 0; l < 68; ++l) lmk[t][l] = cv::Point2f(px[t][l][0].item<float>(), px[t][l][1].item<float>());
        auto t0 = Clock::now();
        auto r = fit_landmarks(flame, lmk, std::vector<uint8_t>(T, 1));
        double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        std::printf("fit %ld frames (default options): %8.0f ms total  %7.1f ms/frame  error %.3f px\n", long(T), ms,
                    ms / T, r.mean_error_px);
    }
    return 0;
}
