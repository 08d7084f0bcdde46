"""Time integration of :class:`~continuum.NernstPlanckProblem`: implicit Euler with
adaptive steps, recorded boundary fluxes/currents, VTX and CSV output while running."""

from __future__ import annotations

import csv
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from mpi4py import MPI

from .results import ConvergenceError, TransientResult
from .validation import is_number as _is_number

__all__ = ["TimeStepping"]


class TimeStepping:
    """Mixin of :class:`~continuum.NernstPlanckProblem`: :meth:`run`."""

    def run(
        self,
        t_end: float,
        *,
        dt: float | None = None,
        tol: float = 1e-3,
        dt_min: float | None = None,
        dt_max: float | None = None,
        record: Sequence[str] = (),
        output: str | Path | None = None,
        write_every: int = 1,
        progress: bool = True,
    ) -> TransientResult:
        """Integrate in time from the current state to ``t_end`` (s), implicit Euler with
        adaptive steps.

        The local error of a step is estimated from the difference between the implicit
        Euler solution and the linear extrapolation of the last two states,
        e ≈ Δt_n/(Δt_n + Δt_{n−1}) ‖u_{n+1} − u_pred‖_∞, in units of ln c and kT/e; steps
        with e > ``tol`` are rejected and Δt is adapted by 0.9 (tol/e)^{1/2} within [0.2, 2].
        A step whose Newton solve fails is retried with half the step.

        Parameters
        ----------
        t_end : float
            Final time (s).
        dt : float, optional
            First step (s); default t_end/1000.
        tol : float
            Local error tolerance (relative concentration change / kT/e).
        dt_min, dt_max : float, optional
            Step limits (s); defaults t_end·1e-12 and t_end/10.
        record : sequence of str
            Boundaries whose fluxes and current are recorded at each accepted step.
        output : path, optional
            Directory: ``fields.bp`` (VTX, c in mol/m³ and φ in V at accepted steps) and
            ``history.csv`` (time, step, iterations, recorded fluxes; flushed every step,
            so nothing is lost when the run is killed).
        write_every : int
            Write fields every this many accepted steps (the last one is always written).
        progress : bool
            Show a progress bar (rank 0).

        Raises
        ------
        ConvergenceError
            When the step falls below ``dt_min``.
        """
        if not (_is_number(t_end) and t_end > self.time):
            raise ValueError(
                f"t_end must be a number > the current time {self.time} s, got {t_end}"
            )
        if not tol > 0:
            raise ValueError(f"tol must be > 0, got {tol}")
        for b in record:
            self._check_boundary(b)
        t0 = time.perf_counter()
        self._build()
        self._fresh = False  # the state is the initial condition: never replaced
        span = t_end - self.time
        dt = span / 1000 if dt is None else float(dt)
        dt_min = span * 1e-12 if dt_min is None else float(dt_min)
        dt_max = span / 10 if dt_max is None else float(dt_max)
        if not (0 < dt_min <= dt_max):
            raise ValueError("need 0 < dt_min <= dt_max (s)")
        dt = min(max(dt, dt_min), dt_max)
        self._set_load(1.0)
        rank0 = self.comm.rank == 0
        out_dir = None
        writer = None
        csv_file = None
        if output is not None:
            out_dir = Path(output)
            if rank0:
                out_dir.mkdir(parents=True, exist_ok=True)
            self.comm.barrier()
            writer = self._open_vtx(out_dir / "fields.bp")
            writer.write(self.time)
            if rank0:
                csv_file = open(out_dir / "history.csv", "w", newline="")
                header = ["time_s", "dt_s", "newton_iterations"]
                header += [f"flux[{s}@{b}]" for b in record for s in self.names]
                header += [f"current[{b}]" for b in record]
                csv.writer(csv_file).writerow(header)
                csv_file.flush()
        bar = None
        if progress and rank0:
            from tqdm.auto import tqdm

            bar = tqdm(
                total=span,
                unit="s",
                desc="NernstPlanck",
                bar_format="{l_bar}{bar}| t={n:.3g}/{total:.3g} s [{elapsed}<{remaining}]",
            )
        times, steps, iters = [self.time], [], []
        fluxes: dict[tuple[str, str], list[float]] = {
            (s, b): [] for b in record for s in self.names
        }
        currents: dict[str, list[float]] = {b: [] for b in record}
        prev = None  # (state, dt) of the previous accepted step
        rejected = 0
        n_acc = 0
        try:
            while self.time < t_end * (1 - 1e-12):
                dt = min(dt, t_end - self.time)
                u_n = self.w.x.array.copy()
                self._w_old.x.array[:] = u_n
                self._idt.value = self.time_scale / dt
                ok, its, reason = self._newton()
                if not ok:
                    self.w.x.array[:] = u_n
                    rejected += 1
                    dt *= 0.5
                    if dt < dt_min:
                        raise ConvergenceError(
                            f"time step fell below dt_min={dt_min:g} s at t={self.time:g} s "
                            f"({reason})",
                            reason,
                            its,
                        )
                    continue
                factor = 2.0
                if prev is not None:
                    u_prev, dt_prev = prev
                    pred = u_n + dt * (u_n - u_prev) / dt_prev
                    diff = np.max(np.abs(self.w.x.array - pred), initial=0.0)
                    err = self.comm.allreduce(diff, op=MPI.MAX) * dt / (dt + dt_prev)
                    factor = min(2.0, max(0.2, 0.9 * np.sqrt(tol / max(err, 1e-300))))
                    if err > tol and dt > dt_min:
                        self.w.x.array[:] = u_n
                        rejected += 1
                        dt = max(dt * factor, dt_min)
                        continue
                self.time += dt
                n_acc += 1
                prev = (u_n, dt)
                times.append(self.time)
                steps.append(dt)
                iters.append(its)
                row = [self.time, dt, its]
                for b in record:
                    for s in self.names:
                        fluxes[(s, b)].append(self.flux(s, b))
                        row.append(fluxes[(s, b)][-1])
                for b in record:
                    currents[b].append(self.current(b))
                    row.append(currents[b][-1])
                if csv_file is not None:
                    csv.writer(csv_file).writerow([f"{r:.12g}" for r in row])
                    csv_file.flush()
                if writer is not None and (
                    n_acc % write_every == 0 or self.time >= t_end * (1 - 1e-12)
                ):
                    self._update_output()
                    writer.write(self.time)
                if bar is not None:
                    bar.update(dt)
                dt = min(max(dt * factor, dt_min), dt_max)
        finally:
            if bar is not None:
                bar.close()
            if csv_file is not None:
                csv_file.close()
            if writer is not None:
                writer.close()
        self._w_old.x.array[:] = self.w.x.array
        self.converged, self.iterations, self.reason = True, int(np.sum(iters)), "t_end reached"
        return TransientResult(
            True,
            np.array(times),
            np.array(steps),
            np.array(iters, dtype=int),
            rejected,
            {k: np.array(v) for k, v in fluxes.items()},
            {k: np.array(v) for k, v in currents.items()},
            time.perf_counter() - t0,
            self._sanity_warnings(),
        )
