# User-facing build options. Each is echoed in the configure summary.
option(NED_BUILD_TESTS "Build the GoogleTest suite" ${PROJECT_IS_TOP_LEVEL})
option(NED_BUILD_BENCH "Build the benchmark programs in bench/" ON)
option(NED_WARNINGS_AS_ERRORS "Treat compiler warnings as errors" OFF)
option(NED_NATIVE "Compile with -march=native (dlib HOG gains ~20%)" OFF)
option(NED_USE_PCH "Use a precompiled header for LibTorch" ON)
option(NED_LONG_TESTS "Also register tests that take CPU-minutes (renderer learning on real footage)" OFF)
option(NED_SANITIZE "Instrument ned's own code with AddressSanitizer + UndefinedBehaviorSanitizer (scripts/sanitize.sh)" OFF)

find_program(NED_CCACHE ccache)
if(NED_CCACHE)
  set(CMAKE_CXX_COMPILER_LAUNCHER ${NED_CCACHE})
endif()

message(STATUS "ned: tests=${NED_BUILD_TESTS} bench=${NED_BUILD_BENCH} werror=${NED_WARNINGS_AS_ERRORS} "
               "native=${NED_NATIVE} pch=${NED_USE_PCH} sanitize=${NED_SANITIZE} ccache=${NED_CCACHE}")
