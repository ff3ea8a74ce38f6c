# Third-party dependencies. On Debian 12 all come from apt (scripts/setup.sh);
# on GPU servers pass -DCMAKE_PREFIX_PATH=<official CUDA libtorch>/share/cmake.
find_package(Torch REQUIRED)
find_package(OpenCV REQUIRED COMPONENTS core imgproc imgcodecs)
find_package(dlib REQUIRED)
find_package(Eigen3 REQUIRED NO_MODULE)
find_package(CLI11 REQUIRED)
find_package(spdlog REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(Threads REQUIRED)
find_package(PNG REQUIRED)  # ned::read_image decodes PNG with its own libpng error handlers (issue 10)
find_package(PkgConfig REQUIRED)
pkg_check_modules(LIBAV REQUIRED IMPORTED_TARGET libavformat libavcodec libavutil libswscale)

# TorchConfig puts its flags (e.g. -D_GLIBCXX_USE_CXX11_ABI=0 for the official pre-cxx11 builds) into
# TORCH_CXX_FLAGS. An ABI mismatch with OpenCV/dlib (always cxx11 ABI on Debian) links but crashes on
# std::string crossing the boundary, so refuse it up front.
if(TORCH_CXX_FLAGS MATCHES "_GLIBCXX_USE_CXX11_ABI=0")
  message(FATAL_ERROR "This LibTorch was built with the pre-C++11 ABI (_GLIBCXX_USE_CXX11_ABI=0); "
                      "OpenCV and dlib from Debian use the C++11 ABI. Download the 'cxx11 ABI' LibTorch build.")
endif()
message(STATUS "ned: Torch ${Torch_VERSION} at ${TORCH_INSTALL_PREFIX}, CUDA=${TORCH_CUDA_LIBRARIES}")
message(STATUS "ned: OpenCV ${OpenCV_VERSION}, dlib ${dlib_VERSION}, libav ${LIBAV_libavformat_VERSION}")
