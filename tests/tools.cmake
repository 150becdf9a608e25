# The mlxc tool's command line (tests/check_cli.sh): usage, exit codes,
# `info` diagnostics and metadata, the invalid UTF-8 warning.
find_package(Python3 COMPONENTS Interpreter)
if(TARGET mlxc_tool)
  add_test(NAME check_cli COMMAND sh ${CMAKE_SOURCE_DIR}/tests/check_cli.sh $<TARGET_FILE:mlxc_tool>
           ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR}/cli_check ${Python3_EXECUTABLE})
  set_tests_properties(check_cli PROPERTIES TIMEOUT 300)
endif()
