#!/usr/bin/env python3
"""Print reference token counts from Python `tiktoken` (OpenAI's tokenizer) as JSON.

The output is committed at fixtures/tokens/tiktoken-samples.json and used to
check that the Rust crate `tiktoken-rs` agrees with the official tokenizer.

Output (stdout, JSON, 2-space indent, deterministic):
  tiktoken_version  Python tiktoken version used
  models            {model name: tiktoken.encoding_name_for_model(name)}
  unknown_models    model names tiktoken raised KeyError for
  samples           [{encoding, text, count, tokens}] via Encoding.encode_ordinary
                    (special-token-looking text is encoded as plain text)

Setup
-----
1. Virtualenv:

       python3 -m venv /tmp/tiktoken-venv
       /tmp/tiktoken-venv/bin/pip install tiktoken

2. Vocabulary cache. tiktoken downloads its BPE files from
   openaipublic.blob.core.windows.net and caches each one in $TIKTOKEN_CACHE_DIR
   under sha1(<blob URL>). Without internet access, pre-seed that cache with the
   identical files shipped in the `tiktoken-rs` crate (crates.io):

       mkdir -p /tmp/tk-scratch && cd /tmp/tk-scratch
       cargo init -q --name tkscratch && cargo add tiktoken-rs && cargo fetch
       ASSETS=$(ls -d ~/.cargo/registry/src/*/tiktoken-rs-*/assets | sort -V | tail -1)
       /tmp/tiktoken-venv/bin/python /path/to/scripts/tiktoken-samples.py \
           --seed-cache "$ASSETS" /tmp/tiktoken-cache

   --seed-cache copies <name>.tiktoken to <cache>/sha1(URL) for r50k/p50k/
   cl100k/o200k and exits. tiktoken verifies every cached file against the
   sha256 `expected_hash` in tiktoken_ext/openai_public.py (and would try to
   re-download, i.e. fail offline, on mismatch), so a successful run proves
   the crate's files are the authentic vocabularies.

3. Generate:

       TIKTOKEN_CACHE_DIR=/tmp/tiktoken-cache /tmp/tiktoken-venv/bin/python \
           scripts/tiktoken-samples.py > fixtures/tokens/tiktoken-samples.json
"""

import hashlib
import json
import os
import shutil
import sys

BLOB_BASE = "https://openaipublic.blob.core.windows.net/encodings/"
VOCAB_FILES = ["r50k_base", "p50k_base", "cl100k_base", "o200k_base"]

MODELS = [
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4o-2024-08-06",
    "chatgpt-4o-latest",
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-4.1-nano",
    "gpt-5",
    "gpt-5-mini",
    "o1",
    "o3",
    "o3-mini",
    "o4-mini",
    "gpt-4-turbo",
    "gpt-4",
    "gpt-4-32k",
    "gpt-3.5-turbo",
    "text-embedding-3-small",
    "text-embedding-ada-002",
    "davinci-002",
]

ENCODINGS = ["o200k_base", "cl100k_base"]

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Q: What is the capital of France?\nA: Paris\n\n"
    "Q: What is the capital of Japan?\nA: Tokyo\n\n"
    "Q: What is the capital of Australia?\nA:",
    "def fib(n):\n"
    "    if n < 2:\n"
    "        return n\n"
    "    return fib(n - 1) + fib(n - 2)\n"
    "\n"
    "\n"
    "for i in range(10):\n"
    "\tprint(i, fib(i))  # tab-indented\n",
    '{"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi!"}], '
    '"temperature": 0.7, "stream": true, "stop": null}',
    "Family: \U0001F468\u200D\U0001F469\u200D\U0001F467\u200D\U0001F466 "
    "flags: \U0001F1EB\U0001F1F7\U0001F1EF\U0001F1F5 thumbs: \U0001F44D\U0001F3FD "
    "combining: e\u0301 n\u0303 a\u0308\u0304 precomposed: \u00e9 \u00f1",
    "\u4eca\u5929\u5929\u6c14\u5f88\u597d\uff0c\u6211\u4eec\u53bb\u516c\u56ed\u5427\u3002 "
    "\u6771\u4eac\u306f\u65e5\u672c\u306e\u9996\u90fd\u3067\u3059\u3002"
    "\u30ab\u30bf\u30ab\u30ca\u3068\u3072\u3089\u304c\u306a\u3002",
    "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645\u060c "
    "\u0643\u064a\u0641 \u062d\u0627\u0644\u0643 \u0627\u0644\u064a\u0648\u0645\u061f",
    "a  b   c    d\t\te\t \tf     \n\n\n\n\n   \n\t\n        end   ",
    "1234567890123 3.14159265358979 -0.000001 1e-10 2024-08-06 "
    "$1,234,567.89 99999999999999999999",
    "See https://example.com/path/to/page?query=value&x=1#section and "
    "http://localhost:8080/api/v1/chat/completions or ftp://files.example.org/a_b-c.txt",
    "a" * 200,
    "Text with <|endoftext|> and <|im_start|>user\nhi<|im_end|> "
    "<|fim_prefix|><|endofprompt|> as plain text.",
    "",
    "I'm sure you'll see THEY'VE gone; she'd've said We'RE done, isn't it? "
    "DON'T, can't, I'LL, y'all's",
]


def seed_cache(assets_dir, cache_dir):
    os.makedirs(cache_dir, exist_ok=True)
    for name in VOCAB_FILES:
        url = BLOB_BASE + name + ".tiktoken"
        dest = os.path.join(cache_dir, hashlib.sha1(url.encode()).hexdigest())
        shutil.copyfile(os.path.join(assets_dir, name + ".tiktoken"), dest)
        print(f"{name}.tiktoken -> {dest}", file=sys.stderr)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--seed-cache":
        seed_cache(sys.argv[2], sys.argv[3])
        return
    if len(sys.argv) != 1:
        sys.exit(__doc__)

    import tiktoken

    models = {}
    unknown = []
    for name in MODELS:
        try:
            models[name] = tiktoken.encoding_name_for_model(name)
        except KeyError:
            unknown.append(name)

    samples = []
    for enc_name in ENCODINGS:
        enc = tiktoken.get_encoding(enc_name)
        for text in TEXTS:
            tokens = enc.encode_ordinary(text)
            assert enc.decode(tokens) == text
            samples.append(
                {"encoding": enc_name, "text": text, "count": len(tokens), "tokens": tokens}
            )

    out = {
        "tiktoken_version": tiktoken.__version__,
        "models": models,
        "unknown_models": unknown,
        "samples": samples,
    }
    json.dump(out, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
