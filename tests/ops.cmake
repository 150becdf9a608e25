# Op-library tests (tests/test_ops_*.c).  The parity programs compare the
# CUDA device with the CPU and skip (77) without a GPU; the auto-barrier test
# needs several CPU workers for dispatches to run concurrently at all.
if(TARGET test_ops_autobarrier)
  set_tests_properties(test_ops_autobarrier PROPERTIES ENVIRONMENT "MLXC_CPU_THREADS=4")
endif()
