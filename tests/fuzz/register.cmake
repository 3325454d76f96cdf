# Registers the fuzz run with ctest (label "fuzz"); included from tests/CMakeLists.txt.
# The targets need clang and libFuzzer, so they are a project of their own
# (tests/fuzz/CMakeLists.txt) that scripts/run-fuzzers.sh configures and builds with
# clang++ in BUILD/fuzz, replays every corpus and regression input, then fuzzes each
# target for 20 s. Run only this test: ctest -L fuzz --output-on-failure
get_filename_component(NTSD_RUN_FUZZERS ${CMAKE_CURRENT_LIST_DIR}/../../scripts/run-fuzzers.sh
                       ABSOLUTE)
add_test(NAME fuzz COMMAND bash ${NTSD_RUN_FUZZERS} 20)
set_tests_properties(fuzz PROPERTIES
  LABELS "fuzz"
  ENVIRONMENT "NTSD_FUZZ_BUILD_DIR=${CMAKE_BINARY_DIR}/fuzz"
  # Build (~15 s on 2 cores, more while other tests run) + replay + 6 x 20 s.
  TIMEOUT 600)
