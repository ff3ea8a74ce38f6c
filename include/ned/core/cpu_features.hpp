#pragma once
// What this CPU can do for the networks, and what LibTorch will actually use of it (torch-only, no OpenCV).
//
// `native_bf16()` decides whether bf16 on the CPU is real: the CPU has AVX512-BF16 or AMX-BF16 (CPUID, with the
// OS saving the AVX-512 state), and oneDNN, which runs the convolutions, is not capped below its bf16 ISA by
// ONEDNN_MAX_CPU_ISA / DNNL_MAX_CPU_ISA. Without it oneDNN/ATen emulate bf16: ~20x slower than fp32 and, on
// AVX2-only machines, outputs up to ~0.3 off in [-1,1] (35 grey levels) -- so ned refuses bf16 there
// (require_native_bf16) instead of handing out such images.
#include <string>

namespace ned::cpu {

struct Features {
    std::string model;  ///< "Intel(R) Xeon(R) ..." (CPUID brand string), "" when unknown
    bool avx2 = false;
    bool avx512f = false;
    bool avx512_bf16 = false;
    bool amx_bf16 = false;  ///< AMX tiles with bf16 (CPUID and the OS's XCR0 tile state)
};

/// The running CPU (CPUID + XGETBV; all false on non-x86 builds).
const Features& features();

/// "AVX2 AVX-512F AVX512-BF16 AMX-BF16" (the extensions present, in that order), "none" when none.
std::string extensions_string(const Features& f);

/// The ISA cap oneDNN was given through ONEDNN_MAX_CPU_ISA (or DNNL_MAX_CPU_ISA), upper-case; "" when none.
std::string onednn_isa_cap();

/// ATen's CPU kernel level in use ("AVX512", "AVX2", "DEFAULT"; follows ATEN_CPU_CAPABILITY).
std::string aten_capability();

/// bf16 runs natively on this CPU (see the header comment).
bool native_bf16();

/// Throws an OptionError (exit 2) naming the options field `field` (e.g. "RenderOptions::precision") when bf16
/// on the CPU would be emulated.
void require_native_bf16(const std::string& field);

}  // namespace ned::cpu
