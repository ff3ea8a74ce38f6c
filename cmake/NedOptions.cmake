# User-facing build options. Each is echoed in the configure summary.
option(NED_BUILD_TESTS "Build the GoogleTest suite" ${PROJECT_IS_TOP_LEVEL})
option(NED_BUILD_BENCH "Build the benchmark programs in bench/" ON)
option(NED_WARNINGS_AS_ERRORS "Treat compiler warnings as errors" OFF)
option(NED_NATIVE "Compile with -march=native (dlib HOG gains ~20%)" OFF)
option(NED_USE_PCH "Use a precompiled header for LibTorch" ON)
option(NED_LONG_TESTS "Also register tests that take CPU-minutes (renderer learning on real footage)" OFF)
set(NED_CUDA AUTO CACHE STRING "Compile ned's CUDA code (rasterizer, NCCL): AUTO = when LibTorch has CUDA and nvcc is found")
set_property(CACHE NED_CUDA PROPERTY STRINGS AUTO ON OFF)
set(NED_CUDA_ARCHS "7.5;8.0;8.6;8.9;9.0;10.0;12.0+PTX" CACHE STRING
    "GPU architectures for ned's CUDA code (TORCH_CUDA_ARCH_LIST syntax; scripts/gpu_check.sh uses 9.0 only)")
option(NED_NETS_ONLY "Build only the torch-only layer (networks, numerics, their tests): no OpenCV, FFmpeg or dlib" OFF)
set(NED_DEPS_DIR "${PROJECT_SOURCE_DIR}/.deps" CACHE PATH
    "NED_NETS_ONLY: copies of spdlog, fmt, nlohmann-json, gloo and googletest for a bare machine (scripts/gpu_check.sh --pack)")
set(NED_DEPS_FROM auto CACHE STRING
    "NED_NETS_ONLY: spdlog, fmt, nlohmann-json, gloo, GoogleTest from the system, from NED_DEPS_DIR (bundled), or auto (each from the system when found)")
set_property(CACHE NED_DEPS_FROM PROPERTY STRINGS auto system bundled)
option(NED_SANITIZE "Instrument ned's own code with AddressSanitizer + UndefinedBehaviorSanitizer (scripts/sanitize.sh)" OFF)

find_program(NED_CCACHE ccache)
if(NED_CCACHE)
  set(CMAKE_CXX_COMPILER_LAUNCHER ${NED_CCACHE})
endif()

message(STATUS "ned: tests=${NED_BUILD_TESTS} bench=${NED_BUILD_BENCH} werror=${NED_WARNINGS_AS_ERRORS} "
               "native=${NED_NATIVE} pch=${NED_USE_PCH} sanitize=${NED_SANITIZE} ccache=${NED_CCACHE} cuda=${NED_CUDA} "
               "nets_only=${NED_NETS_ONLY}")
