# The C API test's fixture: a registry of the committed samples' three lists, and what the optout
# tool itself writes for them, so that the C test can demand byte-identical results.
#   cmake -DOPTOUT=<optout binary> -DSAMPLES=<datasets/samples> -DWORK=<dir> -P make_fixture.cmake
include(${CMAKE_CURRENT_LIST_DIR}/../../../tests/support/fixture_script.cmake)
fixture_require(OPTOUT SAMPLES WORK)

# optout(<argument>... [STDOUT <file>]): runs the optout tool.
function(optout)
  run("${OPTOUT}" ${ARGN})
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

# Signed registries (issue 12): two key pairs, the samples' registry signed by each, and the
# filter's clean output with its audit record for optout_verify_file to find.
optout(keygen -o "${WORK}/signer")
optout(keygen -o "${WORK}/other")
optout(build --list "national=${SAMPLES}/national.txt" --list "type1=${SAMPLES}/type1.txt"
       --allow "cleared=${SAMPLES}/cleared.dat" --description "C API test" --sign "${WORK}/signer.key"
       -o "${WORK}/signed.optout" -q)
optout(build --list "national=${SAMPLES}/national.txt" --sign "${WORK}/other.key" -o "${WORK}/other_signed.optout" -q)
optout(info --json "${WORK}/signed.optout" STDOUT "${WORK}/signed_info.json")

# Compressed extracts (issue 13): a zip of two entries, for the entry option.
file(COPY "${SAMPLES}/extract_narrow.csv" "${SAMPLES}/extract_dirty.csv" DESTINATION "${WORK}/zip")
execute_process(COMMAND "${CMAKE_COMMAND}" -E tar cf "${WORK}/extracts.zip" --format=zip extract_narrow.csv
                        extract_dirty.csv
                WORKING_DIRECTORY "${WORK}/zip" COMMAND_ERROR_IS_FATAL ANY)

# Purposes (issue 14): national scoped to research and planning, type1 and cleared unscoped; the
# filter's output for planning with national exempted.
optout(build --list "national=${SAMPLES}/national.txt" --scope national=research,planning
       --list "type1=${SAMPLES}/type1.txt" --allow "cleared=${SAMPLES}/cleared.dat" -o "${WORK}/scoped.optout" -q)
optout(filter -r "${WORK}/scoped.optout" --column nhs_number --purpose planning --exempt "national=CAG 20/CAG/0001"
       "${SAMPLES}/extract_narrow.csv" -q -o "${WORK}/expected_narrow_planning.csv")
# Pseudonymised extracts (issue 14): a key file (40 printable bytes) and a registry denying
# 9434765919; the C test holds the tokens Python's hmac makes with that key.
file(WRITE "${WORK}/pseudonym.key" "optout-c-test-pseudonym-key-0123456789ab")
file(WRITE "${WORK}/pseudonym_deny.txt" "9434765919\n")
optout(build --list "national=${WORK}/pseudonym_deny.txt" -o "${WORK}/pseudonym.optout" -q)
