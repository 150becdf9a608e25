# Op-library tests (tests/test_ops_*.c) and build wiring for the op library.
#
# test_ops_parity compares the CUDA device with the CPU and exits 77 after
# "SKIP: no CUDA device" without a GPU.  The auto-barrier test needs several
# CPU workers for dispatches to run concurrently at all.
foreach(t test_ops_reference test_ops_parity test_ops_errors test_ops_autobarrier)
  if(TARGET ${t})
    set_tests_properties(${t} PROPERTIES SKIP_RETURN_CODE 77)
  endif()
endforeach()
if(TARGET test_ops_autobarrier)
  set_tests_properties(test_ops_autobarrier PROPERTIES ENVIRONMENT "MLXC_CPU_THREADS=4")
endif()

