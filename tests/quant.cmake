# Quantized-format tests.  scripts/make_quant_fixtures.py writes the reference
# data with the real packages (mlx[cpu], gguf: scripts/requirements-test.txt)
# into <build>/quant_fixtures; it exits 77 (skipped) when they are missing, and
# test_quant_formats then checks only what needs no reference data.
find_package(Python3 COMPONENTS Interpreter)
add_test(NAME quant_fixtures
  COMMAND ${Python3_EXECUTABLE} ${CMAKE_SOURCE_DIR}/scripts/make_quant_fixtures.py ${CMAKE_BINARY_DIR}/quant_fixtures)
set_tests_properties(quant_fixtures PROPERTIES FIXTURES_SETUP quant_fixtures TIMEOUT 300 SKIP_RETURN_CODE 77)
if(TEST test_quant_formats)
  set_tests_properties(test_quant_formats PROPERTIES FIXTURES_REQUIRED quant_fixtures
    ENVIRONMENT "MLXC_QUANT_FIXTURES=${CMAKE_BINARY_DIR}/quant_fixtures")
endif()
