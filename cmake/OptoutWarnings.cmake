# One interface target carries the project's warning flags, so that they apply to our own targets
# and never leak to consumers of the installed library.
add_library(optout_warnings INTERFACE)
target_compile_options(optout_warnings INTERFACE
  $<$<COMPILE_LANG_AND_ID:CXX,GNU,Clang>:-Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion>
  $<$<COMPILE_LANG_AND_ID:C,GNU,Clang>:-Wall -Wextra -Wpedantic>)
