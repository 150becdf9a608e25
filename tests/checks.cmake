# Source checks that need no build: the layer map (tests/check_layers.sh),
# the one environment table (tests/check_env.sh) and the kernel families'
# files (tests/check_families.sh).
add_test(NAME check_env COMMAND sh ${CMAKE_SOURCE_DIR}/tests/check_env.sh ${CMAKE_SOURCE_DIR})
add_test(NAME check_layers COMMAND sh ${CMAKE_SOURCE_DIR}/tests/check_layers.sh ${CMAKE_SOURCE_DIR})
add_test(NAME check_families COMMAND sh ${CMAKE_SOURCE_DIR}/tests/check_families.sh ${CMAKE_SOURCE_DIR})
