#pragma once
// float32 on CUDA as exact as on the CPU for the CUDA-vs-CPU tests: no TF32 in cuDNN's convolutions and LSTMs or in
// cuBLAS's matrix products while this guard lives (restored on exit).
#include <ATen/Context.h>

namespace ned::test {

struct NoTf32 {
    bool cudnn = at::globalContext().allowTF32CuDNN(), cublas = at::globalContext().allowTF32CuBLAS();
    NoTf32() {
        at::globalContext().setAllowTF32CuDNN(false);
        at::globalContext().setAllowTF32CuBLAS(false);
    }
    ~NoTf32() {
        at::globalContext().setAllowTF32CuDNN(cudnn);
        at::globalContext().setAllowTF32CuBLAS(cublas);
    }
    NoTf32(const NoTf32&) = delete;
    NoTf32& operator=(const NoTf32&) = delete;
};

}  // namespace ned::test
