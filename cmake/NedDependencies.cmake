# Third-party dependencies. scripts/setup.sh points CMAKE_PREFIX_PATH at the pinned PyPI torch wheel's LibTorch
# (scripts/torch_env.sh; NED_TORCH=debian for Debian's LibTorch 1.13); everything else comes from Debian 12.
# With NED_NETS_ONLY=ON only LibTorch (and CUDA with it) is needed: the torch-only layer builds on a machine that
# has nothing but PyTorch and nvcc (scripts/gpu_check.sh), with spdlog, fmt, nlohmann-json, gloo and GoogleTest taken
# from the system or from copies of Debian's header trees in NED_DEPS_DIR (NED_DEPS_FROM; see below).

# Torch's CUDA set-up reads TORCH_CUDA_ARCH_LIST (it ignores CMAKE_CUDA_ARCHITECTURES); ned's CUDA code is small,
# so the default covers every architecture the wheel supports.
if(NOT DEFINED TORCH_CUDA_ARCH_LIST AND NOT DEFINED ENV{TORCH_CUDA_ARCH_LIST})
  set(TORCH_CUDA_ARCH_LIST "${NED_CUDA_ARCHS}")
endif()
# The shared CUDA runtime LibTorch itself uses, never a second static one in the same process.
set(CMAKE_CUDA_RUNTIME_LIBRARY Shared)
find_package(Torch REQUIRED)
# find_library searches the system's folders before Torch's own: with Debian's libtorch-dev installed next to a
# wheel, libtorch.so could come from the other LibTorch than the headers. Refuse that mix up front.
# (Debian's multiarch layout puts it in <prefix>/lib/x86_64-linux-gnu: anywhere under the prefix is fine.)
get_filename_component(_ned_torch_lib_dir "${TORCH_LIBRARY}" DIRECTORY)
get_filename_component(_ned_torch_lib_dir "${_ned_torch_lib_dir}" REALPATH)
get_filename_component(_ned_torch_prefix "${TORCH_INSTALL_PREFIX}" REALPATH)
string(FIND "${_ned_torch_lib_dir}/" "${_ned_torch_prefix}/" _ned_torch_at)
if(NOT _ned_torch_at EQUAL 0)
  message(FATAL_ERROR "LibTorch's headers are at ${TORCH_INSTALL_PREFIX} but libtorch.so was found at "
                      "${TORCH_LIBRARY}; put the prefix itself first: -DCMAKE_PREFIX_PATH=\"<prefix>;<prefix>/share/cmake\"")
endif()

# The PyPI wheel's libtorch.so and libtorch_cpu.so export the std::filesystem functions of the older libstdc++ they
# link statically (pytorch/pytorch#133437). ned's own calls (std::filesystem::remove_all, ...) would bind to those,
# ahead of libstdc++.so in the lookup order, and crash (SIGSEGV in remove_all, e.g. every test's TempDir). With
# libstdc++.so as the first needed library of every executable, the system's definitions win.
if(Torch_VERSION VERSION_GREATER_EQUAL 2.0)
  string(APPEND CMAKE_EXE_LINKER_FLAGS " -Wl,--push-state,--no-as-needed,-lstdc++,--pop-state")
endif()

# CUDA: compiled when LibTorch has it and Torch's config enabled the CUDA language (it found nvcc).
set(NED_WITH_CUDA OFF)
if(TORCH_CUDA_LIBRARIES AND CMAKE_CUDA_COMPILER AND NOT NED_CUDA STREQUAL "OFF")
  set(NED_WITH_CUDA ON)
  find_package(CUDAToolkit REQUIRED)
elseif(NED_CUDA STREQUAL "ON")
  message(FATAL_ERROR "NED_CUDA=ON but LibTorch ${Torch_VERSION} has no CUDA or nvcc was not found "
                      "(TORCH_CUDA_LIBRARIES='${TORCH_CUDA_LIBRARIES}', CMAKE_CUDA_COMPILER='${CMAKE_CUDA_COMPILER}')")
endif()
message(STATUS "ned: CUDA code ${NED_WITH_CUDA} (NED_CUDA=${NED_CUDA}, archs ${TORCH_CUDA_ARCH_LIST})")
if(NED_WITH_CUDA)
  # Headers of the CUDA libraries that ned's sources reach besides the toolkit's runtime: nccl.h (c10d's
  # ProcessGroupNCCL), cudnn_version.h, and cuBLAS / cuSPARSE / cuSOLVER (ATen/cuda/CUDAContext.h). A CUDA toolkit
  # often lacks NCCL and cuDNN, a minimal one the math libraries; the torch wheel's nvidia-* packages (next to
  # torch/) have them all. Those found outside the toolkit go after everything else on the include path.
  get_filename_component(_ned_site "${TORCH_INSTALL_PREFIX}/.." REALPATH)
  set(_ned_cuda_inc "")
  foreach(_h nccl.h cudnn_version.h cublas_v2.h cusparse.h cusolverDn.h)
    string(MAKE_C_IDENTIFIER "NED_INC_${_h}" _v)
    find_path(${_v} ${_h} HINTS ${CUDAToolkit_INCLUDE_DIRS} "${_ned_site}/nvidia/nccl/include"
              "${_ned_site}/nvidia/cudnn/include" "${_ned_site}/nvidia/cu13/include")
    if(NOT ${_v})
      message(WARNING "ned: ${_h} not found (CUDA toolkit, ${_ned_site}/nvidia/*/include): CUDA sources that need it "
                      "will not compile")
    elseif(NOT ${_v} IN_LIST CUDAToolkit_INCLUDE_DIRS)
      list(APPEND _ned_cuda_inc "${${_v}}")
    endif()
  endforeach()
  if(_ned_cuda_inc)
    list(REMOVE_DUPLICATES _ned_cuda_inc)
    include_directories(AFTER SYSTEM ${_ned_cuda_inc})
    message(STATUS "ned: CUDA library headers outside the toolkit: ${_ned_cuda_inc}")
  endif()
