"""Pack a tokenised-dataset cache small enough to travel to a GPU machine, and unpack it there.

Tokenising MOSES took 19 minutes per million molecules on 2 CPU cores (session 11); on a GPU
machine it would cost minutes of scarce device time, so the cache built here travels instead.
The cache of 1 M molecules is 138 MB (``np.savez``, uncompressed); packed it is 17 MB:

- SMILES text, tokens (as uint8), molecule lengths (instead of offsets) and row gaps (instead
  of row numbers) are lossless and xz-compressed;
- properties are stored as float16 by default: 11 bits of precision, 0.05 % of the value (on
  MOSES's logP, QED, SA and plogp at most 0.002 off; a property in the hundreds, such as
  molecular weight, up to 0.1). ``--properties-dtype float32`` is lossless but 12 MB instead
  of 6 on MOSES.

    python scripts/pack_cache.py pack ~/.cache/molvae/KEY.npz pack.npz        # here
    python scripts/pack_cache.py unpack pack.npz CACHE_DIR/KEY.npz               # there

The unpacked file has the cache's own name, so ``molvae train`` with the same table, options
and ``MOLVAE_CACHE=CACHE_DIR`` reports ``(from cache)`` and skips clean-up. The table itself must
travel too: the cache key is a hash of its content.
"""

from __future__ import annotations

import argparse
import lzma

import numpy as np

from molvae.files import atomic_write

PARTS = ("smiles", "tokens", "lengths", "gaps", "properties", "meta")


def pack(src: str, dst: str, properties_dtype: str = "float16") -> dict[str, float]:
    """Write the packed form of cache ``src`` to ``dst``; returns each part's size in MB."""
    with np.load(src, allow_pickle=False) as z:
        tokens, offsets, rows, props = z["tokens"], z["offsets"], z["rows"], z["properties"]
        if len(rows) == 0:
            raise ValueError(f"{src} holds no molecules: there is nothing to pack.")
        lengths = np.diff(offsets)
        gaps = np.diff(np.concatenate([[-1], rows]))  # (N,) rows increase: every gap >= 1
        for what, values, low, high in (
            ("token ids", tokens, 0, 255),
            ("molecule lengths", lengths, 0, 65535),
            ("row gaps", gaps, 1, 65535),
        ):
            if values.min() < low or values.max() > high:
                raise ValueError(
                    f"{src}: {what} run from {values.min()} to {values.max()}, outside the "
                    f"packed range {low}-{high}; this cache cannot be packed."
                )
        raw = {
            "smiles": z["smiles"].tobytes(),
            "tokens": tokens.astype(np.uint8).tobytes(),
            "lengths": lengths.astype(np.uint16).tobytes(),
            "gaps": gaps.astype(np.uint16).tobytes(),
            "properties": props.astype(properties_dtype).tobytes(),
            "meta": z["meta"].tobytes(),
        }
        shape = np.array(props.shape)
    packed = {
        k: np.frombuffer(lzma.compress(v, preset=9 | lzma.PRESET_EXTREME), dtype=np.uint8)
        for k, v in raw.items()
    }
    dtype_name = np.array(np.dtype(properties_dtype).str)
    atomic_write(dst, lambda tmp: np.savez(tmp, properties_dtype=dtype_name, shape=shape, **packed))
    return {k: v.nbytes / 1e6 for k, v in packed.items()}


def unpack(src: str, dst: str) -> None:
    """Rebuild, from packed ``src``, the cache file ``dst`` that ``molvae`` reads."""
    with np.load(src, allow_pickle=False) as z:
        raw = {k: lzma.decompress(z[k].tobytes()) for k in PARTS}
        dtype, shape = np.dtype(str(z["properties_dtype"])), tuple(z["shape"])
    lengths = np.frombuffer(raw["lengths"], np.uint16).astype(np.int64)
    gaps = np.frombuffer(raw["gaps"], np.uint16).astype(np.int64)
    arrays = dict(
        smiles=np.frombuffer(raw["smiles"], np.uint8),
        tokens=np.frombuffer(raw["tokens"], np.uint8).astype(np.int16),
        offsets=np.concatenate([[0], np.cumsum(lengths)]),
        properties=np.frombuffer(raw["properties"], dtype).astype(np.float32).reshape(shape),
        rows=np.cumsum(gaps) - 1,
        meta=np.frombuffer(raw["meta"], np.uint8),
    )
    # Atomic, as molvae writes its caches: a half-written file under the cache's name would
    # send the run on the other machine back to tokenising.
    atomic_write(dst, lambda tmp: np.savez(tmp, **arrays))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["pack", "unpack"])
    parser.add_argument("src")
    parser.add_argument("dst")
    parser.add_argument("--properties-dtype", default="float16", choices=["float16", "float32"])
    args = parser.parse_args()
    if args.action == "pack":
        sizes = pack(args.src, args.dst, args.properties_dtype)
        print(", ".join(f"{k} {mb:.1f} MB" for k, mb in sizes.items()))
    else:
        unpack(args.src, args.dst)


if __name__ == "__main__":
    main()
