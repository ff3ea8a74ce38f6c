// CPU features for ned's precision choices and `ned --version`; see include/ned/core/cpu_features.hpp.
#include "ned/core/cpu_features.hpp"

#include <ATen/Version.h>
#include <torch/version.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>

#include "ned/core/error.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define NED_X86 1
#endif

namespace ned::cpu {
namespace {

#ifdef NED_X86
unsigned long long xgetbv0() {
    unsigned eax = 0, edx = 0;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return (static_cast<unsigned long long>(edx) << 32) | eax;
}
#endif

Features detect() {
    Features f;
#ifdef NED_X86
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
    const bool osxsave = (c >> 27) & 1;
    const unsigned long long xcr0 = osxsave ? xgetbv0() : 0;
    const bool ymm = (xcr0 & 0x6) == 0x6;            // SSE + AVX state
    const bool zmm = ymm && (xcr0 & 0xe0) == 0xe0;   // opmask + ZMM state
    const bool tiles = (xcr0 & 0x60000) == 0x60000;  // XTILECFG + XTILEDATA
    unsigned max_leaf = __get_cpuid_max(0, nullptr);
    if (max_leaf >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        f.avx2 = ymm && ((b >> 5) & 1);
        f.avx512f = zmm && ((b >> 16) & 1);
        f.amx_bf16 = tiles && ((d >> 22) & 1) && ((d >> 24) & 1);
        __cpuid_count(7, 1, a, b, c, d);
        f.avx512_bf16 = f.avx512f && ((a >> 5) & 1);
    }
    if (__get_cpuid_max(0x80000000, nullptr) >= 0x80000004) {
        char brand[49] = {};
        for (unsigned i = 0; i < 3; ++i) {
            unsigned r[4];
            __get_cpuid(0x80000002 + i, &r[0], &r[1], &r[2], &r[3]);
            std::memcpy(brand + 16 * i, r, 16);
        }
        f.model = brand;
        while (!f.model.empty() && f.model.back() == ' ') f.model.pop_back();
        f.model.erase(0, f.model.find_first_not_of(' '));
    }
#endif
    return f;
}

}  // namespace

const Features& features() {
    static const Features f = detect();
    return f;
}

std::string extensions_string(const Features& f) {
    std::string s;
    auto add = [&](bool on, const char* name) {
        if (!on) return;
        if (!s.empty()) s += ' ';
        s += name;
    };
    add(f.avx2, "AVX2");
    add(f.avx512f, "AVX-512F");
    add(f.avx512_bf16, "AVX512-BF16");
    add(f.amx_bf16, "AMX-BF16");
    return s.empty() ? "none" : s;
}

std::string onednn_isa_cap() {
    const char* v = std::getenv("ONEDNN_MAX_CPU_ISA");
    if (!v || !*v) v = std::getenv("DNNL_MAX_CPU_ISA");
    std::string s = v ? v : "";
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char ch) { return std::toupper(ch); });
    return s;
}

std::string aten_capability() {
#if TORCH_VERSION_MAJOR >= 2
    return at::get_cpu_capability();
#else  // LibTorch 1.13: only inside show_config()
    const std::string cfg = at::show_config(), key = "CPU capability usage: ";
    const auto p = cfg.find(key);
    if (p == std::string::npos) return "unknown";
    return cfg.substr(p + key.size(), cfg.find('\n', p) - p - key.size());
#endif
}

bool native_bf16() {
    const Features& f = features();
    if (!f.avx512_bf16 && !f.amx_bf16) return false;
    // oneDNN's ISA names in increasing order; a cap below AVX512_CORE_BF16 takes the bf16 instructions away.
    const std::string cap = onednn_isa_cap();
    static const char* kBelow[] = {"SSE41",           "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE",
                                   "AVX512_CORE_VNNI"};
    for (const char* b : kBelow)
        if (cap == b) return false;
    return true;
}

void require_native_bf16(const std::string& field) {
    if (native_bf16()) return;
    const std::string cap = onednn_isa_cap();
    throw OptionError(field, cat(" bf16: this CPU has no native bf16 (AVX512-BF16 or AMX",
                                 cap.empty() ? std::string() : cat("; oneDNN is capped at ", cap),
                                 "), so bf16 would be emulated: many times slower than fp32 and visibly off; use "
                                 "fp32 here (or bf16 on a CUDA device)"));
}

}  // namespace ned::cpu
