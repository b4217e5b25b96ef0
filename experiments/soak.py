r"""Fault-injection soak of `armodels train`: kills, damaged checkpoints, a second trainer, a full disk.

It trains a small model (MADE tiny on the embedded 8x8 digits, AdamW, clipping, EMA, a checkpoint every
few steps) with one command, and N times at a random moment injects a fault, then relaunches the same
command, which resumes from the newest intact checkpoint. Fault kinds:

* ``kill9``: SIGKILL between two steps.
* ``sigterm``: SIGTERM (a preempted VM): the run saves the current step and exits.
* ``kill9_in_save``: SIGKILL while a checkpoint is being written (an orbax ``*.orbax-checkpoint-tmp*``
  folder is in ``checkpoints/``; if none is seen within two checkpoint periods, right after a step that
  starts a save).
* ``truncate``: SIGKILL, then the newest checkpoint's largest file (its arrays) cut to a random fraction.
* ``delete``: SIGKILL, then the newest checkpoint's folder, or one of its files, deleted.
* ``second_trainer``: the same command started a second time on the same workdir while the first runs.
  With a workdir lock the second exits with status 2 and a line containing "in use" ("refused");
  without one both train ("both ran"): the second is then killed and the first goes on. The outcome is
  reported as observed.
* ``disk_full``: the workdir is on a small tmpfs (mounted by the soak; needs root or CAP_SYS_ADMIN,
  otherwise this kind is skipped and the report says so); a file fills it until the run fails to write,
  then it is removed before the relaunch.

When a fault leaves no intact checkpoint (the only one damaged), the trainer refuses to start over by
itself, by design ("move them away to start the run from scratch"); the soak then does what that message
says, relaunches, and reports it as an intervention.

At the end the run is left to finish, and its final checkpoint (parameters, EMA, optimizer state, RNG)
is compared leaf by leaf with that of an uninterrupted run of the same command (started in parallel).
Resuming is exact by construction (``armodels_jax.training.loop``: batch ``s`` is a function of
``(seed, s)``, the step's randomness ``fold_in(rng, s)``, the checkpoint holds the whole state), so the
expected answer is "bit for bit equal".

Prints: faults injected by kind, resumes, the most steps lost to one fault (steps trained before the
fault minus the step the relaunch resumed from), what the second trainer did, and whether the final state
equals the uninterrupted one bit for bit; ``--json`` adds one JSON object as the last line. Exit status 0
when every fault was survived and the states are equal, 1 otherwise.

Usage::

  nice -n 5 python experiments/soak.py --n 50 --seed 0              # the full soak (tens of minutes)
  python experiments/soak.py --n 3 --kinds kill9_in_save,delete,sigterm --cycle --json   # the test's

Each trainer process pays JAX's start-up (about 7 s of imports here); compiled programs are shared
through a persistent compilation cache in the scratch folder.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

KINDS = ("kill9", "sigterm", "kill9_in_save", "truncate", "delete", "second_trainer", "disk_full")
BASE_CONFIG = ("from armodels_jax import training\n\n\ndef get_config(arg=None):\n"
               "  return training.default_config()\n")
TMP_MARK = ".orbax-checkpoint-tmp"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def overrides(steps: int, checkpoint_every: int) -> list[str]:
  """The run: MADE tiny on the digits (a mask set drawn per step from the step's RNG, so the RNG must
  come back), AdamW with clipping, an EMA, a cosine schedule (the step must come back), a log row per
  step (the soak watches progress through it), a checkpoint every few steps, the last 3 kept."""
  return [f"--config.{o}" for o in (
      "model.name=made", "model.size=tiny", "data.name=digits", "seed=3", "train.batch_size=8",
      f"train.num_steps={steps}", "train.optimizer=adamw", "train.weight_decay=0.01",
      "train.schedule=cosine", "train.warmup_steps=5", "train.learning_rate=0.003",
      "train.grad_clip_norm=1.0", "train.ema_decay=0.9", "train.log_every=1", "train.eval_every=0",
      "train.eval_batch_size=16", "train.eval_max_examples=32", "train.sample_every=0",
      f"train.checkpoint_every={checkpoint_every}", "train.keep_checkpoints=3")]


class Run:
  """One trainer process on a workdir, its output in files."""

  def __init__(self, cmd: list[str], env: dict, log_stem: str):
    self.out_path, self.err_path = log_stem + ".out", log_stem + ".err"
    with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
      self.proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err, cwd=ROOT)

  def alive(self) -> bool:
    return self.proc.poll() is None

  def kill(self, sig=signal.SIGKILL) -> None:
    if self.alive():
      self.proc.send_signal(sig)

  def wait(self, timeout: float) -> int | None:
    try:
      return self.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
      return None

  def last_error_line(self) -> str:
    """The CLI's one-line error (``armodels train: error: ...``), a line saying "in use", or the last
    line of stderr."""
    with open(self.err_path, errors="replace") as f:
      lines = [l.strip() for l in f if l.strip()]
    wanted = [l for l in lines if l.startswith("armodels") and "error:" in l or "in use" in l]
    return (wanted or lines or [""])[-1][:300]

  def traceback_printed(self) -> bool:
    with open(self.err_path, errors="replace") as f:
      return "Traceback (most recent call last)" in f.read()


def read_rows(workdir: str, offset: int = 0) -> tuple[list[dict], int, int]:
  """Train rows of metrics.jsonl from byte `offset`: (rows, new offset, unparsable lines)."""
  path = os.path.join(workdir, "metrics.jsonl")
  if not os.path.exists(path):
    return [], offset, 0
  with open(path, "rb") as f:
    f.seek(offset)
    data = f.read()
  end = data.rfind(b"\n") + 1  # only whole lines
  rows, bad = [], 0
  for line in data[:end].splitlines():
    if not line.strip():
      continue
    try:
      row = json.loads(line)
    except ValueError:
      bad += 1
      continue
    if row.get("split") == "train":
      rows.append(row)
  return rows, offset + end, bad


def newest_step_dir(workdir: str) -> str | None:
  d = os.path.join(workdir, "checkpoints")
  steps = sorted((int(n) for n in os.listdir(d) if n.isdigit()), reverse=True) if os.path.isdir(d) else []
  return os.path.join(d, str(steps[0])) if steps else None


def files_under(root: str) -> list[str]:
  return sorted(os.path.join(a, f) for a, _, fs in os.walk(root) for f in fs)


def saving(workdir: str) -> bool:
  d = os.path.join(workdir, "checkpoints")
  return os.path.isdir(d) and any(TMP_MARK in n for n in os.listdir(d))


def try_mount_tmpfs(path: str, megabytes: int) -> str | None:
  """Mounts a tmpfs at `path`; returns None on success, else why not."""
  os.makedirs(path, exist_ok=True)
  try:
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", path],
                          capture_output=True, text=True, timeout=30, check=False)
  except (OSError, subprocess.TimeoutExpired) as e:
    return f"mount failed: {e}"
  if done.returncode:
    return f"mount failed: {done.stderr.strip()[:200] or done.returncode}"
  return None


def fill_disk(path: str) -> str:
  """Writes `path`/filler until the filesystem is full (unbuffered, so nothing is left to flush);
  returns the filler's path."""
  filler = os.path.join(path, "filler.bin")
  try:
    with open(filler, "wb", buffering=0) as f:
      for size in (1 << 20, 1 << 12, 1):
        try:
          while True:
            f.write(b"\0" * size)
        except OSError:
          pass
  except OSError:  # already full
    pass
  return filler


