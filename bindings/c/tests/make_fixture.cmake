# The C API test's fixture: a registry of the committed samples' three lists, and what the optout
# tool itself writes for them, so that the C test can demand byte-identical results.
#   cmake -DOPTOUT=<optout binary> -DSAMPLES=<datasets/samples> -DWORK=<dir> -P make_fixture.cmake
foreach(var OPTOUT SAMPLES WORK)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "make_fixture.cmake: ${var} is not set")
  endif()
endforeach()

function(optout)
  cmake_parse_arguments(RUN "" "STDOUT" "" ${ARGN})
  if(RUN_STDOUT)
    execute_process(COMMAND "${OPTOUT}" ${RUN_UNPARSED_ARGUMENTS} RESULT_VARIABLE result
                    OUTPUT_FILE "${RUN_STDOUT}" ERROR_VARIABLE err)
  else()
    execute_process(COMMAND "${OPTOUT}" ${RUN_UNPARSED_ARGUMENTS} RESULT_VARIABLE result ERROR_VARIABLE err)
  endif()
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "make_fixture.cmake: optout ${RUN_UNPARSED_ARGUMENTS} failed (${result}):\n${err}")
  endif()
endfunction()

file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")
set(reg "${WORK}/samples.optout")
optout(build --list "national=${SAMPLES}/national.txt" --list "type1=${SAMPLES}/type1.txt"
       --allow "cleared=${SAMPLES}/cleared.dat" --description "C API test" -o "${reg}" -q)
optout(info "${reg}" STDOUT "${WORK}/info.txt")
foreach(extract narrow dirty)
  optout(filter -r "${reg}" --column nhs_number "${SAMPLES}/extract_${extract}.csv" -q
         -o "${WORK}/expected_${extract}_all.csv" --rejects "${WORK}/expected_${extract}_all_rejects.csv")
  optout(filter -r "${reg}" --apply national,type1 --column nhs_number "${SAMPLES}/extract_${extract}.csv" -q
         -o "${WORK}/expected_${extract}_deny.csv")
endforeach()
foreach(format roaring text mesh)
  optout(export "${reg}" --list national --format ${format} -o "${WORK}/expected_national.${format}" -q)
endforeach()
