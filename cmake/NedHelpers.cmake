# ned_set_warnings(<target>): target-scoped warnings.
function(ned_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare)
  if(NED_WARNINGS_AS_ERRORS)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  if(NED_NATIVE)
    target_compile_options(${target} PRIVATE -march=native)
  endif()
  # ASan + UBSan on every ned target (libraries, the binary, the tests); the link flag is PUBLIC so that any
  # executable linking an instrumented static library gets the runtime. UBSan findings abort (no recover).
  if(NED_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=address,undefined -fno-sanitize-recover=undefined
                                             -fno-omit-frame-pointer)
    target_link_options(${target} PUBLIC -fsanitize=address,undefined)
  endif()
endfunction()

# ned_add_stage(<stage> SOURCES ... DEPS ... [FULL_SOURCES ...] [FULL_DEPS ...] [TORCH])
# Creates the static library ned_<stage>. TORCH marks stages whose sources include LibTorch; they share
# one precompiled header (built once, in ned_core). SOURCES and DEPS are the stage's torch-only layer (LibTorch,
# spdlog, nlohmann-json: no OpenCV, FFmpeg, dlib, libpng); FULL_SOURCES and FULL_DEPS are the rest, left out
# with -DNED_NETS_ONLY=ON.
function(ned_add_stage stage)
  cmake_parse_arguments(ARG "TORCH" "" "SOURCES;DEPS;FULL_SOURCES;FULL_DEPS" ${ARGN})
  if(NOT NED_NETS_ONLY)
    list(APPEND ARG_SOURCES ${ARG_FULL_SOURCES})
    list(APPEND ARG_DEPS ${ARG_FULL_DEPS})
  endif()
  if(NOT ARG_SOURCES)  # a stage with no sources yet: header-only placeholder
    add_library(ned_${stage} INTERFACE)
    target_include_directories(ned_${stage} INTERFACE ${PROJECT_SOURCE_DIR}/include)
    target_link_libraries(ned_${stage} INTERFACE ${ARG_DEPS})
    return()
  endif()
  add_library(ned_${stage} STATIC ${ARG_SOURCES})
  target_include_directories(ned_${stage} PUBLIC ${PROJECT_SOURCE_DIR}/include
                                          PRIVATE ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(ned_${stage} PUBLIC ${ARG_DEPS})
  set_target_properties(ned_${stage} PROPERTIES POSITION_INDEPENDENT_CODE ON)
  ned_set_warnings(ned_${stage})
  if(ARG_TORCH AND NED_USE_PCH AND NOT stage STREQUAL "core")
    target_precompile_headers(ned_${stage} REUSE_FROM ned_core)
  endif()
endfunction()

# ned_add_test(<name> SOURCES ... DEPS ... LABELS ... [FULL_SOURCES ...] [TIMEOUT s])
# One GoogleTest executable; each TEST becomes its own CTest entry carrying LABELS. FULL_SOURCES are test files
# that need more than the torch-only layer (OpenCV, ...): left out with -DNED_NETS_ONLY=ON.
# CUDA tests: a TEST whose name contains "Cuda" or "CUDA" (e.g. Flame.CudaMatchesCpu) also carries the label
# "gpu", so that `ctest -L gpu` runs every CUDA test (they skip without a GPU).
function(ned_add_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;DEPS;LABELS;FULL_SOURCES" ${ARGN})
  if(NOT NED_NETS_ONLY)
    list(APPEND ARG_SOURCES ${ARG_FULL_SOURCES})
  endif()
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} ned_test_support GTest::gtest GTest::gtest_main)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests ${PROJECT_SOURCE_DIR}/src)
  ned_set_warnings(${name})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 600)
  endif()
  # OMP_WAIT_POLICY=PASSIVE: ctest -j2 runs two tests, each with as many OpenMP threads as cores; LibTorch 2.x's
  # libgomp threads spin at every barrier by default and then wait for a descheduled peer (a manipulator training
  # test took 300+ s instead of 16 s). Passive waiting keeps a test's speed close to its time alone.
  gtest_discover_tests(${name} PROPERTIES TIMEOUT ${ARG_TIMEOUT} ENVIRONMENT OMP_WAIT_POLICY=PASSIVE
                       DISCOVERY_TIMEOUT 120)
  # Labels: set by a script that CTest runs after the discovered tests are added (it sees their names in
  # ${name}_TESTS), because gtest_discover_tests' PROPERTIES cannot carry a list: LABELS "cli;data" came out as
  # LABELS cli plus a property named data. Tests with Cuda/CUDA in their name also get "gpu".
  set(_labels ${ARG_LABELS})
  set(_gpu_labels ${ARG_LABELS} gpu)
  list(REMOVE_DUPLICATES _gpu_labels)
  set(_script "${CMAKE_CURRENT_BINARY_DIR}/${name}_labels.cmake")
  file(WRITE "${_script}"
       "# ned_add_test: the labels of ${name}'s tests (CUDA tests also carry gpu)\n"
       "foreach(_t IN LISTS ${name}_TESTS)\n"
       "  if(_t MATCHES \"Cuda|CUDA\")\n"
       "    set_tests_properties(\"\${_t}\" PROPERTIES LABELS \"${_gpu_labels}\")\n"
       "  else()\n"
       "    set_tests_properties(\"\${_t}\" PROPERTIES LABELS \"${_labels}\")\n"
       "  endif()\n"
       "endforeach()\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES "${_script}")
endfunction()
