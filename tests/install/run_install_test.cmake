# Installs the optout build tree into a scratch prefix, then configures, builds and runs the
# consumer project against that prefix only, and runs the installed optout binary.
#   cmake -DOPTOUT_BUILD_DIR=... -DCONSUMER_SOURCE_DIR=... -DWORK_DIR=... -DEXPECTED_VERSION=...
#         [-DBUILD_TYPE=...]
#         -P run_install_test.cmake
foreach(var OPTOUT_BUILD_DIR CONSUMER_SOURCE_DIR WORK_DIR EXPECTED_VERSION)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_install_test.cmake: ${var} is not set")
  endif()
endforeach()
if(NOT BUILD_TYPE)
  set(BUILD_TYPE Release)
endif()

function(run step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "install test: ${step} failed (${result})\n${out}\n${err}")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
set(prefix "${WORK_DIR}/prefix")
run("cmake --install" ${CMAKE_COMMAND} --install "${OPTOUT_BUILD_DIR}" --prefix "${prefix}"
    --config ${BUILD_TYPE})
run("configuring the consumer" ${CMAKE_COMMAND} -S "${CONSUMER_SOURCE_DIR}" -B "${WORK_DIR}/build"
    -DCMAKE_BUILD_TYPE=${BUILD_TYPE} "-DCMAKE_PREFIX_PATH=${prefix}"
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
run("building the consumer" ${CMAKE_COMMAND} --build "${WORK_DIR}/build" --config ${BUILD_TYPE})
run("running the consumer" "${WORK_DIR}/build/consumer")
message(STATUS "${last_output}")

file(GLOB installed_optout "${prefix}/bin/optout")
if(NOT installed_optout)
  message(FATAL_ERROR "install test: ${prefix}/bin/optout was not installed")
endif()
run("running the installed optout" "${prefix}/bin/optout" --version)
if(NOT last_output STREQUAL "optout ${EXPECTED_VERSION}\n")
  message(FATAL_ERROR "install test: optout --version printed '${last_output}'")
endif()
file(GLOB headers "${prefix}/include/optout/*.hpp")
if(NOT headers)
  message(FATAL_ERROR "install test: no headers under ${prefix}/include/optout")
endif()
