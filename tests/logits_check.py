"""Comparing logits computed by different paths of the engine (one token at a time vs a prompt at
once, a session alone vs a batch).

Why not a fixed epsilon: on CPU tiers with int8 kernels (avx2 and up for one token, avx512vnni
for several), matrix products round their activations to Q8A (src/quant/q8a.rs: 16-bit precision
per block of 32) unless the engine was made with activations="f32", while the batch-invariant
path (feed_batch, scoring) stays float32. After 30 layers that moves logits by up to 0.0026 x their standard deviation
(SmolLM2-135M; 0.0009 on Qwen2.5-0.5B; measured at the avx2, avx512 and avx512vnni tiers, both
paths against the numpy float32 reference, and a numpy reference that rounds the same way lands as
far off; at the scalar tier, which has no int8 kernels, the paths agree bit for bit). Errors these
comparisons exist to catch are orders of magnitude larger: one earlier context token changed moves
the last logits by 1.0 x std, a position off by one by 5 x std, a fork reading the other session's
KV by 3 x std. So: max |diff| <= DECODE_TOL x std of the expected row, at every row, and the same
arg-max wherever the expected row's top-2 margin exceeds that tolerance.
"""

from __future__ import annotations

import numpy as np

DECODE_TOL = 0.01


def assert_logits_close(got, want, rel: float = DECODE_TOL, what: str = "logits") -> None:
    """Rows (or a single row) of logits agree within `rel` x std of each expected row, and on the
    arg-max where it is not a near-tie."""
    got, want = np.atleast_2d(np.asarray(got)), np.atleast_2d(np.asarray(want))
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    for i, (a, b) in enumerate(zip(got, want)):
        std = float(np.std(b))
        tol = rel * std
        err = float(np.max(np.abs(a - b)))
        assert err <= tol, f"{what}, row {i}: max|diff| {err:.3g} = {err / std:.3g} x std > {rel} x std"
        top2 = np.sort(b)[-2:]
        if top2[1] - top2[0] > tol:
            assert int(np.argmax(a)) == int(np.argmax(b)), f"{what}, row {i}: arg-max differs"
