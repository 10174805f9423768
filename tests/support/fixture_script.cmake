# What the cmake -P scripts that make test fixtures share (bindings/c/tests/make_fixture.cmake,
# tests/interop/make_lists.cmake): their messages start with the script's name.
get_filename_component(fixture_script "${CMAKE_SCRIPT_MODE_FILE}" NAME)

# Fails the script unless each variable named was given (-DVAR=...).
function(fixture_require)
  foreach(var ${ARGN})
    if(NOT DEFINED ${var})
      message(FATAL_ERROR "${fixture_script}: ${var} is not set")
    endif()
  endforeach()
endfunction()

# run(<command> <argument>... [STDOUT <file>]): runs the command, its standard output to file
# (discarded without one); fails the script, with the command's standard error, unless it exits 0.
function(run)
  cmake_parse_arguments(RUN "" "STDOUT" "" ${ARGN})
  if(NOT RUN_STDOUT)
    set(RUN_STDOUT /dev/null)
  endif()
  execute_process(COMMAND ${RUN_UNPARSED_ARGUMENTS} RESULT_VARIABLE result OUTPUT_FILE "${RUN_STDOUT}"
                  ERROR_VARIABLE err)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "${fixture_script}: ${RUN_UNPARSED_ARGUMENTS} failed (${result}):\n${err}")
  endif()
endfunction()
