"""One PyTorch forward+backward of a per-step MLP field, for bench/fusedMlp.ts.

The unrolled solve ODE Lens differentiates: x' = W2 @ tanh(W1 @ x + b1) on [0, 1]
with N steps of leapfrog (an Euler start step) or an explicit Runge-Kutta
tableau, one copy of W1, b1, W2 per step (tied across a step's stages), the loss
0.5 * sum((x(T) - target)^2), and loss.backward(). Prints one JSON line per case:
{"d", "width", "N", "meth", "median_ms", "best_ms", "threads", "torch"}.

  /usr/bin/python3 bench/torchForwardBackward.py [--runs 11] [--threads 1] d,width,N[,meth] ...
"""
import argparse
import json
import statistics
import time

import torch

TABLEAUX = {
    "euler": ([[]], [1.0]),
    "heun": ([[], [1.0]], [0.5, 0.5]),
    "rk4": ([[], [0.5], [0.0, 0.5], [0.0, 0.0, 1.0]], [1 / 6, 1 / 3, 1 / 3, 1 / 6]),
}


def case(d, width, N, meth, runs):
    torch.manual_seed(1)
    h = 1.0 / N
    # One leaf per step and tensor (as an nn.ModuleList of per-step layers holds them).
    w1 = [(torch.randn(width, d) * 0.3).requires_grad_() for _ in range(N)]
    c1 = [torch.zeros(width, 1, requires_grad=True) for _ in range(N)]
    w2 = [(torch.randn(d, width) * 0.3).requires_grad_() for _ in range(N)]
    x0 = torch.tensor([[2.0], [0.0]]) if d == 2 else torch.full((d, 1), 0.5)
    target = torch.tensor([[0.5], [-1.0]]) if d == 2 else torch.full((d, 1), 0.1)

    def once():
        for p in w1 + c1 + w2:
            p.grad = None

        def f(x, n):
            return w2[n] @ torch.tanh(w1[n] @ x + c1[n])

        if meth == "leapfrog":
            prev, x = x0, x0 + h * f(x0, 0)
            for n in range(1, N):
                prev, x = x, prev + 2 * h * f(x, n)
        else:
            a, b = TABLEAUX[meth]
            x = x0
            for n in range(N):
                ks = []
                for i in range(len(b)):
                    xi = x
                    for j, aij in enumerate(a[i]):
                        if aij:
                            xi = xi + (h * aij) * ks[j]
                    ks.append(f(xi, n))
                x = x + sum((h * bi) * k for bi, k in zip(b, ks) if bi)
        loss = 0.5 * torch.sum((x - target) ** 2)
        loss.backward()
        return loss

    for _ in range(3):
        once()
    ms = []
    for _ in range(runs):
        t = time.perf_counter()
        once()
        ms.append((time.perf_counter() - t) * 1000)
    return {"median_ms": statistics.median(ms), "best_ms": min(ms)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=11)
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: PyTorch's default)")
    ap.add_argument("cases", nargs="+", help="d,width,N[,meth]")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    for spec in args.cases:
        parts = spec.split(",")
        d, width, N = (int(v) for v in parts[:3])
        meth = parts[3] if len(parts) > 3 else "leapfrog"
        r = case(d, width, N, meth, args.runs)
        r.update(d=d, width=width, N=N, meth=meth, threads=torch.get_num_threads(), torch=torch.__version__)
        print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
