// The fixed part of an exported PyTorch module: the solver, the corrections and the command line,
// written against the model description the generator puts above it (solver/export/pytorch.ts).
// It mirrors the engine: the discrete solve of engine/integrate.ts (copy numbering of
// schemes/copies.ts), the loss of engine/observe.ts, the densities and corrections of
// engine/corrections.ts and engine/layerAnalysis.ts, and the flow loss of engine/reference.ts
// (RK4 with θ(t) interpolated through the layer times). Python source: no backquotes or
// dollar-brace sequences or backslashes in it, since it lives in a template literal.
export const PYTHON_RUNTIME = `
# ---------------------------------------------------------------------------
# The solver and the corrections (the same in every exported model).
# ---------------------------------------------------------------------------

_F32 = torch.float32
_CONSTANTS = {}


def _k(v):
    """A float32 constant (one tensor per value)."""
    c = _CONSTANTS.get(v)
    if c is None:
        c = _CONSTANTS[v] = torch.tensor(v, dtype=_F32)
    return c


def _f(b):
    """A comparison as 1.0 / 0.0 (its gradient is zero)."""
    return b.to(_F32)


def _conform(v, shape):
    """A value broadcast to the shape of the state it stands for."""
    return v if list(v.shape) == shape else torch.broadcast_to(v, shape)


def _node_copy(m):
    """The parameter copy of node t_m (t_N reuses copy N-1)."""
    return min(m, STEPS - 1)


def _data(name):
    d = DATA[name]
    if "tensor" not in d:
        d["tensor"] = torch.tensor(d["values"], dtype=_F32)
    return d["tensor"]


def _observation_weights(times):
    """Step index n and weight w of each observation time: x(t_k) = (1 - w) x_n + w x_{n+1}."""
    index, weight = [], []
    last = max(1, STEPS) - 1
    for tk in times:
        x = (tk - T0) / H
        n = max(0, min(last, math.floor(x + 1e-9)))
        index.append(n)
        weight.append(min(1.0, max(0.0, x - n)))
    return index, weight


def _trajectory_loss(traj):
    """The model's loss on a discrete trajectory x_0..x_N (states at observation times by linear interpolation)."""
    memo = {}

    def observed(name, si):
        key = (name, si)
        if key not in memo:
            index, weight = _observation_weights(DATA[name]["times"])
            rows = lambda steps: torch.stack([traj[n][si].reshape(-1) for n in steps])
            if len(traj) == 1:
                out = rows([0 for _ in index])
            else:
                a, b = rows(index), rows([n + 1 for n in index])
                out = a + (b - a) * torch.tensor(weight, dtype=_F32).reshape(-1, 1)
            if len(STATES[si][1]) == 0:
                out = out.reshape(-1)
            memo[key] = out
        return memo[key]

    return loss_of(traj[-1], observed)


class _Probe:
    """adjoint121's per-step adjoint: e_n added to f of copy n, so that d loss / d e_n = nu_n."""

    def __init__(self):
        self.e = [torch.zeros([COPIES] + shape, dtype=_F32, requires_grad=True) for _name, shape in STATES]
        self.seen = {}


class ODEModel(nn.Module):
    """The discrete network: one nn.Parameter per model parameter, stacked [copies, ...] for per-step ones."""

    def __init__(self, values=None):
        super().__init__()
        values = values or INITIAL
        self.theta = nn.ParameterDict()
        for name, shape, per_step in PARAMS:
            given = values[name]
            if isinstance(given, dict):
                v = torch.tensor(given["row"], dtype=_F32).repeat(given["repeat"], 1)
            else:
                v = torch.tensor(given, dtype=_F32)
            self.theta[name] = nn.Parameter(v.reshape([COPIES] + shape if per_step else shape))
        self.probes = []
        self._views = None

    def copy(self, n):
        """The parameters of copy n (shared parameters are the same for every copy)."""
        views = self._views or [self.theta[name] if per_step else None for name, _shape, per_step in PARAMS]
        return [v[n] if per_step else self.theta[name] for v, (name, _shape, per_step) in zip(views, PARAMS)]

    def forward(self, x0=None):
        """The discrete loss; x0: a list of initial conditions (each a list of state tensors) gives their mean loss."""
        self.probes = []
        batch = [initial_states()] if x0 is None else list(x0)
        total = None
        for x in batch:
            probe = _Probe() if _needs_probe() else None
            if probe is not None:
                self.probes.append(probe)
            loss = _trajectory_loss(self.solve(x, probe))
            total = loss if total is None else total + loss
        return total / len(batch)

    def solve(self, x0, probe=None):
        """States x_0..x_N of the discrete solve from x0 (a list of state tensors)."""

        def f(x, n, p, t):
            y = rhs(x, p, _k(t))
            if probe is None or n is None:
                return y
            if n not in probe.seen:
                probe.seen[n] = ([xk.detach() for xk in x], t)
            return [yk + probe.e[k][n] for k, yk in enumerate(y)]

        x0 = [_conform(torch.as_tensor(x, dtype=_F32), shape) for x, (_name, shape) in zip(x0, STATES)]
        # The copies as one unbind per solve: indexing each copy would give the backward pass one
        # full-size gradient per copy to add (time and memory quadratic in the number of copies).
        self._views = [self.theta[name].unbind(0) if per_step else None for name, _shape, per_step in PARAMS]
        try:
            if SCHEME["kind"] == "rk":
                return self._solve_rk(x0, f)
            return self._solve_multistep(x0, f)
        finally:
            self._views = None

    def _rk_step(self, tab, x, t, stage_params, f, k0=None):
        a, b, c = tab["a"], tab["b"], tab["c"]
        ks = []
        for i in range(len(b)):
            if i == 0:
                xi = x
            else:
                xi = [_combine(xk, [(ks[j][q], H * a[i][j]) for j in range(min(i, len(a[i]))) if a[i][j] != 0])
                      for q, xk in enumerate(x)]
            if i == 0 and k0 is not None:
                ks.append(k0)
            else:
                n, p = stage_params(i)
                ks.append(f(xi, n, p, t + c[i] * H))
        return [_combine(xk, [(ks[j][q], H * b[j]) for j in range(len(b)) if b[j] != 0]) for q, xk in enumerate(x)]

    def _solve_rk(self, x0, f):
        traj = [x0]
        x = x0
        s = len(SCHEME["b"])
        for n in range(STEPS):
            if SCHEME["tie"] == "stage":
                stage = lambda i, n=n: (n * s + i, self.copy(n * s + i))
            else:
                p = self.copy(n)
                stage = lambda i, n=n, p=p: (n, p)
            x = self._rk_step(SCHEME, x, T0 + n * H, stage, f)
            traj.append(x)
        return traj

    def _solve_multistep(self, x0, f):
        X = [x0]
        if STEPS < 1:
            return X
        F = {}
        time = lambda m: T0 + m * H

        def f_at(m):
            if m not in F:
                n = _node_copy(m)
                F[m] = f(X[m], n, self.copy(n), time(m))
            return F[m]

        def blended(n, c):
            a, b = _node_copy(n), _node_copy(n + 1)
            if c == 0 or a == b:
                return a, self.copy(a)
            if c == 1:
                return b, self.copy(b)
            pa, pb = self.copy(a), self.copy(b)
            return None, [u if not per_step else u * (1 - c) + v * c
                          for u, v, (_name, _shape, per_step) in zip(pa, pb, PARAMS)]

        def lmm_step(lmm, m, f_new=None):
            alpha, beta = lmm["alpha"], lmm["beta"]
            k = len(alpha) - 1
            ak = alpha[k]
            xs, fs = [], []
            for j in range(k):
                if alpha[j] != 0:
                    xs.append((X[m - k + j], -alpha[j] / ak))
                if beta[j] != 0:
                    fs.append((f_at(m - k + j), H * beta[j] / ak))
            if f_new is not None and beta[k] != 0:
                fs.append((f_new, H * beta[k] / ak))
            return [_sum_terms([(v[q], s) for v, s in xs + fs]) for q in range(len(STATES))]

        start = SCHEME["start"]
        s0 = min(SCHEME["start_steps"], STEPS)
        first_at_node = start["c"][0] == 0
        for m in range(1, STEPS + 1):
            ramp = SCHEME["ramp"][m - 2] if 2 <= m < len(SCHEME["ramp"]) + 2 else None
            if m <= s0 and ramp is not None:
                X.append(lmm_step(ramp, m))
            elif m <= s0:
                n = m - 1
                X.append(self._rk_step(start, X[n], time(n), lambda i, n=n: blended(n, start["c"][i]), f,
                                       f_at(n) if first_at_node else None))
            elif SCHEME["predictor"] is not None:
                xp = lmm_step(SCHEME["predictor"], m)
                n = _node_copy(m)
                fp = f(xp, n, self.copy(n), time(m))
                X.append(lmm_step(SCHEME["method"], m, fp))
            else:
                X.append(lmm_step(SCHEME["method"], m))
        return X


def _combine(x, terms):
    """x + sum of c_j v_j."""
    for v, c in terms:
        x = x + v * c
    return x


def _sum_terms(terms):
    """sum of s_j v_j (coefficients of +-1 need no multiply)."""
    acc = None
    for v, s in terms:
        term = v if s == 1 else (-v if s == -1 else v * s)
        acc = term if acc is None else acc + term
    return acc


def _needs_probe():
    per_step = any(per for _name, _shape, per in PARAMS)
    return per_step and (CORRECTION == "adjoint121" or REPORT_CORRECTION == "adjoint121")


# --- corrections (rows are copies; the values of one copy are flattened) ---

def _density_scale():
    """1 / (h w_n) per copy (a copy of weight 0 is scaled by 1/h), as a column."""
    return torch.tensor([1.0 / (H * (w if w != 0 else 1)) for w in WEIGHTS], dtype=_F32).reshape(-1, 1)


def _extrapolate_edges(c, first, last):
    """The first and last rows replaced by linear extrapolation from the two nearest interior rows."""
    N = c.shape[0]
    if N - first - last < 2:
        return c
    c = c.clone()
    a, b = c[first].clone(), c[first + 1].clone()
    for n in range(first):
        c[n] = a + (n - first) * (b - a)
    y, x = c[N - 1 - last].clone(), c[N - 2 - last].clone()
    for n in range(N - last, N):
        c[n] = y + (n - (N - 1 - last)) * (y - x)
    return c


def filter121(d, edges=None):
    """c_n = (d_{n-1} + 2 d_n + d_{n+1}) / 4 inside, linear extrapolation at the ends."""
    first, last = edges or EDGES
    N = d.shape[0]
    if N < 3:
        return d.clone()
    c = d.clone()
    c[1:N - 1] = (d[0:N - 2] + 2 * d[1:N - 1] + d[2:N]) / 4
    if N >= 4:
        c[0] = 2 * c[1] - c[2]
        c[N - 1] = 2 * c[N - 2] - c[N - 3]
    else:
        c[0], c[N - 1] = c[1], c[N - 2]
    if first > 1 or last > 1:
        c = _extrapolate_edges(c, first, last)
    return c


def average(d, edges=None):
    """(d_n + d_{n+1}) / 2 at t_{n+1/2}; the last row extrapolated. Returns the rows and their times."""
    first, last = edges or (EDGES[0] - 1, EDGES[1])
    N = d.shape[0]
    times = list(LAYER_TIMES)
    v = d.clone()
    at = [0.0] * N
    for n in range(N - 1):
        at[n] = (times[n] + times[n + 1]) / 2
    if N >= 1:
        at[N - 1] = times[N - 1] + (times[N - 1] - times[N - 2]) / 2 if N >= 2 else times[0]
    if N >= 2:
        v[0:N - 1] = (d[0:N - 1] + d[1:N]) / 2
    if N >= 3:
        v[N - 1] = 2 * v[N - 2] - v[N - 3]
    elif N == 2:
        v[1] = v[0]
    if first > 0 or last > 1:
        v = _extrapolate_edges(v, first, last)
    return v, at


def _resample(values, frm, to):
    """Rows at ascending times frm, linearly interpolated (extrapolated) at times to."""
    N = len(frm)
    out = []
    for t in to:
        i = 0
        while i < N - 2 and frm[i + 1] <= t:
            i += 1
        w = (t - frm[i]) / (frm[i + 1] - frm[i]) if N > 1 else 0.0
        b = values[i + 1] if N > 1 else values[i]
        out.append((1 - w) * values[i] + w * b)
    return torch.stack(out)


def stagesum(G):
    """Per-stage copies: D_n = sum_i G_{n,i} / h at t_n + h sum b_i c_i, interpolated to every stage time."""
    s = len(SCHEME["b"])
    b, c = SCHEME["b"], SCHEME["c"]
    centre = sum(bi * ci for bi, ci in zip(b, c))
    D = (G.reshape(STEPS, s, -1) / H).sum(1)
    xs = [T0 + H * (n + centre) for n in range(STEPS)]
    rows = []
    for n in range(STEPS):
        for i in range(s):
            t = T0 + H * (n + c[i])
            if STEPS == 1:
                rows.append(D[0])
                continue
            j = max(0, min(STEPS - 2, math.floor((t - xs[0]) / (xs[1] - xs[0]))))
            w = (t - xs[j]) / (xs[j + 1] - xs[j])
            rows.append((1 - w) * D[j] + w * D[j + 1])
    return torch.stack(rows)


def _adjoint121(model, which):
    """Densities of adjoint121: the [1, 2, 1]/4 filter on the per-step adjoint, each layer's own Jacobian."""
    N = COPIES
    if N < 4:
        raise ValueError("adjoint121 needs at least 4 steps")
    scale = _density_scale()
    out = {name: torch.zeros([N, math.prod(shape)], dtype=_F32) for name, shape in which}
    index = {name: i for i, (name, _shape, _per) in enumerate(PARAMS)}
    for probe in model.probes:
        m = torch.cat([e.grad.reshape(N, -1) for e in probe.e], 1) * scale
        for n in range(1, N - 1):
            if n not in probe.seen:
                continue
            cot = (m[n - 1] + 2 * m[n] + m[n + 1]) / 4
            x, t = probe.seen[n]
            p = [v.detach().clone().requires_grad_(True) for v in model.copy(n)]
            y = rhs(x, p, _k(t))
            sizes = [math.prod(shape) for _name, shape in STATES]
            parts = torch.split(cot, sizes)
            total = sum(torch.sum(yk * part.reshape(yk.shape)) for yk, part in zip(y, parts))
            wrt = [p[index[name]] for name, _shape in which]
            grads = torch.autograd.grad(total, wrt, allow_unused=True)
            for (name, _shape), g in zip(which, grads):
                if g is not None:
                    out[name][n] += g.reshape(-1)
    return {name: _extrapolate_edges(v, *EDGES) for name, v in out.items()}


CORRECTIONS = ("filter121", "average", "adjoint121", "stagesum")


def effective_correction(correction):
    """The correction that applies to this model's copies, as odelens check substitutes it."""
    if correction not in CORRECTIONS:
        raise ValueError("unknown correction %r: one of %s" % (correction, ", ".join(CORRECTIONS)))
    per_stage = SCHEME["kind"] == "rk" and SCHEME["tie"] == "stage"
    if per_stage:
        return "stagesum"
    if correction == "stagesum" and SCHEME["kind"] == "lmm":
        return "filter121"
    if correction == "adjoint121" and COPIES < 4:
        return "filter121"
    return correction


def corrected_densities(model, grads, correction):
    """Per per-step parameter: the corrected densities (rows per copy) of AD copy gradients grads."""
    correction = effective_correction(correction)
    scale = _density_scale()
    per_step = [(name, shape) for name, shape, per in PARAMS if per]
    if correction == "adjoint121":
        return _adjoint121(model, per_step)
    out = {}
    for name, _shape in per_step:
        G = grads[name].reshape(COPIES, -1)
        d = G * scale
        if correction == "filter121":
            out[name] = filter121(d)
        elif correction == "average":
            out[name] = average(d)[0]
        elif correction == "stagesum":
            out[name] = stagesum(G) if SCHEME["kind"] == "rk" and SCHEME["tie"] == "stage" else d
        else:
            out[name] = d
    return out


def correct_gradients(model, correction=None):
    """
    Replaces the .grad of every per-step parameter by its corrected gradient: densities d_n = G_n / (h w_n),
    the correction, and back to copy gradients h w_n c_n (average's rows, which sit at t_{n+1/2}, are first
    interpolated back to the layer times). Call it after loss.backward() and before optimiser.step().
    Shared parameters keep their gradient. correction: the model's gradfix by default (none: unchanged).
    """
    correction = correction or CORRECTION
    if correction is None:
        return
    correction = effective_correction(correction)
    grads = {name: model.theta[name].grad for name, _shape, per in PARAMS if per and model.theta[name].grad is not None}
    if correction == "average":
        dens = {}
        for name, G in grads.items():
            v, at = average(G.reshape(COPIES, -1) * _density_scale())
            dens[name] = _resample(v, at, LAYER_TIMES)
    else:
        dens = corrected_densities(model, grads, correction)
    back = torch.tensor([H * w for w in WEIGHTS], dtype=_F32).reshape(-1, 1)
    for name, c in dens.items():
        if name in grads:
            grads[name].copy_((c * back).reshape(grads[name].shape))


def gradients(model=None):
    """Loss, raw and corrected gradients as odelens check --json reports them (densities per copy)."""
    model = model or ODEModel()
    model.zero_grad()
    loss = model()
    if loss.requires_grad:  # else the loss does not depend on any parameter: every gradient is zero
        loss.backward()
    scale = _density_scale()
    grads = {name: model.theta[name].grad if model.theta[name].grad is not None else torch.zeros_like(model.theta[name])
             for name, _shape, _per in PARAMS}
    corrected = corrected_densities(model, grads, REPORT_CORRECTION)
    out = {}
    for name, _shape, per in PARAMS:
        G = grads[name]
        if per:
            out[name] = {"raw": (G.reshape(COPIES, -1) * scale).tolist(), "corrected": corrected[name].tolist()}
        else:
            row = [G.reshape(-1).tolist()]
            out[name] = {"raw": row, "corrected": row}
    return {"loss": loss.item(), "correction": REPORT_CORRECTION, "parameters": out}


# --- what training shows: flow loss and total variation ---

def _interp_weights(tau, t):
    N = len(tau)
    if N == 1:
        return 0, 0, 0.0
    if t <= tau[0]:
        i = 0
    elif t >= tau[N - 1]:
        i = N - 2
    else:
        lo, hi = 0, N - 1
        while hi - lo > 1:
            mid = (lo + hi) >> 1
            if tau[mid] <= t:
                lo = mid
            else:
                hi = mid
        i = lo
    return i, i + 1, (t - tau[i]) / (tau[i + 1] - tau[i])


@torch.no_grad()
def flow_loss(model):
    """The loss of the same parameters interpolated in t through the layer times, solved accurately (classic RK4)."""
    values = {name: model.theta[name].detach().double() for name, _s, _p in PARAMS}

    def theta(t):
        out = []
        for name, _shape, per in PARAMS:
            v = values[name]
            if per:
                a, b, w = _interp_weights(LAYER_TIMES, t)
                v = (1 - w) * v[a] + w * v[b]
            out.append(v.to(_F32))
        return out

    K, Hs = FLOW_STEPS, STEPS * H / FLOW_STEPS
    f = lambda x, t: rhs(x, theta(t), _k(t))
    x = [_conform(v, shape) for v, (_n, shape) in zip(initial_states(), STATES)]
    X, Fs = [x], []
    for k in range(K):
        t = T0 + k * Hs
        k1 = f(x, t)
        k2 = f([a + b * (Hs / 2) for a, b in zip(x, k1)], t + Hs / 2)
        k3 = f([a + b * (Hs / 2) for a, b in zip(x, k2)], t + Hs / 2)
        k4 = f([a + b * Hs for a, b in zip(x, k3)], t + Hs)
        Fs.append(k1)
        x = [a + (b + 2 * c + 2 * d + e) * (Hs / 6) for a, b, c, d, e in zip(x, k1, k2, k3, k4)]
        X.append(x)
    if not DATA:
        return loss_of(X[-1], None).item()
    Fs.append(f(X[-1], T0 + K * Hs))

    def at(tau):
        u = (tau - T0) / Hs
        k = max(0, min(K - 1, math.floor(u + 1e-7)))
        s = u - k
        if abs(s) < 1e-7:
            return X[k]
        if abs(s - 1) < 1e-7:
            return X[k + 1]
        s2, s3 = s * s, s * s * s
        c = [2 * s3 - 3 * s2 + 1, (s3 - 2 * s2 + s) * Hs, -2 * s3 + 3 * s2, (s3 - s2) * Hs]
        return [X[k][i] * c[0] + Fs[k][i] * c[1] + X[k + 1][i] * c[2] + Fs[k + 1][i] * c[3] for i in range(len(STATES))]

    def observed(name, si):
        out = torch.stack([at(tk)[si].reshape(-1) for tk in DATA[name]["times"]])
        return out.reshape(-1) if len(STATES[si][1]) == 0 else out

    return loss_of(X[-1], observed).item()


@torch.no_grad()
def total_variation(model):
    """Sum over per-step parameters of sum_n |theta_{n+1} - theta_n|_1 (layer order)."""
    total = 0.0
    for name, _shape, per in PARAMS:
        if per:
            v = model.theta[name].detach().double().reshape(COPIES, -1)
            total += (v[1:] - v[:-1]).abs().sum().item()
    return total


def save_parameters(model, path):
    """The parameters in the format of odelens train --out (odelens check --params reads it)."""
    params = []
    for name, shape, per in PARAMS:
        v = model.theta[name].detach().reshape(COPIES if per else 1, -1)
        params.append({"name": name, "shape": shape, "perStep": per, "values": v.tolist()})
    with open(path, "w") as out:
        json.dump({"file": SOURCE, "scheme": SCHEME_NAME, "steps": STEPS, "parameters": params}, out)


def train(iterations=200, lr=0.2, correction=None, every=20, log=print):
    """
    An example: plain SGD on the discrete loss with the corrected gradient (correction=False: raw AD).
    Every few iterations it logs the loss, the flow loss and the total variation across layers.
    """
    model = ODEModel()
    optimiser = torch.optim.SGD(model.parameters(), lr=lr)
    for it in range(iterations):
        optimiser.zero_grad()
        loss = model()
        loss.backward()
        if correction is not False:
            correct_gradients(model, correction)
        if log and (it % every == 0):
            log(json.dumps({"iteration": it, "loss": loss.item(), "flowLoss": flow_loss(model),
                            "totalVariation": total_variation(model)}))
        optimiser.step()
    with torch.no_grad():
        final = {"loss": model().item(), "flowLoss": flow_loss(model), "totalVariation": total_variation(model)}
    if log:
        log(json.dumps({"final": final}))
    return model, final


def json_safe(v):
    """NaN and infinities as null, as JSON (and odelens check --json) writes them."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {k: json_safe(x) for k, x in v.items()}
    if isinstance(v, list):
        return [json_safe(x) for x in v]
    return v


def _main(argv):
    import argparse
    parser = argparse.ArgumentParser(description="The discrete network of " + SOURCE + ", exported by ODE Lens.")
    parser.add_argument("--gradients", action="store_true",
                        help="print the loss and the raw and corrected gradients as JSON (as odelens check --json)")
    parser.add_argument("--train", type=int, metavar="K", help="train K iterations of SGD (the train() example)")
    parser.add_argument("--lr", type=float, default=0.2, help="learning rate of --train (default 0.2)")
    parser.add_argument("--raw", action="store_true", help="--train with raw AD gradients (no correction)")
    parser.add_argument("--correction", choices=CORRECTIONS,
                        help="--train with this correction instead of the model's gradfix")
    parser.add_argument("--out", help="write the trained parameters here (odelens train --out format)")
    args = parser.parse_args(argv)
    if args.gradients:
        print(json.dumps(json_safe(gradients())))
    elif args.train:
        model, _final = train(args.train, args.lr, False if args.raw else args.correction)
        if args.out:
            save_parameters(model, args.out)
    else:
        parser.print_help()


if __name__ == "__main__":
    _main(sys.argv[1:])
`;
