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

# ned_add_stage(<stage> SOURCES ... DEPS ... [TORCH])
# Creates the static library ned_<stage>. TORCH marks stages whose sources include LibTorch; they share
# one precompiled header (built once, in ned_core).
function(ned_add_stage stage)
  cmake_parse_arguments(ARG "TORCH" "" "SOURCES;DEPS" ${ARGN})
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

# ned_add_test(<name> SOURCES ... DEPS ... LABELS ... [TIMEOUT s])
# One GoogleTest executable; each TEST becomes its own CTest entry carrying LABELS.
function(ned_add_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} ned_test_support GTest::gtest GTest::gtest_main)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests ${PROJECT_SOURCE_DIR}/src)
  ned_set_warnings(${name})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 600)
  endif()
  gtest_discover_tests(${name} PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT}
                       DISCOVERY_TIMEOUT 120)
endfunction()
