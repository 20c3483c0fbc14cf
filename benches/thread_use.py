#!/usr/bin/env python3
"""Run a command and report how its threads used the CPU (Linux, /proc).

    benches/thread_use.py [--json] -- COMMAND [ARGS...]

Polls /proc/PID/task/*/schedstat every 50 ms and prints, per thread, the time it ran, the time
it was runnable but waiting for a CPU (other jobs on the machine) and the rest of its lifetime
(sleeping: no work, a lock, I/O). On a shared machine the wall time measures the other jobs;
the per-thread split does not: a worker that never sleeps would have kept a free core busy.
`top -H` is not a substitute: procps shows the whole process's time on the main thread's row.

The last poll before the process exits can miss up to 50 ms per thread.
"""

import json
import os
import resource
import subprocess
import sys
import time

POLL = 0.05


def read_tasks(pid):
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                run_ns, wait_ns, _ = (int(x) for x in f.read().split())
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                start = int(f.read().rsplit(")", 1)[1].split()[19])
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
        out[int(tid)] = (run_ns / 1e9, wait_ns / 1e9, start)
    return out


def main():
    args = sys.argv[1:]
    as_json = False
    if args and args[0] == "--json":
        as_json = True
        args = args[1:]
    if args and args[0] == "--":
        args = args[1:]
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    hz = os.sysconf("SC_CLK_TCK")
    with open("/proc/uptime") as f:
        up0 = float(f.read().split()[0])
    t0 = time.monotonic()
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL)
    seen = {}
    while p.poll() is None:
        with open("/proc/uptime") as f:
            now_up = float(f.read().split()[0])
        for tid, (run, wait, start) in read_tasks(p.pid).items():
            seen[tid] = (run, wait, start / hz, now_up)
        time.sleep(POLL)
    wall = time.monotonic() - t0
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    threads = []
    for tid in sorted(seen):
        run, wait, start, last = seen[tid]
        life = max(last - start, 0.0)
        threads.append(
            {
                "tid": tid,
                "run_s": round(run, 3),
                "runnable_wait_s": round(wait, 3),
                "other_s": round(max(life - run - wait, 0.0), 3),
            }
        )
    res = {
        "rc": p.returncode,
        "wall_s": round(wall, 3),
        "user_s": round(r.ru_utime, 3),
        "sys_s": round(r.ru_stime, 3),
        "threads": threads,
        "start_uptime_s": up0,
    }
    if as_json:
        print(json.dumps(res))
    else:
        print(
            f"rc {p.returncode}  wall {wall:.2f} s  user {r.ru_utime:.2f} s  sys {r.ru_stime:.2f} s"
        )
        for t in threads:
            print(
                f"  thread {t['tid']}: ran {t['run_s']:.2f} s, waited for a CPU "
                f"{t['runnable_wait_s']:.2f} s, otherwise off-CPU {t['other_s']:.2f} s"
            )
    return p.returncode


if __name__ == "__main__":
    sys.exit(main())
