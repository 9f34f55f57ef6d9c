"""lm-evaluation-harness model `lanner`, running in-process on lanner's batched calls.

    import lanner.integrations.lm_eval            # registers the model name "lanner"
    import lm_eval
    lm_eval.simple_evaluate(model="lanner", model_args="pretrained=/path/model.gguf,threads=8", tasks=[...])

or from the shell (the same as `lm_eval ...`, with the model registered first):

    python -m lanner.integrations.lm_eval --model lanner --model_args pretrained=model.gguf --tasks ...

`loglikelihood` scores all (context, continuation) pairs in one `Engine.score` call (batched, shared
contexts reused through the prefix cache), `loglikelihood_rolling` is `Engine.perplexity` with
lm-eval's windows (each token predicted once, windows of the context length), and
`generate_until` runs all requests through one `Engine.generate` batch.
"""

from __future__ import annotations

from typing import Any

from lm_eval.api.model import LM
from lm_eval.api.registry import register_model

import lanner

__all__ = ["LannerLM"]


def _int(v: Any) -> int | None:
    return None if v is None or v == "" else int(v)


@register_model("lanner")
class LannerLM(LM):
    """An lm-eval model backed by a `lanner.Engine`.

    model_args: `pretrained` (or `model`): a GGUF path or a `lanner.fetch_model` name; `threads`,
    `context_length`, `max_batch_size`, `max_gen_toks` (default 256); or pass `engine=` an Engine.
    """

    def __init__(
        self,
        pretrained: str | None = None,
        model: str | None = None,
        engine: lanner.Engine | None = None,
        threads: int | str | None = None,
        context_length: int | str | None = None,
        max_batch_size: int | str = 64,
        max_gen_toks: int | str = 256,
        batch_size: Any = None,  # lm-eval passes its own; lanner batches everything it is given
        device: Any = None,
        **_: Any,
    ) -> None:
        super().__init__()
        if engine is None:
            src = pretrained or model
            if src is None:
                raise ValueError("lanner: give model_args pretrained=<path to a .gguf file or a known model name>")
            if src in lanner.KNOWN_MODELS:
                src = str(lanner.fetch_model(src))
            engine = lanner.Engine(src, threads=_int(threads), context_length=_int(context_length))
        self.engine = engine
        self.max_batch_size = int(max_batch_size)
        self.max_gen_toks = int(max_gen_toks)

    @property
    def tokenizer_name(self) -> str:
        return str(self.engine.info["path"])

    def loglikelihood(self, requests, disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        items = []
        for ctx, cont in (r.args for r in requests):
            # lm-eval's convention: trailing spaces of the context belong to the continuation
            n = len(ctx) - len(ctx.rstrip(" "))
            if n:
                ctx, cont = ctx[:-n], ctx[-n:] + cont
            items.append((ctx, cont))
        results = self.engine.score(items)
        return [(float(r.total), bool(r.greedy)) for r in results]

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False) -> list[float]:
        out = []
        for (text,) in (r.args for r in requests):
            ids = self.engine.tokenize(text)
            if ids and ids[0] != self.engine.bos_token_id and self.engine.bos_token_id is not None:
                ids = [self.engine.bos_token_id] + ids
            if len(ids) < 2:
                out.append(0.0)
                continue
            out.append(float(self.engine.perplexity(ids).total))
        return out

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        prompts, settings = [], []
        for ctx, kwargs in (r.args for r in requests):
            kwargs = dict(kwargs or {})
            until = kwargs.pop("until", None) or []
            if isinstance(until, str):
                until = [until]
            temperature = float(kwargs.pop("temperature", 0.0) or 0.0)
            if not kwargs.pop("do_sample", False):
                temperature = 0.0
            prompts.append(ctx)
            settings.append(
                dict(
                    max_tokens=int(kwargs.pop("max_gen_toks", self.max_gen_toks)),
                    temperature=temperature,
                    stop=list(until) or None,
                    seed=kwargs.pop("seed", None),
                )
            )
        if not prompts:
            return []
        per = {k: [s[k] for s in settings] for k in settings[0]}
        done = self.engine.generate(prompts, max_batch_size=self.max_batch_size, progress=not disable_tqdm, **per)
        return [c.text for c in done]


def main() -> None:
    from lm_eval.__main__ import cli_evaluate

    cli_evaluate()


if __name__ == "__main__":
    main()
