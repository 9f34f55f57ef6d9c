"""Write the first N transformer blocks of a GGUF model as a smaller GGUF file.

Every metadata key is copied as it is except `<arch>.block_count`, which becomes N; the tensors
of blocks >= N are left out and every other tensor keeps its type and bytes. Used by
bench/make_device_bundle.sh to carry a real (Q4_1/Q8_0) SmolLM2 to the GPU machine in ~40 MB:

    python bench/truncate_gguf.py SmolLM2-135M-Instruct.Q4_1.gguf smollm2-4layers.gguf --blocks 4
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

import gguf


def truncate(src: Path, dst: Path, blocks: int) -> dict:
    reader = gguf.GGUFReader(src)
    arch_field = reader.fields[gguf.Keys.General.ARCHITECTURE]
    arch = arch_field.contents()
    count_key = f"{arch}.block_count"
    if count_key not in reader.fields:
        raise SystemExit(f"{src}: no {count_key} key")
    n_old = int(reader.fields[count_key].contents())
    if not 1 <= blocks <= n_old:
        raise SystemExit(f"{src}: asked for {blocks} blocks, the file has {n_old}")

    block_re = re.compile(r"^blk\.(\d+)\.")

    def keep(name: str) -> bool:
        m = block_re.match(name)
        return m is None or int(m.group(1)) < blocks

    tensors = [t for t in reader.tensors if keep(t.name)]
    tmp = dst.with_name(dst.name + ".tmp")
    writer = gguf.GGUFWriter(tmp, arch=arch, endianess=reader.endianess)
    for field in reader.fields.values():
        # virtual fields and the architecture are written by GGUFWriter itself
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue
        vtype = field.types[0]
        sub_type = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        value = blocks if field.name == count_key else field.contents()
        writer.add_key_value(field.name, value, vtype, sub_type=sub_type)
    for t in tensors:
        writer.add_tensor_info(t.name, t.data.shape, t.data.dtype, t.data.nbytes, t.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for t in tensors:
        writer.write_tensor_data(t.data, tensor_endianess=reader.endianess)
    writer.close()
    os.replace(tmp, dst)

    # check what was written: same types and bytes, block_count = blocks
    check = gguf.GGUFReader(dst)
    assert int(check.fields[count_key].contents()) == blocks
    got = {t.name: t for t in check.tensors}
    assert list(got) == [t.name for t in tensors]
    for t in tensors:
        c = got[t.name]
        assert c.tensor_type == t.tensor_type and bytes(c.data.tobytes()) == bytes(t.data.tobytes()), t.name
    return {"architecture": arch, "blocks": blocks, "of": n_old, "tensors": len(tensors),
            "bytes": dst.stat().st_size}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", type=Path)
    ap.add_argument("dst", type=Path)
    ap.add_argument("--blocks", type=int, default=4)
    a = ap.parse_args()
    a.dst.parent.mkdir(parents=True, exist_ok=True)
    r = truncate(a.src, a.dst, a.blocks)
    print(f"{a.dst}: {r['architecture']}, {r['blocks']} of {r['of']} blocks, {r['tensors']} tensors, "
          f"{r['bytes'] / 2**20:.1f} MiB", file=sys.stderr)


if __name__ == "__main__":
    main()
