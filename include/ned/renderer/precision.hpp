#pragma once
// The arithmetic the neural renderer runs in (`--precision` of render, train-renderer, translate and style).
namespace ned::renderer {

/// fp32, or reduced precision: bf16 (CPUs with native bf16, CUDA) or fp16 (CUDA only).
enum class Precision { Fp32, Bf16, Fp16 };
/// "fp32" | "bf16" | "fp16": the spelling of --precision, of the stage key and of the training state.
const char* precision_name(Precision p);

}  // namespace ned::renderer