endif()

find_package(Threads REQUIRED)
if(NED_NETS_ONLY)
  # The torch-only layer: spdlog (with the fmt it was built for), nlohmann-json, gloo's headers and GoogleTest, from
  #   system   find_package (Debian: libspdlog-dev, libfmt-dev, nlohmann-json3-dev, libgloo-dev, libgtest-dev);
  #   bundled  NED_DEPS_DIR, what `scripts/gpu_check.sh --pack` copies from Debian: include/{spdlog,fmt,nlohmann,gloo}
  #            used header-only (spdlog 1.10 with SPDLOG_FMT_EXTERNAL on fmt 9 with FMT_HEADER_ONLY) and
  #            googletest/ (Debian's /usr/src/googletest) built here;
  #   auto     each from the system when found, else bundled.
  set(_ned_bundled_inc "${NED_DEPS_DIR}/include")
  set(_ned_deps_used "")
  if(NOT NED_DEPS_FROM MATCHES "^(auto|system|bundled)$")
    message(FATAL_ERROR "NED_DEPS_FROM must be auto, system or bundled, got '${NED_DEPS_FROM}'")
  endif()
  if(NED_DEPS_FROM STREQUAL "system")
    find_package(spdlog REQUIRED)
    find_package(nlohmann_json REQUIRED)
  elseif(NED_DEPS_FROM STREQUAL "auto")
    find_package(spdlog QUIET)
    find_package(nlohmann_json QUIET)
  endif()
  function(_ned_require_bundled what path)
    if(NOT EXISTS "${path}")
      message(FATAL_ERROR "NED_NETS_ONLY: ${what} is not on this system and ${path} is missing (NED_DEPS_FROM="
                          "${NED_DEPS_FROM}, NED_DEPS_DIR=${NED_DEPS_DIR}); on a machine that has it, run "
                          "`scripts/gpu_check.sh --pack` to copy it into .deps/")
    endif()
  endfunction()
  if(NOT TARGET spdlog::spdlog)
    _ned_require_bundled(spdlog "${_ned_bundled_inc}/spdlog/spdlog.h")
    _ned_require_bundled(fmt "${_ned_bundled_inc}/fmt/format.h")
    add_library(spdlog::spdlog INTERFACE IMPORTED GLOBAL)
    set_target_properties(spdlog::spdlog PROPERTIES
      INTERFACE_INCLUDE_DIRECTORIES "${_ned_bundled_inc}"
      INTERFACE_COMPILE_DEFINITIONS "SPDLOG_FMT_EXTERNAL;FMT_HEADER_ONLY")  # spdlog header-only by default
    set(_ned_fmt_inc "${_ned_bundled_inc}")
    list(APPEND _ned_deps_used "spdlog+fmt: ${_ned_bundled_inc} (header-only)")
  else()
    list(APPEND _ned_deps_used "spdlog ${spdlog_VERSION}: system")
  endif()
  if(NOT TARGET nlohmann_json::nlohmann_json)
    _ned_require_bundled(nlohmann-json "${_ned_bundled_inc}/nlohmann/json.hpp")
    add_library(nlohmann_json::nlohmann_json INTERFACE IMPORTED GLOBAL)
    set_target_properties(nlohmann_json::nlohmann_json PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_ned_bundled_inc}")
    list(APPEND _ned_deps_used "nlohmann-json: ${_ned_bundled_inc}")
  else()
    list(APPEND _ned_deps_used "nlohmann-json ${nlohmann_json_VERSION}: system")
  endif()
  # c10d's ProcessGroupGloo.hpp (src/dist) includes gloo's headers, which the torch wheel does not ship (Debian:
  # libgloo-dev).
  if(NOT NED_DEPS_FROM STREQUAL "bundled")
    find_path(NED_GLOO_INCLUDE_DIR gloo/algorithm.h)
  endif()
  if(NED_GLOO_INCLUDE_DIR AND NOT NED_DEPS_FROM STREQUAL "bundled")
    list(APPEND _ned_deps_used "gloo headers: ${NED_GLOO_INCLUDE_DIR}")
  elseif(NED_DEPS_FROM STREQUAL "system")
    message(FATAL_ERROR "NED_NETS_ONLY: gloo's headers (gloo/algorithm.h, Debian's libgloo-dev) not found")
  else()
    _ned_require_bundled("gloo's headers" "${_ned_bundled_inc}/gloo/algorithm.h")
    include_directories(AFTER SYSTEM "${_ned_bundled_inc}")
    list(APPEND _ned_deps_used "gloo headers: ${_ned_bundled_inc}")
  endif()
  if(NED_BUILD_TESTS)
    if(NOT NED_DEPS_FROM STREQUAL "bundled")
      find_package(GTest QUIET)
      if(NOT GTest_FOUND AND NED_DEPS_FROM STREQUAL "system")
        find_package(GTest REQUIRED)
      endif()
    endif()
    if(NOT TARGET GTest::gtest)
      _ned_require_bundled(GoogleTest "${NED_DEPS_DIR}/googletest/CMakeLists.txt")
      set(BUILD_GMOCK OFF CACHE BOOL "" FORCE)
      set(INSTALL_GTEST OFF CACHE BOOL "" FORCE)
      add_subdirectory("${NED_DEPS_DIR}/googletest" "${CMAKE_BINARY_DIR}/_deps/googletest" EXCLUDE_FROM_ALL)
      foreach(_t gtest gtest_main)
        if(NOT TARGET GTest::${_t})  # googletest >= 1.11 makes these itself
          add_library(GTest::${_t} ALIAS ${_t})
        endif()
      endforeach()
      list(APPEND _ned_deps_used "GoogleTest: ${NED_DEPS_DIR}/googletest")
    else()
      list(APPEND _ned_deps_used "GoogleTest: system")
    endif()
  endif()
  list(JOIN _ned_deps_used "; " _ned_deps_used)
  message(STATUS "ned: NED_NETS_ONLY (no OpenCV, FFmpeg, dlib, libpng); NED_DEPS_FROM=${NED_DEPS_FROM}: ${_ned_deps_used}")
