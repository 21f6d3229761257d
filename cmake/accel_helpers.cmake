# accel_cc_library / accel_cc_test: one static library per folder, dependencies spelled out, the same
# warning set everywhere (the absl_cc_* pattern).

set(ACCEL_WARNING_FLAGS -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
    -Wcast-align -Woverloaded-virtual -Wimplicit-fallthrough
    # Designated initializers leave fields at their defaults on purpose; GCC 12 warns about that.
    -Wno-missing-field-initializers)
if(ACCEL_WERROR)
  list(APPEND ACCEL_WARNING_FLAGS -Werror)
endif()

function(accel_apply_warnings target)
  target_compile_options(${target} PRIVATE ${ACCEL_WARNING_FLAGS})
endfunction()

# accel_cc_library(NAME common SRCS a.cc b.cc DEPS absl::status PUBLIC_DEPS ...)
function(accel_cc_library)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS;PUBLIC_DEPS" ${ARGN})
  add_library(accel_${ARG_NAME} STATIC ${ARG_SRCS})
  add_library(accel::${ARG_NAME} ALIAS accel_${ARG_NAME})
  target_include_directories(accel_${ARG_NAME} PUBLIC ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
  target_link_libraries(accel_${ARG_NAME} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE ${ARG_DEPS})
  accel_apply_warnings(accel_${ARG_NAME})
endfunction()

# accel_cc_binary(NAME accelctl SRCS main.cc DEPS accel::client)
function(accel_cc_binary)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${ARG_NAME} ${ARG_SRCS})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS})
  accel_apply_warnings(${ARG_NAME})
endfunction()

# accel_cc_test(NAME config_test SRCS config_test.cc DEPS accel::common [LABELS unit])
function(accel_cc_test)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS;LABELS" ${ARGN})
  add_executable(${ARG_NAME} ${ARG_SRCS})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  if(NOT "accel_test_support" IN_LIST ARG_DEPS)
    target_compile_definitions(${ARG_NAME} PRIVATE
        ACCEL_BINARY_DIR="${CMAKE_RUNTIME_OUTPUT_DIRECTORY}"
        ACCEL_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  endif()
  accel_apply_warnings(${ARG_NAME})
  gtest_discover_tests(${ARG_NAME} TEST_PREFIX "${ARG_NAME}." DISCOVERY_TIMEOUT 30 PROPERTIES LABELS "${ARG_LABELS}")
endfunction()
