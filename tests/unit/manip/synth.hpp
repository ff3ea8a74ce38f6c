#pragma once
// Synthetic reconstructions for the manipulator tests: expression vectors of a domain differ from the
// neutral ones by a known offset; the jaw follows a shared random "speech" signal.
#include <cmath>
#include <random>

#include "ned/recon/reconstruction.hpp"

namespace ned::test {

inline std::vector<float> speech_signal(int T, std::mt19937& rng) {
    std::normal_distribution<float> n(0.f, 1.f);
    std::vector<float> s(T);
    float v = 0, a = 0;
    for (int t = 0; t < T; ++t) {  // smooth random signal: integrated, damped noise
        a = 0.7f * a + 0.3f * n(rng);
        v = 0.8f * v + 0.2f * a;
        s[t] = v;
    }
    float m = 0, sd = 0;
    for (auto x : s) m += x;
    m /= T;
    for (auto x : s) sd += (x - m) * (x - m);
    sd = std::sqrt(sd / T) + 1e-6f;
    for (auto& x : s) x = (x - m) / sd;
    return s;
}

/// T frames; exp[k] = offset[k] + small noise; pose[3] = 0.15 + 0.08*speech; other blocks filled too.
inline recon::Reconstruction synth_recon(int T, const std::vector<float>& offset, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> n(0.f, 1.f);
    recon::Reconstruction r;
    r.source = "synthetic.mp4";
    r.fps = "30/1";
    r.method = "deca";
    r.valid.assign(T, 1);
    auto& exp = r.ensure("exp");
    auto& pose = r.ensure("pose");
    auto& shape = r.ensure("shape");
    auto& cam = r.ensure("cam");
    const auto sp = speech_signal(T, rng);
    for (int t = 0; t < T; ++t) {
        for (int k = 0; k < 50; ++k)
            exp.row(t)[k] = (k < static_cast<int>(offset.size()) ? offset[k] : 0.f) + 0.05f * n(rng);
        for (int k = 0; k < 6; ++k) pose.row(t)[k] = 0.1f * n(rng);
        pose.row(t)[3] = 0.15f + 0.08f * sp[t];
        for (int k = 0; k < 100; ++k) shape.row(t)[k] = 0.01f * k;
        cam.row(t)[0] = 9.f;
    }
    return r;
}

inline double pearson(const std::vector<double>& a, const std::vector<double>& b) {
    double ma = 0, mb = 0;
    for (size_t i = 0; i < a.size(); ++i) ma += a[i], mb += b[i];
    ma /= a.size();
    mb /= b.size();
    double sab = 0, saa = 0, sbb = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        sab += (a[i] - ma) * (b[i] - mb);
        saa += (a[i] - ma) * (a[i] - ma);
        sbb += (b[i] - mb) * (b[i] - mb);
    }
    return sab / std::sqrt(saa * sbb);
}

}  // namespace ned::test
