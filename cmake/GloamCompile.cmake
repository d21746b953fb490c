# SPDX-License-Identifier: Apache-2.0
# Compiler flags shared by every gloam target, and gloam_module(), the one
# way a module declares its library.
set(GLOAM_WARNINGS -Wall -Wextra -Wshadow -Wpointer-arith -Wstrict-prototypes
    -Wvla -Wformat=2 -Wundef -Wmissing-prototypes -Wno-unused-parameter)
# GCC's -Wmaybe-uninitialized fires only at -O2 and mostly on the goto-fail
# cleanup pattern STYLE.md prescribes (false positives); clang's
# -Wsometimes-uninitialized and the sanitizer builds cover real cases.
if(CMAKE_C_COMPILER_ID STREQUAL "GNU")
  list(APPEND GLOAM_WARNINGS -Wno-maybe-uninitialized)
endif()
if(GLOAM_WERROR)
  list(APPEND GLOAM_WARNINGS -Werror)
endif()

add_compile_options(-fno-strict-aliasing -fno-common)
add_compile_definitions(_GNU_SOURCE)
if(GLOAM_NATIVE)
  add_compile_options(-march=native)
endif()

if(GLOAM_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=undefined
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()
if(GLOAM_FUZZ)
  # Coverage instrumentation for every library the fuzz targets link.
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
if(GLOAM_TSAN)
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
endif()

# gloam_module(NAME SOURCES a.c b.c DEPS gloam_core ... [PUBLIC_DEPS ...])
# Declares the static library gloam_<NAME> for src/<NAME>.
function(gloam_module name)
  cmake_parse_arguments(M "" "" "SOURCES;DEPS;PUBLIC_DEPS" ${ARGN})
  if(M_SOURCES)
    add_library(gloam_${name} STATIC ${M_SOURCES})
    target_compile_options(gloam_${name} PRIVATE ${GLOAM_WARNINGS})
    target_include_directories(gloam_${name}
      PUBLIC ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR}/src)
    target_link_libraries(gloam_${name} PUBLIC ${M_DEPS} ${M_PUBLIC_DEPS})
  else()
    # Wired but still empty: an interface target so dependents can link now.
    add_library(gloam_${name} INTERFACE)
    target_include_directories(gloam_${name}
      INTERFACE ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR}/src)
    target_link_libraries(gloam_${name} INTERFACE ${M_DEPS} ${M_PUBLIC_DEPS})
  endif()
endfunction()

# gloam_executable(NAME SOURCES ... DEPS ...): a program with gloam's warnings.
function(gloam_executable name)
  cmake_parse_arguments(E "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${E_SOURCES})
  target_compile_options(${name} PRIVATE ${GLOAM_WARNINGS})
  target_link_libraries(${name} PRIVATE ${E_DEPS})
endfunction()

# gloam_test(MODULE SOURCES ... DEPS ... [LABELS ...] [TIMEOUT s])
# One CTest binary per module: tests/<MODULE>/test_<MODULE>.c.
function(gloam_test mod)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;DEPS;LABELS;ARGS" ${ARGN})
  set(exe test_${mod})
  gloam_executable(${exe} SOURCES ${T_SOURCES} DEPS gloam_test_harness ${T_DEPS})
  if(NOT T_LABELS)
    set(T_LABELS unit)
  endif()
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  add_test(NAME ${mod} COMMAND ${exe} ${T_ARGS})
  set_tests_properties(${mod} PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT}
    SKIP_RETURN_CODE 77
    ENVIRONMENT "GLOAM_FIXTURES=${GLOAM_FIXTURES_DIR};GLOAM_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
endfunction()

# gloam_fuzz(NAME SOURCES fuzz/NAME/fuzz_NAME.c DEPS ...)
# Always builds fuzz_NAME_replay, which CTest runs (label "fuzz") over the
# committed corpus in fuzz/NAME/corpus; with GLOAM_FUZZ=ON (clang) it also
# builds the libFuzzer binary fuzz_NAME for real fuzzing runs.
function(gloam_fuzz name)
  cmake_parse_arguments(F "" "" "SOURCES;DEPS" ${ARGN})
  gloam_executable(fuzz_${name}_replay
    SOURCES ${PROJECT_SOURCE_DIR}/fuzz/replay_main.c ${F_SOURCES} DEPS ${F_DEPS})
  add_test(NAME fuzz_${name}
    COMMAND fuzz_${name}_replay ${PROJECT_SOURCE_DIR}/fuzz/${name}/corpus)
  set_tests_properties(fuzz_${name} PROPERTIES LABELS fuzz TIMEOUT 600)
  if(GLOAM_FUZZ)
    gloam_executable(fuzz_${name} SOURCES ${F_SOURCES} DEPS ${F_DEPS})
    target_link_options(fuzz_${name} PRIVATE -fsanitize=fuzzer)
  endif()
endfunction()
