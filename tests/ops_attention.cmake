# Attention tests: test_ops_attention (CPU against a double reference) and
# test_ops_attention_parity (the same cases on CUDA, plus long contexts;
# exits 77 after "SKIP: no CUDA device" without a GPU).
foreach(t test_ops_attention test_ops_attention_parity)
  if(TARGET ${t})
    set_tests_properties(${t} PROPERTIES SKIP_RETURN_CODE 77)
  endif()
endforeach()
