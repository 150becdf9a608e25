# Tokenizer tests.  test_tokenizer_vocab reads llama.cpp's vectors from
# MLXC_SHARED_DIR/data/vocab (skips when absent); test_tokenizer_models reads
# the real models that scripts/fetch_models.sh unpacks into MLXC_MODELS_DIR
# (default ~/.cache/mlxc-models) and skips when they are absent.
if(NOT DEFINED ENV{MLXC_MODELS_DIR})
  set(MLXC_TOK_MODELS_DIR "$ENV{HOME}/.cache/mlxc-models")
else()
  set(MLXC_TOK_MODELS_DIR "$ENV{MLXC_MODELS_DIR}")
endif()
foreach(t test_tokenizer_vocab test_tokenizer_models test_tokenizer_hostile test_tokenizer_unit
        test_chat_template)
  if(TEST ${t})
    set_tests_properties(${t} PROPERTIES TIMEOUT 300
      ENVIRONMENT "MLXC_MODELS_DIR=${MLXC_TOK_MODELS_DIR}")
  endif()
endforeach()
