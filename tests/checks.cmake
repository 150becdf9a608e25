# Source checks that need no build: the layer map (tests/check_layers.sh) and
# the one environment table (tests/check_env.sh).
add_test(NAME check_env COMMAND sh ${CMAKE_SOURCE_DIR}/tests/check_env.sh ${CMAKE_SOURCE_DIR})
add_test(NAME check_layers COMMAND sh ${CMAKE_SOURCE_DIR}/tests/check_layers.sh ${CMAKE_SOURCE_DIR})
