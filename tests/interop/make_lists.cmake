# The interoperability test's lists: a registry holding
#   national: the committed sample list (2 989 numbers, array containers only);
#   big:      200 000 numbers from optout-gen (spread over the England ranges: array containers), a
#             whole 65536-stem block of valid numbers (a bitmap container) and a short range (run
#             containers);
# and each list exported as roaring and as text by `optout export`.
#   cmake -DOPTOUT=... -DGEN=<optout-gen> -DVALID=<interop_valid_numbers> -DSAMPLES=... -DWORK=...
#         -P make_lists.cmake
include(${CMAKE_CURRENT_LIST_DIR}/../support/fixture_script.cmake)
fixture_require(OPTOUT GEN VALID SAMPLES WORK)

file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")
run("${GEN}" list --kind national --count 200000 -o "${WORK}/generated.txt")
math(EXPR block_start "5000 * 65536")  # stems 327 680 000 ..: outside the generator's ranges
math(EXPR block_end "${block_start} + 65536")
run("${VALID}" ${block_start} ${block_end} STDOUT "${WORK}/block.txt")
run("${VALID}" 300000000 300000500 STDOUT "${WORK}/runs.txt")
run("${OPTOUT}" build --list "big=${WORK}/generated.txt" --list "big=${WORK}/block.txt"
    --list "big=${WORK}/runs.txt" --list "national=${SAMPLES}/national.txt" -o "${WORK}/interop.optout" -q)
foreach(list big national)
  run("${OPTOUT}" export "${WORK}/interop.optout" --list ${list} -o "${WORK}/${list}.roaring" -q)
  run("${OPTOUT}" export "${WORK}/interop.optout" --list ${list} --format text -o "${WORK}/${list}.txt" -q)
endforeach()
