# Builds the libFuzzer targets with clang in their own CMake configuration and runs each for a bounded
# time on a copy of its seed corpus. Driven by the ctest test `libfuzzer_bounded_runs`:
#   cmake -DSOURCE_DIR=... -DBUILD_DIR=... -DSECONDS=10 -P tests/fuzz/run_fuzzers.cmake
# Fails when the configuration or build fails, or when a fuzzer finds a crash (its reproducer is left
# in BUILD_DIR/artifacts/).
set(targets config_fuzz:config cli_fuzz:cli job_spec_fuzz:job_spec safetensors_header_fuzz:safetensors)
execute_process(
  COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${BUILD_DIR} -G Ninja
          -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=None
  RESULT_VARIABLE result OUTPUT_QUIET)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "configuring the clang build in ${BUILD_DIR} failed")
endif()
set(names)
foreach(entry ${targets})
  string(REPLACE ":" ";" parts ${entry})
  list(GET parts 0 name)
  list(APPEND names ${name})
endforeach()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${BUILD_DIR} --target ${names} RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "building the fuzz targets with clang failed")
endif()
file(MAKE_DIRECTORY ${BUILD_DIR}/artifacts)
foreach(entry ${targets})
  string(REPLACE ":" ";" parts ${entry})
  list(GET parts 0 name)
  list(GET parts 1 corpus)
  set(work ${BUILD_DIR}/corpus/${corpus})
  file(MAKE_DIRECTORY ${work})
  message(STATUS "${name}: ${SECONDS} s on tests/fuzz/corpus/${corpus}")
  execute_process(
    COMMAND ${BUILD_DIR}/bin/${name} -max_total_time=${SECONDS} -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
            -artifact_prefix=${BUILD_DIR}/artifacts/${name}- ${work} ${SOURCE_DIR}/tests/fuzz/corpus/${corpus}
    RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE output)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "${name} failed (exit ${result}):\n${output}")
  endif()
  string(REGEX MATCH "stat::number_of_executed_units: *[0-9]+" runs "${output}")
  message(STATUS "${name}: ${runs}")
endforeach()
