#!/usr/bin/env python3
"""Render the expected outputs of the chat-template tests with Hugging Face
transformers.

For every template tests/fixtures/chat/<model>.jinja and every case of
tests/fixtures/chat/cases.json (a conversation, add_generation_prompt on or
off, extra variables), this writes what transformers' apply_chat_template
renders (transformers.utils.chat_template_utils.render_jinja_template, the
function apply_chat_template calls: the same sandboxed Jinja environment with
trim_blocks, lstrip_blocks, loop controls, raise_exception and its own tojson)
into tests/fixtures/chat/expected/<model>.<case>.txt, or, when the template
raises, the message into <model>.<case>.error.  test_chat_template compares
mlxc's rendering with these byte for byte.

    python3 scripts/make_chat_fixtures.py      # transformers 5.x
"""
import json
import os
import sys

from transformers.utils.chat_template_utils import render_jinja_template

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "chat")


def main():
    with open(os.path.join(ROOT, "cases.json"), encoding="utf-8") as f:
        spec = json.load(f)
    out_dir = os.path.join(ROOT, "expected")
    os.makedirs(out_dir, exist_ok=True)
    for name in os.listdir(out_dir):
        os.remove(os.path.join(out_dir, name))
    for model, tokens in sorted(spec["models"].items()):
        with open(os.path.join(ROOT, model + ".jinja"), encoding="utf-8") as f:
            template = f.read()
        for case in spec["cases"]:
            kwargs = dict(case.get("vars", {}))
            for k, v in tokens.items():
                kwargs[k] = v
            try:
                text = render_jinja_template(conversations=[case["messages"]], chat_template=template,
                                             add_generation_prompt=case["add_generation_prompt"], **kwargs)
                rendered = text[0][0] if isinstance(text, tuple) else text
                if isinstance(rendered, list):
                    rendered = rendered[0]
                path = os.path.join(out_dir, "%s.%s.txt" % (model, case["name"]))
                with open(path, "wb") as f:
                    f.write(rendered.encode("utf-8"))
            except Exception as e:  # the template's raise_exception
                path = os.path.join(out_dir, "%s.%s.error" % (model, case["name"]))
                with open(path, "wb") as f:
                    f.write(str(e).encode("utf-8"))
    print("wrote", len(os.listdir(out_dir)), "files to", out_dir, file=sys.stderr)


if __name__ == "__main__":
    main()
