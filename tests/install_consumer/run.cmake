# Installs the build BUILD into a fresh prefix under WORK, then builds and
# runs tests/install_consumer against it twice: with find_package(mlxc)
# (shared and static, and the README's C program) and with a plain
# compiler line from pkg-config.
# FLAGS: compile/link flags the consumer needs too (sanitizers).
file(REMOVE_RECURSE ${WORK})
set(prefix ${WORK}/prefix)
macro(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
endmacro()

run(${CMAKE_COMMAND} --install ${BUILD} --prefix ${prefix})
foreach(f include/mlxc/mlxc.h include/mlxc/version.h bin/mlxc)
  if(NOT EXISTS ${prefix}/${f})
    message(FATAL_ERROR "not installed: ${f}")
  endif()
endforeach()

# find_package(mlxc): the consumer, and the README's C program (open a
# model, generate) run on a tiny model; it prints the prompt and what it
# generated.
set(README ${SRC}/README.md)
set(OUT ${WORK}/readme_example.c)
include(${SRC}/cmake/readme_example.cmake)
run(${CMAKE_COMMAND} -S ${SRC}/tests/install_consumer -B ${WORK}/build -G ${GENERATOR}
    -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_C_COMPILER=${CC} -DREADME_EXAMPLE=${WORK}/readme_example.c
    "-DCMAKE_C_FLAGS=${FLAGS}" "-DCMAKE_EXE_LINKER_FLAGS=${FLAGS}")
run(${CMAKE_COMMAND} --build ${WORK}/build)
foreach(exe consumer_shared consumer_static)
  run(${WORK}/build/${exe})
  message(STATUS "${exe}: ${out}")
endforeach()
run(${WORK}/build/readme_example ${SRC}/tests/fixtures/models/llama-tiny "Hello world")
if(NOT out MATCHES "^Hello world.")
  message(FATAL_ERROR "readme_example printed: ${out}")
endif()
message(STATUS "readme_example: ${out}")

# pkg-config: the shared library, then the static one (--static brings
# Libs.private and the Requires.private libraries)
find_program(PKG_CONFIG pkg-config REQUIRED)
file(GLOB pcdirs ${prefix}/lib*/pkgconfig ${prefix}/lib/*/pkgconfig)
# ahead of the caller's path, which may be where jansson and PCRE2 are
if(DEFINED ENV{PKG_CONFIG_PATH} AND NOT "$ENV{PKG_CONFIG_PATH}" STREQUAL "")
  set(ENV{PKG_CONFIG_PATH} "${pcdirs}:$ENV{PKG_CONFIG_PATH}")
else()
  set(ENV{PKG_CONFIG_PATH} "${pcdirs}")
endif()
run(${PKG_CONFIG} --cflags --libs mlxc)
string(STRIP "${out}" shared_flags)
run(${PKG_CONFIG} --static --cflags --libs mlxc)
string(STRIP "${out}" static_flags)
separate_arguments(shared_flags UNIX_COMMAND "${shared_flags}")
separate_arguments(static_flags UNIX_COMMAND "${static_flags}")
separate_arguments(flags UNIX_COMMAND "${FLAGS}")
get_filename_component(libdir ${pcdirs} DIRECTORY)
run(${CC} ${flags} ${SRC}/tests/install_consumer/consumer.c -o ${WORK}/pc_shared ${shared_flags} -Wl,-rpath,${libdir})
run(${WORK}/pc_shared)
message(STATUS "pkg-config shared: ${out}")
# -l:libmlxc.a picks the archive although the shared library sits beside it
list(TRANSFORM static_flags REPLACE "^-lmlxc$" "-l:libmlxc.a")
run(${CC} ${flags} ${SRC}/tests/install_consumer/consumer.c -o ${WORK}/pc_static ${static_flags})
run(${WORK}/pc_static)
message(STATUS "pkg-config static: ${out}")
