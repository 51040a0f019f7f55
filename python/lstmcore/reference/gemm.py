"""Plain GEMM reference: alpha * op(a) @ op(b) + beta * c."""

import numpy as np

from .activations import as_float


def gemm(a, b, c=None, trans_a=False, trans_b=False, alpha=1.0, beta=0.0):
    """Return alpha * op(a) @ op(b) + beta * c, op(m) = m.T if trans else m.

    a: (M, K) (or (K, M) if trans_a); b: (K, N) (or (N, K) if trans_b);
    c: (M, N) or None (treated as zeros). Result (M, N) in the common dtype
    of the inputs. As in BLAS, c is not read when beta == 0 (so NaN/inf in
    c does not propagate).
    """
    a = as_float(a)
    b = as_float(b)
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"gemm expects 2-D operands, got {a.shape} and {b.shape}")
    op_a = a.T if trans_a else a
    op_b = b.T if trans_b else b
    if op_a.shape[1] != op_b.shape[0]:
        raise ValueError(f"gemm inner dimensions differ: {op_a.shape} @ {op_b.shape}")
    arrays = [a, b] if c is None else [a, b, as_float(c)]
    dt = np.result_type(*arrays)
    out = dt.type(alpha) * (op_a.astype(dt, copy=False) @ op_b.astype(dt, copy=False))
    if c is not None and beta != 0:
        c = as_float(c)
        if c.shape != out.shape:
            raise ValueError(f"gemm c has shape {c.shape}, expected {out.shape}")
        out = out + dt.type(beta) * c.astype(dt, copy=False)
    return out
