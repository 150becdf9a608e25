# The README's C program (its first ```c block), extracted at build time
# and built like any user's program; test_readme_example runs it on a tiny
# model (MLXC_README_EXAMPLE names it).
set(MLXC_README_EXAMPLE ${CMAKE_BINARY_DIR}/generated/readme_example.c)
add_custom_command(OUTPUT ${MLXC_README_EXAMPLE}
  COMMAND ${CMAKE_COMMAND} -DREADME=${CMAKE_SOURCE_DIR}/README.md -DOUT=${MLXC_README_EXAMPLE}
          -P ${CMAKE_SOURCE_DIR}/cmake/readme_example.cmake
  DEPENDS ${CMAKE_SOURCE_DIR}/README.md ${CMAKE_SOURCE_DIR}/cmake/readme_example.cmake
  COMMENT "the README's C example" VERBATIM)
add_executable(readme_example ${MLXC_README_EXAMPLE})
target_compile_options(readme_example PRIVATE ${MLXC_WARN})
target_link_libraries(readme_example PRIVATE mlxc_static)
if(TARGET test_readme_example)
  add_dependencies(test_readme_example readme_example)
  set_tests_properties(test_readme_example PROPERTIES
    ENVIRONMENT "MLXC_README_EXAMPLE=$<TARGET_FILE:readme_example>")
endif()
