#!/usr/bin/env python3
"""Compile every cuda/*.cu to PTX (compute_80) and check that each kernel named in cuda/CONTRACT.md
is exported unmangled (`.visible .entry NAME(`), once per weight type for the `..._TY` kernels.

Each file is compiled twice: as it is (`-I cuda`) and as the Rust side hands it to NVRTC, with
cuda/common.cuh pasted in place of its include line (which must leave no `#include` behind). When
libnvrtc can be loaded, the pasted sources are also compiled through NVRTC itself.

nvcc is `$NVCC`, `nvcc` on the PATH, /usr/local/cuda/bin/nvcc, or the one that `pip install
nvidia-cuda-nvcc` puts under site-packages/nvidia/*/bin. With no nvcc at all this prints
"nvcc not found; skipped" and exits 0. Exit status 1 on any failure.
"""
import glob, os, re, shutil, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
INCLUDE = '#include "common.cuh"'


def find_nvcc():
    cands = [os.environ.get("NVCC"), shutil.which("nvcc"), "/usr/local/cuda/bin/nvcc"]
    try:
        import nvidia  # namespace package of NVIDIA's pip wheels

        for p in nvidia.__path__:
            cands += sorted(glob.glob(os.path.join(p, "*", "bin", "nvcc")))
    except ImportError:
        pass
    for c in cands:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return None


def contract_names():
    text = open(os.path.join(HERE, "CONTRACT.md")).read()
    m = re.search(r"is one of\s*`([^`]+)`", text)
    assert m, "CONTRACT.md: no 'TY ... is one of `...`' list"
    types = m.group(1).split()
    names = set()
    for n in re.findall(r"`([a-z][A-Za-z0-9_]*)\(", text):
        if n.endswith("_TY"):
            names.update(n[:-2] + t for t in types)
        else:
            names.add(n)
    return sorted(names), types


def entries(ptx):
    return re.findall(r"\.visible \.entry (\w+)\(", ptx)


def load_nvrtc():
    import ctypes

    cands = []
    try:
        import nvidia

        for p in nvidia.__path__:
            cands += sorted(glob.glob(os.path.join(p, "*", "lib", "libnvrtc.so*")))
    except ImportError:
        pass
    cands += ["libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12"]
    for c in cands:
        if "builtins" in os.path.basename(c) or ".alt." in os.path.basename(c):
            continue
        try:
            return ctypes.CDLL(c), c
        except OSError:
            pass
    return None, None


def nvrtc_compile(lib, name, src):
    import ctypes

    prog = ctypes.c_void_p()
    if lib.nvrtcCreateProgram(ctypes.byref(prog), src.encode(), (name + ".cu").encode(), 0, None, None) != 0:
        return None, "nvrtcCreateProgram failed"
    opts = (ctypes.c_char_p * 1)(b"--gpu-architecture=compute_80")
    rc = lib.nvrtcCompileProgram(prog, 1, opts)
    n = ctypes.c_size_t()
    lib.nvrtcGetProgramLogSize(prog, ctypes.byref(n))
    log = ctypes.create_string_buffer(n.value)
    lib.nvrtcGetProgramLog(prog, log)
    ptx = None
    if rc == 0:
        lib.nvrtcGetPTXSize(prog, ctypes.byref(n))
        buf = ctypes.create_string_buffer(n.value)
        lib.nvrtcGetPTX(prog, buf)
        ptx = buf.value.decode()
    lib.nvrtcDestroyProgram(ctypes.byref(prog))
    return ptx, log.value.decode().strip()


def main():
    nvcc = find_nvcc()
    if nvcc is None:
        print("nvcc not found; skipped")
        return 0
    names, types = contract_names()
    print(f"check_ptx: {nvcc}; {len(names)} contract kernels ({len(types)} weight types)")
    common = open(os.path.join(HERE, "common.cuh")).read()
    files = sorted(glob.glob(os.path.join(HERE, "*.cu")))
    failures = []
    found = {}  # kernel -> file, from the plain compile
    pasted = {}
    with tempfile.TemporaryDirectory() as td:
        for f in files:
            base = os.path.basename(f)[:-3]
            src = open(f).read()
            if src.count(INCLUDE) != 1:
                failures.append(f"{base}.cu: expected exactly one line {INCLUDE}")
            ps = src.replace(INCLUDE, common)
            if "#include" in ps:
                failures.append(f"{base}.cu: an #include is left after pasting common.cuh")
            pasted[base] = ps
            variants = [("as is", f, ["-I", HERE]), ("pasted", os.path.join(td, base + ".cu"), [])]
            open(variants[1][1], "w").write(ps)
            for label, path, extra in variants:
                out = os.path.join(td, f"{base}.{label.replace(' ', '_')}.ptx")
                r = subprocess.run([nvcc, "-arch=compute_80", "--ptx", "-O3", *extra, "-o", out, path], capture_output=True, text=True)
                msg = (r.stdout + r.stderr).strip()
                if r.returncode != 0:
                    failures.append(f"{base}.cu ({label}): nvcc failed:\n{msg}")
                    continue
                if msg:
                    print(f"  {base}.cu ({label}) nvcc says:\n{msg}")
                ents = entries(open(out).read())
                print(f"  {base}.cu ({label}): {len(ents)} kernels")
                if label == "as is":
                    for e in ents:
                        if e in found:
                            failures.append(f"kernel {e} defined in both {found[e]} and {base}.cu")
                        found[e] = base + ".cu"
    missing = [n for n in names if n not in found]
    for n in missing:
        failures.append(f"contract kernel {n} is not a .visible .entry in any PTX")
    extra = sorted(set(found) - set(names))
    if extra:
        print(f"  (kernels beyond the contract: {', '.join(extra)})")

    lib, where = load_nvrtc()
    if lib is None:
        print("  libnvrtc not found: NVRTC compile not checked")
    else:
        nv = {}
        for base, ps in pasted.items():
            ptx, log = nvrtc_compile(lib, base, ps)
            if ptx is None:
                failures.append(f"{base}.cu: NVRTC failed:\n{log}")
                continue
            if log:
                print(f"  {base}.cu NVRTC says:\n{log}")
            for e in entries(ptx):
                nv[e] = base
        for n in names:
            if n not in nv:
                failures.append(f"contract kernel {n} missing from the NVRTC PTX")
        print(f"  NVRTC ({where}): {len(nv)} kernels")

    if failures:
        print("check_ptx: FAILED")
        for x in failures:
            print("  - " + x)
        return 1
    print(f"check_ptx: all {len(names)} contract kernels present ({len(files)} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
