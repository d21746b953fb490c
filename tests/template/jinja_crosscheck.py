#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Cross-checks gloam's Jinja subset against the real Jinja2.

Jinja2 is configured the way Hugging Face's apply_chat_template configures
it (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loop
controls, tojson = json.dumps(ensure_ascii=False), raise_exception,
strftime_now pinned to 2023-11-14 22:13:20 UTC).

  jinja_crosscheck.py --tests tests/template/test_jinja.c
      every CHECK_RENDER(template, vars, expected) in the C tests must be what
      Jinja2 renders (with the default Undefined or, where the C test relies
      on it, ChainableUndefined); the HF-only `generation` tag is exempt.
  jinja_crosscheck.py --engine build/.../gloam-engine TEMPLATE...
      renders each template file (or tokenizer_config.json's chat_template)
      with both gloam (`gloam-engine render-chat`)
      and Jinja2 on a fixed chat context and requires identical output
      whenever both succeed (errors may differ: gloam's undefined is
      chainable, and Jinja2's generator-valued filters print as objects).

Exits 77 (CTest: skipped) when the jinja2 module is not installed.
"""
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile

try:
    import jinja2
    from jinja2 import ChainableUndefined
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment
except ImportError:
    print("jinja2 not installed: skipping")
    sys.exit(77)

NOW = 1700000000


def make_env(undefined=None, now=None):
    def raise_exception(msg):
        raise jinja2.exceptions.TemplateError(msg)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent,
                          separators=separators, sort_keys=sort_keys)

    kw = {"undefined": undefined} if undefined else {}
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[loopcontrols], **kw)
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    if now is None:  # pinned, as gloam_chat_limits.now pins it in the C tests
        env.globals["strftime_now"] = lambda f: datetime.datetime.fromtimestamp(
            NOW, datetime.timezone.utc).strftime(f)
    else:  # the CLI uses the local clock, as transformers does
        env.globals["strftime_now"] = lambda f: datetime.datetime.now().strftime(f)
    return env


ENVS = [make_env(), make_env(ChainableUndefined)]
CLOCK_ENV = make_env(now=True)


def c_unescape(lit):
    out, b, i = bytearray(), lit.encode("utf-8"), 0
    simple = {"n": b"\n", "t": b"\t", "r": b"\r", '"': b'"', "'": b"'", "\\": b"\\"}
    while i < len(b):
        if b[i] != 0x5C:
            out.append(b[i])
            i += 1
            continue
        n = chr(b[i + 1])
        if n in simple:
            out += simple[n]
            i += 2
        elif n == "x":
            j = i + 2
            while j < len(b) and chr(b[j]) in "0123456789abcdefABCDEF":
                j += 1
            out.append(int(b[i + 2:j], 16) & 0xFF)
            i = j
        else:
            raise ValueError("escape \\" + n)
    return out.decode("utf-8")


def macro_args(text):
    """The arguments of CHECK_RENDER(...): C string literals (adjacent ones
    joined) or NULL; None when an argument is anything else."""
    args, cur, i = [], None, 0
    while i < len(text):
        c = text[i]
        if c == '"':
            j = i + 1
            while text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            cur = (cur or "") + c_unescape(text[i + 1:j])
            i = j + 1
        elif text.startswith("NULL", i):
            args.append("NULL")
            i += 4
        elif c == ",":
            if cur is not None:
                args.append(cur)
            cur = None
            i += 1
        elif c.isspace():
            i += 1
        else:
            return None
    if cur is not None:
        args.append(cur)
    return args


def check_tests(path):
    src = open(path, encoding="utf-8").read()
    ok = bad = 0
    for m in re.finditer(r"CHECK_RENDER\((.*?)\);\n", src, re.S):
        a = macro_args(m.group(1))
        if not a or len(a) != 3 or "{% generation" in a[0]:
            continue
        tmpl, vars_, want = a
        v = {} if vars_ == "NULL" else json.loads(vars_)
        for k, d in (("messages", []), ("tools", None), ("documents", None),
                     ("add_generation_prompt", False)):
            v.setdefault(k, d)
        got = []
        for env in ENVS:
            try:
                got.append(env.from_string(tmpl).render(**v))
            except Exception as e:  # noqa: BLE001 - any Jinja error is a mismatch
                got.append("error: %r" % e)
        if want in got:
            ok += 1
        else:
            bad += 1
            print("MISMATCH %r\n  expected %r\n  jinja2   %r" % (tmpl, want, got[0]))
    print("%s: %d expectations confirmed by Jinja2 %s, %d mismatches"
          % (path, ok, jinja2.__version__, bad))
    return bad == 0 and ok > 0


CONTEXT = {
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris? \u00e9\U0001F600"},
        {"role": "assistant", "content": "<think>\nhm\n</think>\n\nOk", "tool_calls": [
            {"type": "function", "function": {"name": "get_weather",
                                              "arguments": {"city": "Paris", "n": [1, 2.5, True, None]}}}]},
        {"role": "tool", "content": "{\"temp_c\": 18}"},
        {"role": "user", "content": [{"type": "text", "text": "thanks"}, {"type": "image"}]},
    ],
    "tools": [{"type": "function", "function": {
        "name": "get_weather", "description": "Get the weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                       "required": ["city"]}}}],
    "add_generation_prompt": True,
    "extra": {"enable_thinking": False},
}


def check_engine(engine, templates):
    same = differ = skipped = 0
    with tempfile.TemporaryDirectory() as tmp:
        req = os.path.join(tmp, "request.json")
        with open(req, "w", encoding="utf-8") as f:
            json.dump(CONTEXT, f)
        v = dict(CONTEXT)
        v.update(v.pop("extra"))
        v.update(documents=None, bos_token="<s>", eos_token="</s>")
        for t in templates:
            try:
                src = open(t, encoding="utf-8").read()
                if t.endswith(".json"):  # a tokenizer_config.json: its template
                    src = json.loads(src)["chat_template"]
            except (UnicodeDecodeError, OSError, ValueError, KeyError):
                skipped += 1
                continue
            if "\0" in src:  # not representable in tokenizer_config.json as gloam reads it
                skipped += 1
                continue
            try:
                want = CLOCK_ENV.from_string(src).render(**v)
            except Exception:  # noqa: BLE001 - Jinja2 rejects it: nothing to compare
                skipped += 1
                continue
            if "<generator object" in want:
                skipped += 1
                continue
            with open(os.path.join(tmp, "tokenizer_config.json"), "w", encoding="utf-8") as f:
                json.dump({"chat_template": src, "bos_token": "<s>", "eos_token": "</s>"}, f)
            r = subprocess.run([engine, "render-chat", "--tokenizer", tmp, "--request", req],
                               capture_output=True, timeout=60, check=False)
            if r.returncode != 0:
                differ += 1
                print("GLOAM FAILED %s: %s" % (t, r.stderr.decode(errors="replace").strip()))
            elif r.stdout.decode("utf-8") != want:
                differ += 1
                print("DIFFERS %s\n  jinja2 %r\n  gloam  %r" % (t, want[:300], r.stdout[:300]))
            else:
                same += 1
    print("%d templates render identically, %d differ, %d not comparable"
          % (same, differ, skipped))
    return differ == 0 and same > 0


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "--tests":
        return 0 if check_tests(sys.argv[2]) else 1
    if len(sys.argv) >= 4 and sys.argv[1] == "--engine":
        return 0 if check_engine(sys.argv[2], sys.argv[3:]) else 1
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
