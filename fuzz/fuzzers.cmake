# libFuzzer harnesses: every fuzz/fuzz_<name>.c becomes the program
# fuzz_<name>, linked against the library objects built with
# -fsanitize=fuzzer-no-link,address,undefined (configure with CC=clang and
# -DMLXC_FUZZ=ON; scripts/ci_fuzz.sh does it).  Seeds live in
# fuzz/corpus/<name>/.
if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
  message(WARNING "MLXC_FUZZ needs clang (libFuzzer); no fuzzers built")
  return()
endif()

set(MLXC_FUZZ_SAN -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g)
# A separate copy of the library objects, instrumented for coverage.
add_library(mlxc_fuzz_obj OBJECT ${MLXC_SOURCES})
target_include_directories(mlxc_fuzz_obj PUBLIC ${CMAKE_SOURCE_DIR}/include ${MLXC_GENERATED_INCLUDE} PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_compile_options(mlxc_fuzz_obj PRIVATE ${MLXC_WARN} -O1 -fsanitize=fuzzer-no-link ${MLXC_FUZZ_SAN})
target_link_libraries(mlxc_fuzz_obj PUBLIC PkgConfig::JANSSON PkgConfig::PCRE2 Threads::Threads)
if(MLXC_HAVE_CUDA)
  target_compile_definitions(mlxc_fuzz_obj PRIVATE MLXC_HAVE_CUDA=1)
  if(MLXC_CUDA_EMBED_DEPENDS)
    add_dependencies(mlxc_fuzz_obj ${MLXC_CUDA_EMBED_DEPENDS})
  endif()
endif()

file(GLOB MLXC_FUZZ_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/fuzz/fuzz_*.c)
foreach(src ${MLXC_FUZZ_SOURCES})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src} $<TARGET_OBJECTS:mlxc_fuzz_obj>)
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/include ${MLXC_GENERATED_INCLUDE} ${CMAKE_SOURCE_DIR}/src)
  target_compile_options(${name} PRIVATE ${MLXC_WARN} -O1 -fsanitize=fuzzer ${MLXC_FUZZ_SAN})
  target_link_options(${name} PRIVATE -fsanitize=fuzzer ${MLXC_FUZZ_SAN})
  target_link_libraries(${name} PRIVATE PkgConfig::JANSSON PkgConfig::PCRE2 Threads::Threads ${CMAKE_DL_LIBS} m)
endforeach()
