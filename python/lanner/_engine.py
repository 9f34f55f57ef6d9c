"""`lanner.Engine`: the Rust engine plus batched generation, whose loop lives here so that the
progress bar and logits processors (Python callables) sit next to it. Each step is one forward pass
in Rust with the GIL released."""

from __future__ import annotations

from typing import Any, Callable, Iterator, Sequence

from . import _lanner

#: keyword arguments whose plain value is itself a list (per-request lists are lists of lists)
_LIST_VALUED = ("stop", "stop_token_ids")


def _is_single(prompt: Any) -> bool:
    """A single prompt: a str, or a non-empty sequence of ints."""
    if isinstance(prompt, str):
        return True
    try:
        return len(prompt) > 0 and all(isinstance(t, int) for t in prompt)
    except TypeError:
        return False


def _per_request(n: int, sampling: dict[str, Any]) -> list[dict[str, Any]]:
    """Broadcast keyword arguments to one dict per request: a list (or tuple) of n values gives
    each request its own (for `stop`/`stop_token_ids`: a list of n lists or Nones)."""
    out: list[dict[str, Any]] = [{} for _ in range(n)]
    for k, v in sampling.items():
        per = isinstance(v, (list, tuple)) and len(v) == n
        if per and k in _LIST_VALUED:
            per = all(x is None or isinstance(x, (list, tuple)) for x in v)
        if isinstance(v, (list, tuple)) and not per and k not in _LIST_VALUED:
            raise ValueError(f"{k}: a list must hold one value per prompt ({n}), got {len(v)}")
        for i in range(n):
            out[i][k] = v[i] if per else v
    return out


def _progress(total: int, progress: bool | None):
    if progress is False:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc="lanner", unit="req", leave=False)


class Engine(_lanner.Engine):
    __doc__ = _lanner.Engine.__doc__

    def generate(
        self,
        prompts: Any,
        *,
        max_batch_size: int = 64,
        progress: bool | None = None,
        logits_processors: Sequence[Callable[[list[int], Any], Any]] | None = None,
        add_special: bool = True,
        **sampling: Any,
    ) -> Any:
        """Generate from one prompt (returns the text) or from a list of prompts (returns one
        `Completion` per prompt, in order), all running in one continuously refilled batch.

        Sampling arguments are those of `Session.generate` plus `logprobs` (default True),
        `top_logprobs` and `prompt_logprobs`; each may be one value for all or a list with one value per prompt.
        `logits_processors`: callables `fn(token_ids, logits)` that change the float32 logits row
        in place (or return a new one) before each token is sampled. Arguments left out take
        the model's `generation_defaults` (its generation_config.json) where it has them."""
        sampling = {**self.generation_defaults, **sampling}
        if _is_single(prompts) and logits_processors is None and not {"logprobs", "top_logprobs", "prompt_logprobs"} & set(sampling):
            return self._generate_one(prompts, add_special=add_special, **sampling)
        if _is_single(prompts):
            return self.generate([prompts], max_batch_size=max_batch_size, progress=False,
                                 logits_processors=logits_processors, add_special=add_special, **sampling)[0].text
        run = self._start(prompts, max_batch_size, add_special, sampling)
        bar = _progress(run.n_requests, progress)
        procs = list(logits_processors) if logits_processors else None
        try:
            done = 0
            while not run.done:
                run.step(procs)
                if bar is not None and run.n_finished != done:
                    bar.update(run.n_finished - done)
                    done = run.n_finished
        finally:
            if bar is not None:
                bar.close()
        return run.results()

    def chat(self, messages: Sequence[dict[str, Any]], *, chat_template: str | None = None, **sampling: Any) -> str:
        """The assistant's reply to `messages` (a list of {"role": ..., "content": ...} dicts),
        rendered with the model's chat template (or `chat_template`) plus the generation prompt.
        Generation stops at the template's end-of-turn token (and at the model's EOS tokens).
        Keyword arguments are those of `generate`."""
        ids = self.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, chat_template=chat_template)
        stop_ids = list(sampling.pop("stop_token_ids", None) or [])
        stop_ids += [t for t in self.chat_stop_token_ids(chat_template) if t not in stop_ids]
        return self.generate(ids, add_special=False, stop_token_ids=stop_ids, **sampling)

    def stream(
        self,
        prompts: Sequence[Any],
        *,
        max_batch_size: int = 64,
        logits_processors: Sequence[Callable[[list[int], Any], Any]] | None = None,
        add_special: bool = True,
        **sampling: Any,
    ) -> Iterator[tuple[int, _lanner.Chunk]]:
        """Like `generate` for a list of prompts, but yields `(index, Chunk)` as tokens come."""
        sampling = {**self.generation_defaults, **sampling}
        run = self._start(prompts, max_batch_size, add_special, sampling)
        procs = list(logits_processors) if logits_processors else None

        def events() -> Iterator[tuple[int, _lanner.Chunk]]:
            while not run.done:
                yield from run.step(procs)

        return events()

    def _start(self, prompts: Any, max_batch_size: int, add_special: bool, sampling: dict[str, Any]):
        if isinstance(prompts, (str, bytes)) or _is_single(prompts):
            raise TypeError("expected a list of prompts (each a str or a list of token ids)")
        prompts = list(prompts)
        return self._batch(prompts, _per_request(len(prompts), sampling), max_batch_size, add_special)
