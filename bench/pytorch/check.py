"""The gradient check of ODE Lens written in PyTorch, for the bench's side-by-side rows (bench/pytorch/side.ts).

The model is the module `odelens export --to pytorch` writes (one definition for both sides): its
discrete network (ODEModel), rhs, initial_states, loss_of and the per-step layout (COPIES, WEIGHTS,
LAYER_TIMES). One check is
  1. AD through the unrolled solve: loss.backward() of the discrete network, per-copy gradients G_n,
     densities d_n = G_n / (h w_n);
  2. the continuous reference: theta(t) interpolated linearly through the layer times (and extrapolated
     past the last one, as ODE Lens and the exported flow_loss do), classic RK4 on
     a grid of 4N steps forward (x at the nodes), the adjoint p' = -(df/dx)^T p backward by RK4 (x at
     step midpoints by cubic Hermite interpolation; f linearised once per node and midpoint), and the
     density g(t_n) = p^T df/dtheta at every layer time;
  3. per per-step parameter, the relative error of the AD densities against the reference (what the
     check judges; ODE Lens's relError).

Run by the bench as a warm process, one JSON command per stdin line, one JSON answer per stdout line:
  {"load": "model.py", "values": {"W1": "W1.f32", ...}}  -> {"torch": version, "threads": n, "loss": ...}
      values: raw float32 files in the engine's layout (copy n at offset n*P) replacing INITIAL
  {"check": true}                                           -> {"checkMs", "adMs", "referenceMs", "loss", "errors": {name: ...}}
Runs on one thread (torch.set_num_threads(1)), as the check worker does.
"""
import importlib.util
import json
import sys
import time

import torch

torch.set_num_threads(1)
F32 = torch.float32


