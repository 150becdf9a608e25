# test_install: cmake --install into a temporary prefix, then a small
# program built against it (tests/install_consumer/run.cmake).
set(MLXC_INSTALL_TEST_FLAGS "")
if(MLXC_SANITIZE)
  set(MLXC_INSTALL_TEST_FLAGS "-fsanitize=address,undefined")
elseif(MLXC_TSAN)
  set(MLXC_INSTALL_TEST_FLAGS "-fsanitize=thread")
endif()
add_test(NAME test_install
  COMMAND ${CMAKE_COMMAND} -DBUILD=${CMAKE_BINARY_DIR} -DSRC=${CMAKE_SOURCE_DIR}
          -DWORK=${CMAKE_BINARY_DIR}/install_test -DGENERATOR=${CMAKE_GENERATOR} -DCC=${CMAKE_C_COMPILER}
          -DFLAGS=${MLXC_INSTALL_TEST_FLAGS}
          -P ${CMAKE_SOURCE_DIR}/tests/install_consumer/run.cmake)
set_tests_properties(test_install PROPERTIES TIMEOUT 300)
