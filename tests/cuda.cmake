# CUDA-specific tests: they exit 77 after "SKIP: no CUDA device" where no GPU
# (or no CUDA build) is present.  With the CUDA backend built they also see
# its test hooks (src/backend/cuda/cuda_backend.h).
foreach(t test_cuda_parity test_cuda_graph test_cuda_nvrtc test_cuda_fault)
  if(TARGET ${t})
    set_tests_properties(${t} PROPERTIES SKIP_RETURN_CODE 77)
    if(MLXC_HAVE_CUDA)
      target_compile_definitions(${t} PRIVATE MLXC_HAVE_CUDA=1)
    endif()
  endif()
endforeach()
