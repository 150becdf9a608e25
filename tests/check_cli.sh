#!/bin/sh
# The mlxc tool's command line, as a new user meets it: no arguments print
# the commands (exit 2), --help everywhere exits 0, a bad flag or value
# exits 2 with the usage, `info` names the real cause of a bad file and
# shows the GGUF metadata and tensors in layer order, invalid UTF-8 is
# warned about once.  Usage: check_cli.sh MLXC SOURCE_DIR WORK_DIR [PYTHON]
mlxc=$1 src=$2 work=$3 py=${4:-python3}
mkdir -p "$work" || exit 2
export MLXC_BACKEND=cpu
fail=0
out=$work/out err=$work/err

# run CMD...: rc in $rc, stdout in $out, stderr in $err
run() { "$@" >"$out" 2>"$err"; rc=$?; }
bad() { echo "FAIL: $*"; echo "  stdout:"; sed 's/^/    /' "$out" | head -20; echo "  stderr:"; sed 's/^/    /' "$err" | head -20; fail=1; }
want_rc() { [ "$rc" = "$1" ] || bad "$2: exit $rc, want $1"; }
want_out() { grep -q -- "$1" "$out" || bad "$2: stdout lacks '$1'"; }
want_err() { grep -q -- "$1" "$err" || bad "$2: stderr lacks '$1'"; }

run "$mlxc"
want_rc 2 "mlxc (no arguments)"; want_err "usage: mlxc <command>" "mlxc (no arguments)"
[ -s "$out" ] && bad "mlxc (no arguments): printed on stdout"
grep -q "checksums" "$out" "$err" && bad "mlxc (no arguments) ran the demo"

run "$mlxc" --help
want_rc 0 "mlxc --help"; want_out "commands:" "mlxc --help"
grep -q -- "--temp\|--repeat-penalty" "$out" && bad "mlxc --help lists a command's options"

for c in run bench perplexity info tokenize demo version; do
    run "$mlxc" $c --help
    want_rc 0 "mlxc $c --help"; want_out "usage: mlxc $c" "mlxc $c --help"
    run "$mlxc" help $c
    want_rc 0 "mlxc help $c"; want_out "usage: mlxc $c" "mlxc help $c"
    run "$mlxc" $c --bogus
    want_rc 2 "mlxc $c --bogus"; want_err "unknown option '--bogus'" "mlxc $c --bogus"; want_err "usage: mlxc $c" "mlxc $c --bogus"
done

# bad values
for args in "demo --replays abc" "demo --replays 0" "run -m x -p y -n abc" "run -m x -p y --kv f8" \
            "run -m x -p y --act f16" "chat -m x --act bogus" "bench -m x --act f16" \
            "run -m x -p y --decode int4" "bench -m x --q8 --decode exact" "chat -m x --decode" \
            "run -m x -p y --temp" "run -m x -p y --seed -1" "perplexity -m x -f y -c 1" "bench -m x -p abc" \
            "bench -m x -r 0" "bench -m x -o xml" "bench -m x --seqs 9" "bench -m x --seqs 0" \
            "bench -m x --seqs 2," "bench -m x -d 4 --seqs 2" "bench -m x -d -1" "tokenize --vocab" "info --json" "version extra"; do
    run "$mlxc" $args
    want_rc 2 "mlxc $args"; want_err "usage: mlxc" "mlxc $args"
done
run "$mlxc" tokenize --vocab
want_err "needs a value" "mlxc tokenize --vocab"
run "$mlxc" demo --replays abc
want_err "bad value 'abc' for --replays" "mlxc demo --replays abc"
run "$mlxc" run --help
want_out "default auto: bf16 on a GPU, f32 on the CPU" "mlxc run --help"
run "$mlxc" run -m x -p y --temp=abc
want_rc 2 "mlxc run --temp=abc"; want_err "bad value 'abc' for --temp" "mlxc run --temp=abc"
run "$mlxc" info --bogus
grep -q "devices:" "$out" && bad "mlxc info --bogus printed the devices"

