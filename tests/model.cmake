# Model tests.  The Hugging Face fixtures (tests/fixtures/models/*, with the
# transformers reference logits) are committed, made by
# scripts/make_model_fixtures.py; their GGUF forms and broken copies are
# made at test time (numpy, safetensors, gguf) into <build>/model_fixtures.
find_package(Python3 COMPONENTS Interpreter)
set(MLXC_MODEL_FIX ${CMAKE_SOURCE_DIR}/tests/fixtures/models)
set(MLXC_MODEL_OUT ${CMAKE_BINARY_DIR}/model_fixtures)
add_test(NAME model_fixtures
  COMMAND ${Python3_EXECUTABLE} ${CMAKE_SOURCE_DIR}/scripts/make_model_fixtures.py ${MLXC_MODEL_FIX}
          --test-data ${MLXC_MODEL_OUT})
set_tests_properties(model_fixtures PROPERTIES FIXTURES_SETUP model_fixtures TIMEOUT 300)
foreach(t test_model_llama test_model_errors)
  if(TEST ${t})
    set_tests_properties(${t} PROPERTIES FIXTURES_REQUIRED model_fixtures
      ENVIRONMENT "MLXC_MODEL_FIXTURES=${MLXC_MODEL_FIX};MLXC_MODEL_GEN=${MLXC_MODEL_OUT}")
  endif()
endforeach()