def load(path, values):
    spec = importlib.util.spec_from_file_location("bench_model", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    model = mod.ODEModel()
    with torch.no_grad():
        for name, files in (values or {}).items():
            with open(files, "rb") as f:
                raw = torch.frombuffer(bytearray(f.read()), dtype=F32)
            model.theta[name].copy_(raw.reshape(model.theta[name].shape))
    return mod, model


def ad_densities(mod, model):
    """The discrete loss, and per per-step parameter the AD densities [copies, P]."""
    model.zero_grad(set_to_none=True)
    loss = model()
    loss.backward()
    w = torch.tensor(mod.WEIGHTS, dtype=F32).reshape(-1, 1)
    out = {}
    for name, _shape, per in mod.PARAMS:
        if per:
            out[name] = model.theta[name].grad.reshape(mod.COPIES, -1) / (mod.H * w)
    return loss.item(), out


def interpolated(mod, model, times):
    """theta at each of `times`: per parameter a tensor [len(times), ...] (the copies interpolated linearly, extrapolated at the ends)."""
    tau = torch.tensor(mod.LAYER_TIMES, dtype=torch.float64)
    t = torch.tensor(times, dtype=torch.float64)
    hi = torch.searchsorted(tau, t, right=True).clamp(1, len(tau) - 1)
    lo = hi - 1
    w = ((t - tau[lo]) / (tau[hi] - tau[lo])).to(F32)
    out = []
    for name, _shape, per in mod.PARAMS:
        v = model.theta[name].detach()
        if per:
            ww = w.reshape([-1] + [1] * (v.dim() - 1))
            out.append(v[lo] * (1 - ww) + v[hi] * ww)
        else:
            out.append(v.expand([len(times)] + list(v.shape)))
    return out


def reference_densities(mod, model, factor=4):
    """The continuous adjoint's densities g(t_n) = p^T df/dtheta at the layer times, RK4 on 4N steps."""
    K = factor * mod.STEPS
    Hs = mod.STEPS * mod.H / K
    times = [mod.T0 + j * Hs / 2 for j in range(2 * K + 1)]  # nodes (even j) and step midpoints (odd j)
    theta = interpolated(mod, model, times)
    nstates = len(mod.STATES)

    def at(j):
        return [v[j] for v in theta]

    def f(x, j):
        return mod.rhs(x, at(j), mod._k(times[j]))

    with torch.no_grad():
        x = [mod._conform(v, shape) for v, (_n, shape) in zip(mod.initial_states(), mod.STATES)]
        X, Fs = [x], []
        for k in range(K):
            k1 = f(x, 2 * k)
            k2 = f([a + b * (Hs / 2) for a, b in zip(x, k1)], 2 * k + 1)
            k3 = f([a + b * (Hs / 2) for a, b in zip(x, k2)], 2 * k + 1)
            k4 = f([a + b * Hs for a, b in zip(x, k3)], 2 * k + 2)
            Fs.append(k1)
            x = [a + (b + 2 * c + 2 * d + e) * (Hs / 6) for a, b, c, d, e in zip(x, k1, k2, k3, k4)]
            X.append(x)
        Fs.append(f(X[K], 2 * K))
    xT = [v.clone().requires_grad_(True) for v in X[K]]
    p = list(torch.autograd.grad(mod.loss_of(xT, None), xT, allow_unused=True))
    p = [torch.zeros_like(v) if g is None else g for v, g in zip(xT, p)]

    # Layer times on the grid: node index of each copy (the bench's schemes put them on the h-grid).
    layer_node = {}
    for n, tn in enumerate(mod.LAYER_TIMES):
        j = round((tn - mod.T0) / (Hs / 2))
        if j % 2 or abs(mod.T0 + j * Hs / 2 - tn) > 1e-9 * max(1.0, abs(tn)):
            raise ValueError("layer time %g is not a node of the reference grid" % tn)
        layer_node.setdefault(j, []).append(n)
    per_step = [i for i, (_n, _s, per) in enumerate(mod.PARAMS) if per]
    dens = {mod.PARAMS[i][0]: [None] * mod.COPIES for i in per_step}

    def linearise(j, xs, with_theta):
        xr = [v.detach().requires_grad_(True) for v in xs]
        th = [v.detach().requires_grad_(True) if with_theta and i in per_step else v for i, v in enumerate(at(j))]
        y = mod.rhs(xr, th, mod._k(times[j]))
        return xr, th, y

    def vjp_x(lin, ps, theta_too=False):
        xr, th, y = lin
        wrt = xr + ([th[i] for i in per_step] if theta_too else [])
        g = torch.autograd.grad(y, wrt, grad_outputs=ps, retain_graph=True, allow_unused=True)
        gx = [-(torch.zeros_like(v) if gi is None else gi) for v, gi in zip(xr, g[:nstates])]
        return gx, g[nstates:]

    def record(j, lin, ps):
        if j not in layer_node:
            return
        _gx, gth = vjp_x(lin, ps, True)
        for i, gi in zip(per_step, gth):
            name = mod.PARAMS[i][0]
            for n in layer_node[j]:
                dens[name][n] = torch.zeros_like(lin[1][i]) if gi is None else gi

    def hermite_mid(k):
        return [(a + b) / 2 + (fa - fb) * (Hs / 8) for a, b, fa, fb in zip(X[k], X[k + 1], Fs[k], Fs[k + 1])]

    lin_hi = linearise(2 * K, X[K], 2 * K in layer_node)
    record(2 * K, lin_hi, p)
    for k in range(K - 1, -1, -1):
        lin_mid = linearise(2 * k + 1, hermite_mid(k), 2 * k + 1 in layer_node)
        lin_lo = linearise(2 * k, X[k], 2 * k in layer_node)
        # Backward in time: dp/ds = +(df/dx)^T p with s = T - t, so the stage slopes are -vjp_x.
        k1, _ = vjp_x(lin_hi, p)
        k2, _ = vjp_x(lin_mid, [a - b * (Hs / 2) for a, b in zip(p, k1)])
        k3, _ = vjp_x(lin_mid, [a - b * (Hs / 2) for a, b in zip(p, k2)])
        k4, _ = vjp_x(lin_lo, [a - b * Hs for a, b in zip(p, k3)])
        p = [a - (b + 2 * c + 2 * d + e) * (Hs / 6) for a, b, c, d, e in zip(p, k1, k2, k3, k4)]
        record(2 * k, lin_lo, p)
        lin_hi = lin_lo
    return {name: torch.stack([v.reshape(-1) for v in rows]) for name, rows in dens.items()}


def check(mod, model):
    t0 = time.perf_counter()
    loss, ad = ad_densities(mod, model)
    t1 = time.perf_counter()
    ref = reference_densities(mod, model)
    errors = {}
    for k in ad:
        den = float(torch.sum(ref[k] ** 2))
        errors[k] = (float(torch.sum((ad[k] - ref[k]) ** 2)) / den) ** 0.5 if den > 0 else None
    t2 = time.perf_counter()
    return {
        "checkMs": (t2 - t0) * 1e3,
        "adMs": (t1 - t0) * 1e3,
        "referenceMs": (t2 - t1) * 1e3,
        "loss": loss,
        "errors": errors,
    }


def main():
    mod = model = None
    for line in sys.stdin:
        if not line.strip():
            continue
        cmd = json.loads(line)
        try:
            if "load" in cmd:
                mod, model = load(cmd["load"], cmd.get("values"))
                answer = {"torch": torch.__version__, "threads": torch.get_num_threads()}
            elif "check" in cmd:
                answer = check(mod, model)
            else:
                answer = {"error": "unknown command"}
        except Exception as e:  # the bench prints it and skips the row
            answer = {"error": "%s: %s" % (type(e).__name__, e)}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