# info: the format the user named and the real cause
run "$mlxc" info /dev/null
want_rc 1 "info /dev/null"; want_err "not a regular file or a directory (a character device)" "info /dev/null"
run "$mlxc" info "$work/no-such.gguf"
want_rc 1 "info no-such.gguf"; want_err "no-such.gguf: no such file or directory" "info no-such.gguf"
: >"$work/empty.gguf"
run "$mlxc" info "$work/empty.gguf"
want_rc 1 "info empty.gguf"; want_err "GGUF: the file is empty" "info empty.gguf"
printf 'this is not a model file at all\n' >"$work/text.gguf"
run "$mlxc" info "$work/text.gguf"
want_rc 1 "info text.gguf"; want_err "GGUF: not a GGUF file: it starts with 74 68 69 73" "info text.gguf"
grep -q safetensors "$err" && bad "info text.gguf speaks of safetensors"
cp "$work/text.gguf" "$work/text.bin"
run "$mlxc" info "$work/text.bin"
want_rc 1 "info text.bin"; want_err "text.bin: neither GGUF (no \"GGUF\" magic) nor safetensors (safetensors: " "info text.bin"
printf 'GGUF\003\000\000\000' >"$work/gguf.bin"
run "$mlxc" info "$work/gguf.bin"
want_rc 1 "info gguf.bin"; want_err "GGUF: file ends inside" "info gguf.bin"
run "$mlxc" info "$work/text.gguf" --bogus
want_rc 2 "info FILE --bogus"

# info: metadata and tensors in layer order (a small GGUF made with the gguf package)
if "$py" - "$work/layers.gguf" <<'PY'
import sys
import numpy as np
import gguf
w = gguf.GGUFWriter(sys.argv[1], "llama")
w.add_name("layer order")
w.add_context_length(4096)
w.add_file_type(1)
w.add_tokenizer_model("gpt2")
w.add_token_list(["a", "b", "<s>", "  "])
w.add_token_types([1, 1, 3, 4])
w.add_bos_token_id(2)
w.add_add_bos_token(True)
w.add_chat_template("{{ messages }}")
for name in ["blk.10.w", "blk.2.w", "output.weight", "blk.1.w", "blk.0.w", "token_embd.weight"]:
    w.add_tensor(name, np.zeros((2, 4), dtype=np.float16))
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
PY
then
    run "$mlxc" info "$work/layers.gguf"
    want_rc 0 "info layers.gguf"
    want_out "name  *layer order" "info layers.gguf"
    want_out "file_type  *F16 (1)" "info layers.gguf"
    want_out "context_length  *4096" "info layers.gguf"
    want_out "tokenizer  *gpt2, 4 tokens, 1 control, 1 user-defined" "info layers.gguf"
    want_out "bos 2, eos -1; add_bos yes, add_eos unset" "info layers.gguf"
    want_out "chat_template  *present (14 bytes)" "info layers.gguf"
    order=$(grep '^blk\.' "$out" | cut -d' ' -f1 | tr '\n' ' ')
    [ "$order" = "blk.0.w blk.1.w blk.2.w blk.10.w " ] || bad "info layers.gguf: tensors in the order '$order'"
    run "$mlxc" info "$work/layers.gguf" --metadata --no-tensors
    want_out "general.name  *\"layer order\"" "info --metadata"
    want_out "tokenizer.ggml.tokens  *\[4 x string\]" "info --metadata"
    run "$mlxc" info "$work/layers.gguf" --json
    want_out '"chat_template": true' "info --json"
    want_out '"general.context_length"\|"llama.context_length": 4096' "info --json"
    run "$mlxc" info "$work/layers.gguf" --load
    want_rc 0 "info --load"; want_out "zero copy" "info --load"
    grep -q "GB/s" "$out" && bad "info --load (zero copy) reports a bandwidth"
    run "$mlxc" info "$work/layers.gguf" --load --copy
    want_out "GB/s (copied)" "info --load --copy"
else
    echo "note: python3 with numpy and gguf is missing: the layer-order checks did not run"
fi