def load_final_state(workdir: str) -> tuple[int, list]:
  """(step, leaves) of the newest checkpoint's whole state, read without a target (NumPy arrays)."""
  import jax  # pylint: disable=g-import-not-at-top
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top

  d = newest_step_dir(workdir)
  checkpointer = ocp.StandardCheckpointer()
  try:
    state = checkpointer.restore(os.path.join(d, "state"))
  finally:
    checkpointer.close()
  leaves = jax.tree_util.tree_flatten_with_path(state)[0]
  return int(os.path.basename(d)), [(jax.tree_util.keystr(k), np.asarray(v)) for k, v in leaves]


class Soak:
  """The faulty run's state between faults."""

  def __init__(self, args, scratch: str):
    self.args, self.scratch = args, scratch
    self.rng = np.random.default_rng(args.seed)
    config = os.path.join(scratch, "base_config.py")
    with open(config, "w") as f:
      f.write(BASE_CONFIG)
    self.env = dict(os.environ, JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3", TQDM_DISABLE="1",
                    PYTHONPATH=os.pathsep.join([ROOT] + [p for p in [os.environ.get("PYTHONPATH")]
                                                         if p]),
                    JAX_COMPILATION_CACHE_DIR=os.path.join(scratch, "jax_cache"),
                    JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
                    JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
    self.env.pop("XLA_FLAGS", None)
    self.workdir = os.path.join(scratch, "run")
    self.reference_dir = os.path.join(scratch, "reference")
    self.cmd = lambda w: [sys.executable, "-m", "armodels_jax.cli", "train", "--config", config,
                          "--workdir", w] + overrides(args.steps, args.checkpoint_every)
    self.launches = 0
    self.offset = 0
    self.reached = 0  # the newest step the run logged
    self.resumed_from: list[int] = []
    self.faults: list[dict] = []
    self.problems: list[str] = []
    self.bad_lines = 0
    self.notes: list[str] = []
    self.interventions: list[str] = []
    self.started: list[Run] = []  # every trainer process, killed if the soak itself is stopped

  # -- processes ----------------------------------------------------------------------------------

  def launch(self) -> Run:
    self.launches += 1
    run = Run(self.cmd(self.workdir), self.env, os.path.join(self.scratch, f"run_{self.launches:03d}"))
    self.started.append(run)
    return run

  def poll_rows(self) -> list[dict]:
    rows, self.offset, bad = read_rows(self.workdir, self.offset)
    self.bad_lines += bad
    for r in rows:
      self.reached = max(self.reached, int(r["step"]))
    return rows

  def wait_for(self, run: Run, predicate, timeout: float, poll: float = 0.05) -> bool:
    """Polls until predicate() or the run exits or the timeout; returns predicate()'s last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
      if predicate():
        return True
      if not run.alive():
        return bool(predicate())
      time.sleep(poll)
    return False

  def start_after_fault(self, retry: bool = False) -> Run | None:
    """Relaunches the command; waits for its first step and records where it resumed from."""
    self.reached = 0  # steps are counted again from the resume point
    run = self.launch()
    first: list[int] = []

    def started():
      rows = self.poll_rows()
      if rows and not first:
        first.append(int(rows[0]["step"]) - 1)
      return bool(first)

    if not self.wait_for(run, started, self.args.timeout):
      code = run.wait(5)
      if code == 0 and not first:  # finished without a step: it resumed from the last step
        self.resumed_from.append(self.args.steps)
        return run
      message = run.last_error_line()
      if code == 2 and "every checkpoint" in message and not retry:
        # The trainer refuses to start over by itself when no checkpoint is intact; do what its
        # message says (move them away) and relaunch: an operator's intervention, counted.
        aside = os.path.join(self.scratch, f"moved_aside_{self.launches:03d}")
        shutil.move(os.path.join(self.workdir, "checkpoints"), aside)
        self.interventions.append(f"relaunch {self.launches}: {message[:200]}")
        return self.start_after_fault(retry=True)
      self.problems.append(f"relaunch {self.launches} logged no step (exit {code}): {message}")
      run.kill()
      return None
    self.resumed_from.append(first[0])
    return run

  # -- faults -------------------------------------------------------------------------------------

  def target_step(self) -> int:
    start = self.resumed_from[-1] if self.resumed_from else 0
    return int(min(start + self.rng.integers(1, 2 * self.args.checkpoint_every + 1),
                   self.args.steps - 1))

  def inject(self, run: Run, kind: str) -> dict:
    target = self.target_step()
    fault = {"kind": kind, "target_step": target}

    def at_target() -> bool:
      self.poll_rows()
      return self.reached >= target

    if kind == "kill9_in_save":
      every = self.args.checkpoint_every
      seen: list[bool] = []

      def in_flight_or_late() -> bool:
        if at_target() and saving(self.workdir):
          seen.append(True)
          return True
        return self.reached >= target + 2 * every

      self.wait_for(run, in_flight_or_late, self.args.timeout, poll=0.002)
      if not seen:  # no save caught in flight: kill right after a step that starts one
        start = -(-self.reached // every) * every
        self.wait_for(run, lambda: at_target() and self.reached >= start, self.args.timeout,
                      poll=0.002)
      run.kill()
      fault["in_flight_write_seen"] = bool(seen)
    else:
      self.wait_for(run, at_target, self.args.timeout)
      if kind == "kill9":
        run.kill()
      elif kind == "sigterm":
        run.kill(signal.SIGTERM)
        code = run.wait(self.args.timeout)
        fault["exit_status"] = code
        if code != 0:
          self.problems.append(f"SIGTERM: exit status {code}: {run.last_error_line()}")
      elif kind in ("truncate", "delete"):
        run.kill()
        run.wait(self.args.timeout)
        fault.update(self.damage_newest(kind))
      elif kind == "second_trainer":
        fault.update(self.second_trainer(run))
      elif kind == "disk_full":
        fault.update(self.disk_full(run))
    run.wait(self.args.timeout)
    if run.alive():
      run.kill()
      run.wait(30)
    self.poll_rows()
    fault["reached_step"] = self.reached
    return fault

  def damage_newest(self, kind: str) -> dict:
    newest = newest_step_dir(self.workdir)
    if newest is None:
      return {"damage": "no checkpoint yet"}
    files = files_under(newest)
    if kind == "truncate":
      victim = max(files, key=os.path.getsize)
      size = os.path.getsize(victim)
      keep = int(size * self.rng.uniform(0.0, 0.9))
      with open(victim, "r+b") as f:
        f.truncate(keep)
      return {"damage": f"{os.path.relpath(victim, self.workdir)} {size} -> {keep} bytes"}
    if self.rng.random() < 0.5 or not files:
      shutil.rmtree(newest)
      return {"damage": f"deleted {os.path.relpath(newest, self.workdir)}"}
    victim = files[int(self.rng.integers(len(files)))]
    os.remove(victim)
    return {"damage": f"deleted {os.path.relpath(victim, self.workdir)}"}

  def second_trainer(self, first: Run) -> dict:
    """Starts the command again while `first` holds the workdir; reports what the second one did.

    `first` is paused (SIGSTOP) while the second starts up (seconds, against the first's tens of steps a
    second), so that the two overlap however fast the run is, as a not-quite-dead predecessor would;
    it is resumed (SIGCONT) once the second has logged a step or exited, both run for a moment, and
    then both are killed (the fault ends as a kill -9).
    """
    # The first must hold the workdir before it is paused: a relaunch that has not reached its lock yet
    # (still importing, or its step rows not yet distinguishable from the killed run's) would let the
    # second take the lock legitimately, and the outcome would not test the lock.
    lock_path = os.path.join(self.workdir, "lock.json")

    def lock_pid() -> int:
      try:
        with open(lock_path) as f:
          return int(json.load(f).get("pid", -1))
      except (OSError, ValueError, AttributeError):
        return -1

    def first_holds_lock() -> bool:
      return lock_pid() == first.proc.pid

    holds = self.wait_for(first, first_holds_lock, self.args.timeout)
    first.kill(signal.SIGSTOP)
    second = self.launch()
    logged: list[int] = []

    took_lock = []  # Whether the second ever held the workdir's lock (its pid in lock.json).

    def second_started() -> bool:
      logged.extend(int(r["step"]) for r in self.poll_rows())  # rows while the first is paused
      if lock_pid() == second.proc.pid:
        took_lock.append(True)
      return bool(took_lock) or not second.alive()

    self.wait_for(second, second_started, self.args.timeout)
    first.kill(signal.SIGCONT)
    if second.alive():  # both train: let them overlap for a while
      until = self.reached + self.args.checkpoint_every
      self.wait_for(first, lambda: bool(self.poll_rows() or True) and self.reached >= until
                    or not second.alive(), 30)
    if second.alive() and not took_lock:  # still starting up: wait until it takes the lock or exits
      self.wait_for(second, second_started, self.args.timeout)
    code = second.proc.poll()
    line = second.last_error_line() if code is not None else ""
    # A metrics row read while the first was paused may be the first's own last write, so the rows
    # alone do not say the second trained: the second ran beside the first only if it took the lock
    # (its pid in lock.json) or is still running when the first has trained on.
    if code == 2 and "in use" in line:
      result = "refused"
    elif code is None or took_lock:
      result = "both ran"
    else:
      result = f"second exited with status {code}"
    second.kill()
    second.wait(30)
    out = {"second_trainer": result, "second_exit_status": code, "second_message": line,
           "second_first_step": (logged[0] if logged else None), "first_held_lock": holds,
           "second_took_lock": bool(took_lock)}
    first.kill()
    return out

  def disk_full(self, run: Run) -> dict:
    filler = fill_disk(self.workdir)
    code = run.wait(self.args.timeout)
    out = {"exit_status": code, "message": run.last_error_line(),
           "traceback_in_stderr": run.traceback_printed()}
    if code is None:
      out["message"] = "still running with a full disk after the timeout; killed"
      run.kill()
      run.wait(30)
    if os.path.exists(filler):
      os.remove(filler)
    return out

  # -- the whole soak -----------------------------------------------------------------------------

  def run(self) -> dict:
    args = self.args
    kinds = list(args.kinds)
    mounted = False
    if "disk_full" in kinds:
      why = try_mount_tmpfs(self.workdir, args.tmpfs_mb)
      if why:
        kinds.remove("disk_full")
        self.notes.append(f"disk_full skipped: {why}")
      else:
        mounted = True
    if not kinds:
      raise SystemExit("soak: no fault kind left to inject")
    t0 = time.monotonic()
    reference = Run(self.cmd(self.reference_dir), self.env, os.path.join(self.scratch, "reference"))
    try:
      run = self.launch()
      self.resumed_from.append(0)
      for i in range(args.n):
        kind = kinds[i % len(kinds)] if args.cycle else kinds[int(self.rng.integers(len(kinds)))]
        if not run.alive() and run.proc.returncode == 0:
          self.notes.append(f"the run finished before fault {i + 1}; {i} faults injected")
          break
        try:
          fault = self.inject(run, kind)
        except OSError as e:  # the soak's own failure: report it, stop injecting
          self.problems.append(f"fault {i + 1} ({kind}) could not be injected: {e}")
          run.kill()
          run = None
          break
        self.faults.append(fault)
        print(f"fault {i + 1}/{args.n}: {kind} at step {fault['reached_step']}"
              + "".join(f", {k}={v}" for k, v in fault.items()
                        if k not in ("kind", "reached_step", "target_step")), flush=True)
        run = self.start_after_fault()
        if run is None:
          break
        fault["resumed_from"] = self.resumed_from[-1]
        fault["steps_lost"] = max(fault["reached_step"] - self.resumed_from[-1], 0)
      final_code = run.wait(args.timeout) if run is not None else None
      if run is not None and final_code != 0:
        self.problems.append(f"the last relaunch ended with status {final_code}: "
                             f"{run.last_error_line()}")
      ref_code = reference.wait(args.timeout)
      if ref_code != 0:
        self.problems.append(f"the uninterrupted run ended with status {ref_code}: "
                             f"{reference.last_error_line()}")
      equal, detail = self.compare()
    finally:
      for r in [reference] + self.started:
        r.kill(signal.SIGCONT)
        r.kill()
      if mounted:  # the tmpfs goes with its files, --keep or not
        subprocess.run(["umount", self.workdir], check=False, capture_output=True)
    by_kind = {}
    for f in self.faults:
      by_kind[f["kind"]] = by_kind.get(f["kind"], 0) + 1
    lost = [f.get("steps_lost", 0) for f in self.faults]
    worst = max(range(len(lost)), key=lambda i: lost[i]) if lost else None
    second = [f["second_trainer"] for f in self.faults if "second_trainer" in f]
    return {
        "faults": len(self.faults), "by_kind": by_kind, "resumes": len(self.resumed_from) - 1,
        "max_steps_lost": max(lost) if lost else 0,
        "max_steps_lost_kind": self.faults[worst]["kind"] if worst is not None else None,
        "checkpoint_every": args.checkpoint_every, "steps": args.steps,
        "second_trainer": second, "in_flight_writes_caught": sum(
            bool(f.get("in_flight_write_seen")) for f in self.faults),
        "unparsable_metric_lines": self.bad_lines, "interventions": self.interventions, "final_equal": equal, "compare": detail,
        "survived": not self.problems and len(self.faults) == args.n, "problems": self.problems,
        "notes": self.notes, "wall_seconds": round(time.monotonic() - t0, 1),
        "fault_log": self.faults}

  def compare(self) -> tuple[bool, str]:
    try:
      step_a, a = load_final_state(self.workdir)
      step_b, b = load_final_state(self.reference_dir)
    except Exception as e:  # pylint: disable=broad-except  (report, do not crash the soak)
      return False, (f"could not read a final checkpoint: {type(e).__name__}: "
                     f"{(str(e).splitlines() or [''])[0][:200]}")
    if step_a != step_b:
      return False, f"final steps differ: {step_a} vs {step_b}"
    if [k for k, _ in a] != [k for k, _ in b]:
      return False, "the states have different structures"
    differ = [k for (k, x), (_, y) in zip(a, b)
              if x.shape != y.shape or x.dtype != y.dtype or x.tobytes() != y.tobytes()]
    if differ:
      return False, f"{len(differ)} of {len(a)} arrays differ, first {differ[0]}"
    return True, f"step {step_a}: all {len(a)} arrays (params, EMA, optimizer state, RNG) bit-equal"


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--n", type=int, default=50, help="faults to inject")
  p.add_argument("--seed", type=int, default=0, help="seeds the fault kinds, moments and damage")
  p.add_argument("--steps", type=int, default=None,
                 help="training steps (default: enough for N faults, 2 checkpoint periods each)")
  p.add_argument("--checkpoint-every", type=int, default=5)
  p.add_argument("--kinds", default=",".join(KINDS), help=f"comma-separated subset of {KINDS}")
  p.add_argument("--cycle", action="store_true", help="take the kinds in turn instead of at random")
  p.add_argument("--dir", default=None, help="scratch folder (default: a new temporary one)")
  p.add_argument("--keep", action="store_true", help="keep the scratch folder")
  p.add_argument("--timeout", type=float, default=300, help="seconds any one wait may take")
  p.add_argument("--tmpfs-mb", type=int, default=32, help="size of the disk_full tmpfs")
  p.add_argument("--json", action="store_true", help="also print the report as one JSON line")
  args = p.parse_args(argv)
  args.kinds = [k for k in args.kinds.split(",") if k]
  unknown = sorted(set(args.kinds) - set(KINDS))
  if unknown or args.n < 1:
    p.error(f"unknown fault kinds {unknown}; expected some of {KINDS}" if unknown else "--n >= 1")
  if args.steps is None:
    args.steps = 2 * args.checkpoint_every * (args.n + 1) + 10
  def stop(signum, frame):
    del frame
    raise KeyboardInterrupt(f"signal {signum}")

  signal.signal(signal.SIGTERM, stop)  # the trainers are killed and the tmpfs unmounted on the way out
  scratch = args.dir or tempfile.mkdtemp(prefix="armodels_soak_")
  os.makedirs(scratch, exist_ok=True)
  try:
    report = Soak(args, scratch).run()
  finally:
    if not args.keep and args.dir is None:
      shutil.rmtree(scratch, ignore_errors=True)
  kinds = ", ".join(f"{k} {v}" for k, v in sorted(report["by_kind"].items()))
  print(f"faults injected: {report['faults']} ({kinds}); resumes: {report['resumes']}")
  print(f"most steps lost to one fault: {report['max_steps_lost']} ({report['max_steps_lost_kind']}; "
        f"a checkpoint every {report['checkpoint_every']} steps, {report['steps']} steps in all)")
  if report["second_trainer"]:
    print(f"second trainer on the same workdir: {', '.join(report['second_trainer'])}")
  print(f"kills during a checkpoint write caught in flight: {report['in_flight_writes_caught']}")
  if report["unparsable_metric_lines"]:
    print(f"metrics.jsonl: {report['unparsable_metric_lines']} unparsable lines")
  for what in report["interventions"]:
    print(f"intervention (every checkpoint damaged; moved away, restarted from scratch): {what}")
  for note in report["notes"]:
    print(f"note: {note}")
  for problem in report["problems"]:
    print(f"PROBLEM: {problem}")
  print(f"final state equals the uninterrupted run's bit for bit: "
        f"{'yes' if report['final_equal'] else 'NO'} ({report['compare']})")
  print(f"every fault survived: {'yes' if report['survived'] else 'NO'}; "
        f"{report['wall_seconds']} s")
  if args.json:
    print(json.dumps({k: v for k, v in report.items()}))
  return 0 if report["survived"] and report["final_equal"] else 1


if __name__ == "__main__":
  sys.exit(main())
