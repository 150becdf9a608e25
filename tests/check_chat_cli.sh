#!/bin/sh
# `mlxc chat` driven through stdin on a tiny fixture model with a real chat
# template: three user turns (blank lines skipped), greedy, then /exit.
# With the KV cache kept between turns (turns 2 and 3 must reuse tokens
# from it) the replies must be exactly those of a run that evaluates the
# whole conversation every turn (--no-reuse), and those of the same model
# holding the template in its tokenizer_config.json.
# Usage: check_chat_cli.sh MLXC MODEL_DIR TEMPLATE OUT_DIR
mlxc=$1 model=$2 tmpl=$3 out=$4
mkdir -p "$out" || exit 2
printf 'Hello there\n\nWhat is 2 + 2?\nAnd in words, é?\n/exit\nnever read\n' >"$out/chat_in.txt"
run() {
    MLXC_BACKEND=cpu "$mlxc" chat -m "$model" --chat-template "$tmpl" --system "Be brief." --temp 0 -n 6 \
        --kv f32 --verbose "$@" <"$out/chat_in.txt"
}
run >"$out/chat_reuse.out" 2>"$out/chat_reuse.err" || { cat "$out/chat_reuse.err"; exit 1; }
run --no-reuse >"$out/chat_full.out" 2>"$out/chat_full.err" || { cat "$out/chat_full.err"; exit 1; }
cat "$out/chat_reuse.err"
fail=0
turns=$(grep -c '^turn [0-9]' "$out/chat_reuse.err")
[ "$turns" = 3 ] || { echo "FAIL: $turns turns, want 3"; fail=1; }
for t in 2 3; do
    grep -Eq "^turn $t: prompt [0-9]+ tokens, reused [1-9][0-9]* from the cache" "$out/chat_reuse.err" ||
        { echo "FAIL: turn $t reused nothing from the KV cache"; fail=1; }
done
grep -Eq "^turn 2: prompt [0-9]+ tokens, reused 0 from" "$out/chat_full.err" ||
    { echo "FAIL: --no-reuse reused tokens"; fail=1; }
cmp -s "$out/chat_reuse.out" "$out/chat_full.out" ||
    { echo "FAIL: the replies differ with and without the cache reuse"; diff "$out/chat_reuse.out" "$out/chat_full.out"; fail=1; }
[ "$(wc -l <"$out/chat_reuse.out")" -eq 3 ] || { echo "FAIL: want one reply line per turn"; fail=1; }
# the model's own template: the same model with the template in its
# tokenizer_config.json needs no --chat-template
dir="$out/chat_model"
rm -rf "$dir" && mkdir -p "$dir" && cp "$model"/config.json "$model"/model.safetensors "$model"/tokenizer.json "$dir"/ &&
python3 -c 'import json, sys; json.dump({"chat_template": open(sys.argv[1]).read()}, open(sys.argv[2], "w"))' \
    "$tmpl" "$dir/tokenizer_config.json" || exit 2
MLXC_BACKEND=cpu "$mlxc" chat -m "$dir" --system "Be brief." --temp 0 -n 6 --kv f32 <"$out/chat_in.txt" \
    >"$out/chat_own.out" 2>"$out/chat_own.err" || { cat "$out/chat_own.err"; exit 1; }
cmp -s "$out/chat_reuse.out" "$out/chat_own.out" ||
    { echo "FAIL: the template from tokenizer_config.json answers differently"; cat "$out/chat_own.err"; fail=1; }
[ $fail = 0 ] && echo "chat: 3 turns, the cache reused, the replies equal a full re-evaluation and the model's own template's"
exit $fail