# invalid UTF-8: replaced, with one warning
vocab=$src/tests/fixtures/tokenizer/added/tokenizer.json
printf 'ab\377cd\376' >"$work/bad-utf8.txt"
run "$mlxc" tokenize --vocab "$vocab" --file "$work/bad-utf8.txt"
want_rc 0 "tokenize invalid UTF-8"
want_err "warning: the text is not valid UTF-8 (first bad byte 0xFF at offset 2)" "tokenize invalid UTF-8"
[ "$(grep -c warning "$err")" = 1 ] || bad "tokenize invalid UTF-8: not exactly one warning"
run "$mlxc" tokenize --vocab "$vocab" "plain text"
[ -s "$err" ] && bad "tokenize valid text: something on stderr"
run "$mlxc" run -m "$src/tests/fixtures/models/llama-tiny" -p "$(printf 'hi\377')" -n 1 --temp 0
want_rc 0 "run invalid UTF-8"
[ "$(grep -c 'warning: the text is not valid UTF-8' "$err")" = 1 ] || bad "run invalid UTF-8: not exactly one warning"

# bench: llama-bench's table on a tiny model
run "$mlxc" bench -m "$src/tests/fixtures/models/llama-tiny" -p 8 -n 4 -r 2
want_rc 0 "bench"
head -1 "$out" | grep -qE '^\| model +\| +size \| +params \| backend +\| device +\| +test \| +t/s \|$' ||
    bad "bench: the table's header"
[ "$(grep -cE '^\| llama [0-9]+K F32 +\| +[0-9.]+ MiB \| +[0-9.]+ M \| CPU +\| CPU.* \| +(pp8|tg4) \| +[0-9.]+ ± [0-9.]+ \|$' "$out")" = 2 ] ||
    bad "bench: not two rows pp8, tg4 of the expected shape"
want_out "tg4: per decode token [0-9.]* dispatches" "bench"
run "$mlxc" bench -m "$src/tests/fixtures/models/llama-tiny" -p 4,8 -n 0 -r 1 -o json
want_rc 0 "bench -o json"
[ "$(grep -c '"avg_ts"' "$out")" = 2 ] || bad "bench -o json: not two results"
want_out '"test": "pp4"' "bench -o json"
run "$mlxc" bench -m "$src/tests/fixtures/models/llama-tiny" -p 0 -n 3 -r 2 --json
want_out '"samples_ts": \[' "bench --json"; want_out '"dispatches_per_token"' "bench --json"
# --seqs: the -n test again as S sequences decoding together
run "$mlxc" bench -m "$src/tests/fixtures/models/llama-tiny" -p 0 -n 3 -r 2 --seqs 1,4
want_rc 0 "bench --seqs"
[ "$(grep -cE '^\| llama .*\| +tg3( x[14])? \| +[0-9.]+ ± [0-9.]+ \|$' "$out")" = 3 ] ||
    bad "bench --seqs: not three rows tg3, tg3 x1, tg3 x4"
want_out "tg3 x4: per step (4 tokens) [0-9.]* dispatches" "bench --seqs"
# -d: each test again after that many tokens in the context (llama-bench's "@ dN")
run "$mlxc" bench -m "$src/tests/fixtures/models/llama-tiny" -p 4 -n 2 -d 0,8 -r 1
want_rc 0 "bench -d"
[ "$(grep -cE '^\| llama .*\| +(pp4|tg2)( @ d8)? \| +[0-9.]+ ± [0-9.]+ \|$' "$out")" = 4 ] ||
    bad "bench -d: not four rows pp4, pp4 @ d8, tg2, tg2 @ d8"
want_out "tg2 @ d8: per decode token [0-9.]* dispatches" "bench -d"
run "$mlxc" bench -m "$src/tests/fixtures/models/llama-tiny" -p 0 -n 2 -d 8 -r 1 -o json
want_out '"n_depth": 8' "bench -d -o json"
run "$mlxc" bench -m "$work/no-such-model" -p 4 -n 0 -r 1
want_rc 1 "bench on a missing model"

[ $fail = 0 ] && echo "all command-line checks passed"
exit $fail