else()
  find_package(OpenCV REQUIRED COMPONENTS core imgproc imgcodecs)
  find_package(dlib REQUIRED)
  find_package(Eigen3 REQUIRED NO_MODULE)
  find_package(CLI11 REQUIRED)
  find_package(spdlog REQUIRED)
  find_package(nlohmann_json REQUIRED)
  find_package(PNG REQUIRED)  # ned::read_image decodes PNG with its own libpng error handlers (issue 10)
  find_package(PkgConfig REQUIRED)
  pkg_check_modules(LIBAV REQUIRED IMPORTED_TARGET libavformat libavcodec libavutil libswscale)
endif()

# TorchConfig puts its flags (e.g. -D_GLIBCXX_USE_CXX11_ABI=0 for the official pre-cxx11 builds) into
# TORCH_CXX_FLAGS. An ABI mismatch with OpenCV/dlib (always cxx11 ABI on Debian) links but crashes on
# std::string crossing the boundary, so refuse it up front.
if(TORCH_CXX_FLAGS MATCHES "_GLIBCXX_USE_CXX11_ABI=0")
  message(FATAL_ERROR "This LibTorch was built with the pre-C++11 ABI (_GLIBCXX_USE_CXX11_ABI=0); "
                      "OpenCV and dlib from Debian use the C++11 ABI. Download the 'cxx11 ABI' LibTorch build.")
endif()
message(STATUS "ned: Torch ${Torch_VERSION} at ${TORCH_INSTALL_PREFIX}, CUDA=${TORCH_CUDA_LIBRARIES}")
if(NOT NED_NETS_ONLY)
  message(STATUS "ned: OpenCV ${OpenCV_VERSION}, dlib ${dlib_VERSION}, libav ${LIBAV_libavformat_VERSION}")
endif()

# LibTorch 2.x ships its own fmt (12.x) in <torch>/include/fmt, ahead of /usr/include on the include path, while
# Debian's spdlog is built against the system fmt (9.x): spdlog must see the fmt it was built with, and so must
# every translation unit that mixes both. A folder holding only a link to the system fmt goes first on the path.
# LibTorch's headers that ned includes (torch/torch.h, c10d) compile against either fmt. With NED_NETS_ONLY and the
# bundled spdlog, the link points at NED_DEPS_DIR's fmt (_ned_fmt_inc set above).
if(NOT _ned_fmt_inc AND TARGET fmt::fmt)
  get_target_property(_ned_fmt_inc fmt::fmt INTERFACE_INCLUDE_DIRECTORIES)
  list(GET _ned_fmt_inc 0 _ned_fmt_inc)
endif()
if(EXISTS "${TORCH_INSTALL_PREFIX}/include/fmt" AND _ned_fmt_inc)
  set(NED_FMT_SHIM "${CMAKE_BINARY_DIR}/ned-fmt-shim")
  file(MAKE_DIRECTORY "${NED_FMT_SHIM}")
  file(CREATE_LINK "${_ned_fmt_inc}/fmt" "${NED_FMT_SHIM}/fmt" SYMBOLIC)
  include_directories(BEFORE SYSTEM "${NED_FMT_SHIM}")
  message(STATUS "ned: spdlog uses the fmt at ${_ned_fmt_inc}/fmt (LibTorch's own fmt is shadowed)")
endif()
