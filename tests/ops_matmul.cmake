# Dense matmul tests: test_ops_matmul (CPU against a double reference) and
# test_ops_matmul_parity (CPU against CUDA; exits 77 "SKIP: no CUDA device"
# without a GPU).
foreach(t test_ops_matmul test_ops_matmul_parity)
  if(TARGET ${t})
    set_tests_properties(${t} PROPERTIES SKIP_RETURN_CODE 77)
    if(MLXC_HAVE_CUDA)
      target_compile_definitions(${t} PRIVATE MLXC_HAVE_CUDA=1)
    endif()
  endif()
endforeach()
